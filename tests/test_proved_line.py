"""``prove_line`` (replay's fused path) never proves what ``decode_record`` rejects.

``encoding.proved_line`` proves a flat record by its line's grammar: one regex
per kind holds the grammars of ids, names, comments and the envelope. Here
every line it proves must be a record that the checked path decodes to the
same facts, on every one-character edit and every field mutation of every
kind's line (tests/test_decode_fast.py's corpus), on the grammars' edges
(lengths, prefixes, digits, parents) and on drawn events; and it must prove
the sound lines of its kinds, or the agreement would hold vacuously.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Any

from hypothesis import given

from schemalog.encoding import codec
from schemalog.encoding.proved_line import LOGICAL, PROVED_KINDS, prove_line
from schemalog.model.events import Event
from strategies import events, slow_ok
from test_decode_fast import _PREV, _edited, _line_events, _mutations


def _facts(record: codec.Record) -> tuple[Any, ...]:
    """What ``prove_line`` must return for ``record``, from the checked decode."""
    event = record.event
    change = event.change
    fields = (
        ()
        if event.kind == "merge"
        else tuple(getattr(change, f.name) for f in dataclasses.fields(change))
    )
    clock = event.hlc.wall_ms * LOGICAL + event.hlc.logical
    prev = record.prev
    return (
        event.kind,
        fields,
        event.id,
        event.origin,
        clock,
        list(event.parents),
        record.checksum,
        prev,
    )


def _line(obj: dict[str, Any], prev: str | None = _PREV) -> bytes:
    data = codec.canonical_bytes(obj)
    return codec._record_bytes(codec.record_checksum(prev, data), data, prev)


def _agrees(line: bytes) -> bool:
    """Whether ``prove_line`` proved ``line`` (asserting it agrees with the checked path)."""
    proved = prove_line(line)
    if proved is None:
        return False
    checked = codec._decode_checked(line, 7, codec.DEFAULT_MAX_EVENT_BYTES)
    assert type(checked) is codec.Record, (line, checked)
    assert proved == _facts(checked), line
    return True


def test_proves_every_kind_it_reads() -> None:
    kinds = set()
    for event in _line_events():
        for prev in (None, _PREV):
            line = _line(event.to_obj(), prev)
            if _agrees(line):
                kinds.add(event.kind)
            else:
                assert event.kind not in PROVED_KINDS, event
    assert kinds == PROVED_KINDS


def test_every_one_character_edit() -> None:
    proved = 0
    for event in _line_events():
        if event.kind not in PROVED_KINDS:
            continue
        text = codec.event_bytes(event).decode()
        for i in range(len(text)):
            for data in _edited(text, i):
                line = codec._record_bytes(codec.record_checksum(_PREV, data), data, _PREV)
                proved += _agrees(line)
    assert proved > 0


def _v2_line(data: bytes, prev: str) -> tuple[str, bytes]:
    """A v2 record of ``data`` after ``prev``, whatever characters prev holds."""
    link = prev.encode("utf-8", "surrogatepass")
    sum_ = (
        codec.CHECKSUM_PREFIX
        + hashlib.sha256(link + b"\n" + hashlib.sha256(data).digest()).hexdigest()
    )
    return sum_, b'{"checksum":"%s","event":%s,"prev":"%s"}' % (sum_.encode(), data, link)


def test_every_edit_of_checksum_and_prev() -> None:
    """The checksum and prev are matched as any 64 characters (proved_line's doc):
    the checksum must then equal the digest, and prev be 64 hex digits, either the
    checksum proved last (checked then) or checked on its own. Each edited line
    is re-hashed, so only the digits' grammar can reject it."""
    proved = 0
    events = [e for e in _line_events() if e.kind in PROVED_KINDS][:4]
    for event in events:
        data = codec.event_bytes(event)
        first = _line(event.to_obj())
        assert _agrees(first)  # the checksum proved last: the next prev's cache
        before = codec.decode_record(first, 0)
        assert type(before) is codec.Record
        for prev in (before.checksum, _PREV):
            for i in range(len(prev)):
                for edit in (
                    prev[:i] + prev[i + 1 :],
                    *(piece.decode("utf-8", "surrogatepass") for piece in _edited(prev, i)),
                ):
                    assert _agrees(first)
                    sum_, line = _v2_line(data, edit)
                    proved += _agrees(line)
                    # and the checksum itself edited (a digit, or the prefix)
                    wrong = sum_[:i] + ("0" if sum_[i : i + 1] != "0" else "1") + sum_[i + 1 :]
                    assert not _agrees(line.replace(sum_.encode(), wrong.encode(), 1))
    assert proved > 0


def test_every_field_mutation() -> None:
    proved = 0
    for event in _line_events():
        if event.kind not in PROVED_KINDS:
            continue
        for case in _mutations(event.to_obj()):
            try:
                line = _line(case)
            except codec.NotCanonical:
                continue
            proved += _agrees(line)
    assert proved > 0


def _tag(name: str) -> dict[str, Any]:
    return {
        "change": {"kind": "tag", "name": name},
        "format": 1,
        "hlc": {"logical": 3, "wall_ms": 1_700_000_000_000},
        "id": "o1@1700000000000.3",
        "origin": "o1",
        "parents": ["o1@1700000000000.2"],
        "workspace": "ws",
    }


def _with(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    new = copy.deepcopy(obj)
    target = new
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return new


_TABLE = "o1@1700000000000.0"


def _renamed_table(name: str) -> dict[str, Any]:
    return _with(
        _tag("x"), ("change",), {"kind": "rename_table", "new_name": name, "table_id": _TABLE}
    )


def _comment(text: str) -> dict[str, Any]:
    change = {"comment": text, "kind": "comment_on_table", "table_id": _TABLE}
    return _with(_tag("x"), ("change",), change)


def _stamped(wall: int, logical: int, origin: str = "o1", parents: Any = None) -> dict[str, Any]:
    obj = _tag("x")
    obj["hlc"] = {"logical": logical, "wall_ms": wall}
    obj["id"] = f"{origin}@{wall}.{logical}"
    obj["origin"] = origin
    obj["parents"] = [] if parents is None else parents
    return obj


# (record, proved?) on the grammars' edges: each right at a limit of a rule
_EDGES: list[tuple[dict[str, Any], bool]] = [
    (_tag("a" * 128), True),
    (_tag("a" * 129), False),
    (_tag("a" + " " * 126 + "b"), True),
    (_tag(" a"), False),
    (_tag("a "), False),
    (_tag("x`y"), False),
    (_tag("_schemalog"), False),
    (_tag("_SchemaLOG_t"), False),
    (_tag("_schemalo"), True),
    (_tag("schemalog_t"), True),
    (_tag("a.b"), True),
    (_tag("~!#$%&'()*+,-./:;<=>?@[]^_{|}"), True),
    (_tag("名前"), True),  # not plain: proved by validate_name
    (_tag("e\u0301"), False),  # not NFC
    (_tag("x\u200by"), False),  # a format character
    (_tag("\u00e9" * 128), True),
    (_tag("\u00e9" * 129), False),
    (_renamed_table("a.b"), False),
    (_renamed_table("ab."), False),
    (_renamed_table("a b"), True),
    (_renamed_table("表.x"), False),
    (_comment("x" * 4096), True),
    (_comment("x" * 4097), False),
    (_comment("é\u2028 `_schemalog"), True),
    (_comment(""), True),
    (_stamped(999_999_999_999_999, 0), True),
    (_stamped(1_000_000_000_000_000, 0), False),  # valid: 16 digits, left to the staged path
    (_stamped(2**53 - 1, 2**53 - 1), False),
    (_stamped(1, 0), True),
    (_stamped(1, 999_999_999_999_999), True),
    (_stamped(5, 1, "o-._9", ["o-._9@5.0"]), True),
    (_stamped(5, 1, "-o"), False),
    (_stamped(5, 1, "o" * 64, ["o" * 64 + "@5.0"]), True),
    (_stamped(5, 1, "o" * 65), False),
    (_with(_stamped(5, 1), ("id",), "o2@5.1"), False),
    (_with(_stamped(5, 1), ("id",), "o1@5.01"), False),
    (_with(_stamped(5, 1), ("workspace",), "-ws"), False),
    (_with(_stamped(5, 1), ("workspace",), "w" * 64), True),
    (_stamped(5, 1, parents=["o1@5.0"]), True),
    (_stamped(5, 1, parents=["o1@5.1"]), False),  # itself
    (_stamped(5, 1, parents=["o1@5.2"]), False),  # later
    (_stamped(5, 1, parents=["o0@5.1"]), True),  # same clock, smaller origin
    (_stamped(5, 1, parents=["o2@5.1"]), False),
    (_stamped(5, 1, parents=["o1@4.9", "o1@5.0"]), True),
    (_stamped(5, 1, parents=["o1@5.0", "o1@4.9"]), False),  # not sorted
    (_stamped(5, 1, parents=["o1@5.0", "o1@5.0"]), False),  # repeated
    (_stamped(5, 1, parents=["o1@05.0"]), False),
    (_stamped(5, 1, parents=["o1@5.0/p0"]), False),
    (_stamped(9, 0, parents=sorted(f"o1@{i}.0" for i in range(1, 9)) * 32), False),
    (_stamped(10**6, 0, parents=sorted(f"o1@{i}.0" for i in range(1, 257))), True),
    (_stamped(10**6, 0, parents=sorted(f"o1@{i}.0" for i in range(1, 258))), False),
]


def test_the_grammars_edges() -> None:
    for obj, expected in _EDGES:
        line = _line(obj)
        assert _agrees(line) is expected, obj
        checked = codec._decode_checked(line, 7, codec.DEFAULT_MAX_EVENT_BYTES)
        if expected:
            assert type(checked) is codec.Record


def test_a_merge_needs_two_parents_and_its_resolutions_proved() -> None:
    merge = next(e for e in _line_events() if e.kind == "merge").to_obj()
    assert _agrees(_line(merge))
    assert not _agrees(_line(_with(merge, ("parents",), merge["parents"][:1])))
    bad = copy.deepcopy(merge)
    bad["change"]["resolutions"][0]["losers"] = []
    assert not _agrees(_line(bad))


@slow_ok
@given(events())
def test_drawn_events(event: Event) -> None:
    for prev in (None, _PREV):
        line = _line(event.to_obj(), prev)
        proved = _agrees(line)
        if event.kind in ("drop_table", "drop_property", "add_connection", "drop_connection"):
            assert proved or event.hlc.wall_ms >= 10**15 or event.hlc.logical >= 10**15
