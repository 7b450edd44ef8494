"""Golden vectors: frozen events with their canonical bytes, checksums and records.

pkg/schemalog/data/golden_events.ndjson was generated once by
``python tests/test_golden.py --write`` and cross-checked against ``rfc8785``;
it is frozen. Each line holds one event object, its canonical bytes (hex), its
checksum, the stored record (hex, linked to the line before) and the state
hash after applying every event so far. The same file is checked byte for byte
under Pyodide in Chromium (pyodide-tests).
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import Any

import rfc8785

from schemalog.encoding.codec import (
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
        lines.append(
            {
                "canonical_hex": data.hex(),
                "checksum": checksum(data),
                "description": description,
                "event": event.to_obj(),
                "prev": prev,
                "record_hex": record.hex(),
                "state_hash_after": state_hash(state),
            }
        )
        prev = checksum(data)
    return lines


def read_golden() -> list[dict[str, Any]]:
    text = resources.files("schemalog").joinpath("data", GOLDEN).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_golden_vectors_byte_for_byte() -> None:
    vectors = read_golden()
    assert len(vectors) >= 12
    kinds = {v["event"]["change"]["kind"] for v in vectors}
    assert len(kinds) == 12
    state = empty_state()
    prev = None
    for position, v in enumerate(vectors):
        event = Event.from_obj(v["event"])
        canonical = bytes.fromhex(v["canonical_hex"])
        assert event_bytes(event) == canonical == rfc8785.dumps(v["event"])
        assert checksum(canonical) == v["checksum"]
        assert v["prev"] == prev
        record = bytes.fromhex(v["record_hex"])
        assert encode_record(event, prev) == record
        decoded = decode_record_or_raise(record, position)
        assert decoded.event == event and decoded.checksum == v["checksum"]
        result = apply(state, event)
        assert isinstance(result, Applied)
        state = result.state
        assert state_hash(state) == v["state_hash_after"]
        prev = v["checksum"]


def test_builders_still_produce_the_frozen_vectors() -> None:
    assert golden_lines() == read_golden()


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    target = resources.files("schemalog").joinpath("data", GOLDEN)
    with open(str(target), "w", encoding="utf-8", newline="\n") as f:
        for line in golden_lines():
            f.write(json.dumps(line, ensure_ascii=True, sort_keys=True) + "\n")
    print(f"wrote {target}")
