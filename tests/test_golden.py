"""Golden vectors: frozen events with their canonical bytes, checksums and records.

pkg/schemalog/data/golden_events.ndjson (record format v2) was generated once by
``python tests/test_golden.py --write`` and cross-checked against ``rfc8785``
and an independent computation of the v2 checksum (hashlib, spelled out
below); it is frozen. Each line holds one event object, its canonical bytes
(hex), the event's content hash (``event_hash``, sha256-v1), the record
checksum (``checksum``, sha256-v2: cumulative over ``prev``), the stored record
(hex, linked to the line before) and the state hash after applying every
event so far. golden_events_v1.ndjson holds the same events as format v1
records (the checksum was the event's content hash): still read, never
written. Both files are checked byte for byte under Pyodide in Chromium
(pyodide-tests).
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import resources
from typing import Any

import rfc8785

from schemalog.encoding.codec import (
    ChainVerifier,
    checksum,
    decode_record_or_raise,
    encode_record,
    event_bytes,
    state_hash,
)
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    CommentOnTable,
    Connection,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
    RenameProperty,
    RenameTable,
    Resolution,
    Tag,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.schema import Applied, apply, empty_state

GOLDEN = "golden_events.ndjson"
GOLDEN_V1 = "golden_events_v1.ndjson"


def v2_checksum(prev: str | None, data: bytes) -> str:
    """The v2 record checksum spelled out (the spec in codec's docstring), not codec's code."""
    prefix = b"" if prev is None else prev.encode("ascii")
    inner = hashlib.sha256(data).digest()
    return "sha256-v2:" + hashlib.sha256(prefix + b"\n" + inner).hexdigest()


def build_golden_events() -> list[tuple[str, Event]]:
    """Deterministic events covering every kind and hostile-but-valid names."""
    walls = {"tab-1": [1_767_225_600_000], "laptop.2": [1_767_225_600_500]}

    def clock(origin: str) -> HybridLogicalClock:
        def now() -> int:
            walls[origin][0] += 7
            return walls[origin][0]

        return HybridLogicalClock(origin, now)

    a, b = clock("tab-1"), clock("laptop.2")
    out: list[tuple[str, Event]] = []
    head: list[str] = []

    def add(description: str, c: HybridLogicalClock, change: Any, parents: Any = None) -> Event:
        event = new_event(c, "demo-ws", head if parents is None else parents, change)
        out.append((description, event))
        head[:] = [event.id]
        return event

    person = add(
        "node table with hostile names and typed defaults",
        a,
        build_node_table(
            "Per'son",
            [
                ("id", "INT64"),
                ("name; DROP TABLE x", "STRING", 'it\'s "quoted"'),
                ("MATCH", "BOOL", True),
                ("名前", "STRING", "太郎"),
                ("😀", "DECIMAL(10,2)", "12.50"),
                ("born", "DATE", "2000-02-29"),
                ("score", "DOUBLE", "-1.5e3"),
                ("tags", "STRING[]"),
                ("addr", "STRUCT(street STRING, zip INT32)"),
            ],
            "id",
        ),
    )
    city = add(
        "second node table, reserved word name", a, build_node_table("table", [("k", "UUID")], "k")
    )
    rel = add(
        "rel table, several FROM/TO pairs, property, multiplicity",
        a,
        build_rel_table(
            "LIVES_IN",
            [(person.id, city.id), (person.id, person.id)],
            [("since", "TIMESTAMP", "2024-01-01 00:00:00")],
            "MANY_ONE",
        ),
    )
    added = add(
        "add property with int default", a, build_add_property(person.id, "age", "INT8", -7)
    )
    add(
        "rename property to emoji and CJK",
        a,
        RenameProperty(person.id, added.id + "/p0", "年齢 🎂"),
    )
    add("rename node table (cascades to rel)", a, RenameTable(person.id, 'Mensch "A"'))
    add("add connection", a, AddConnection(rel.id, Connection(city.id, city.id)))
    add("drop connection", a, DropConnection(rel.id, Connection(person.id, person.id)))
    add(
        "comment with newline, U+2028, control, emoji",
        a,
        CommentOnTable(city.id, "line1\nline2\u2028\x01 ✓ 😀 \\ /"),
    )
    add("drop property", a, DropProperty(person.id, person.id + "/p7"))
    add("tag", a, Tag("v1.0 ✓"))
    fork = head[0]
    remote = add("concurrent event from another origin", b, Tag("laptop"), parents=[fork])
    local = add("concurrent local comment", a, CommentOnTable(rel.id, ""), parents=[fork])
    add(
        "merge of two heads with a resolution",
        a,
        Merge((Resolution("tag:laptop", remote.id, (local.id,)),)),
        parents=[remote.id, local.id],
    )
    add("drop rel table", a, DropTable(rel.id))
    add("drop node table", a, DropTable(city.id))
    return out


def golden_lines() -> list[dict[str, Any]]:
    lines = []
    prev = None
    state = empty_state()
    for description, event in build_golden_events():
        data = event_bytes(event)
        assert data == rfc8785.dumps(event.to_obj())  # cross-check at generation time
        result = apply(state, event)
        assert isinstance(result, Applied), result
        state = result.state
        record = encode_record(event, prev)
        sum_ = v2_checksum(prev, data)
        assert record.startswith(b'{"checksum":"' + sum_.encode() + b'"')
        lines.append(
            {
                "canonical_hex": data.hex(),
                "checksum": sum_,
                "description": description,
                "event": event.to_obj(),
                "event_hash": checksum(data),
                "prev": prev,
                "record_hex": record.hex(),
                "state_hash_after": state_hash(state),
            }
        )
        prev = sum_
    return lines


def read_golden(name: str = GOLDEN) -> list[dict[str, Any]]:
    text = resources.files("schemalog").joinpath("data", name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_golden_vectors_byte_for_byte() -> None:
    vectors = read_golden()
    assert len(vectors) >= 12
    kinds = {v["event"]["change"]["kind"] for v in vectors}
    assert len(kinds) == 12
    state = empty_state()
    prev = None
    chain = ChainVerifier()
    for position, v in enumerate(vectors):
        event = Event.from_obj(v["event"])
        canonical = bytes.fromhex(v["canonical_hex"])
        assert event_bytes(event) == canonical == rfc8785.dumps(v["event"])
        assert checksum(canonical) == v["event_hash"]
        assert v2_checksum(prev, canonical) == v["checksum"]
        assert v["prev"] == prev
        record = bytes.fromhex(v["record_hex"])
        assert encode_record(event, prev) == record
        decoded = decode_record_or_raise(record, position)
        assert decoded.event == event and decoded.checksum == v["checksum"]
        assert chain.feed(decoded) is None
        result = apply(state, event)
        assert isinstance(result, Applied)
        state = result.state
        assert state_hash(state) == v["state_hash_after"]
        prev = v["checksum"]


def test_v1_vectors_still_read() -> None:
    """Format v1 records (checksum = the event's content hash) decode and chain as before."""
    v1 = read_golden(GOLDEN_V1)
    v2 = read_golden()
    assert [v["event"] for v in v1] == [v["event"] for v in v2]
    chain = ChainVerifier()
    for position, v in enumerate(v1):
        record = bytes.fromhex(v["record_hex"])
        decoded = decode_record_or_raise(record, position)
        assert decoded.checksum == v["checksum"] == checksum(bytes.fromhex(v["canonical_hex"]))
        assert decoded.checksum.startswith("sha256-v1:")
        assert chain.feed(decoded) is None
        assert v["state_hash_after"] == v2[position]["state_hash_after"]


def test_builders_still_produce_the_frozen_vectors() -> None:
    assert golden_lines() == read_golden()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    target = resources.files("schemalog").joinpath("data", GOLDEN)
    with open(str(target), "w", encoding="utf-8", newline="\n") as f:
        for line in golden_lines():
            f.write(json.dumps(line, ensure_ascii=True, sort_keys=True) + "\n")
    print(f"wrote {target}")
