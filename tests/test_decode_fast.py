"""The decoding fast paths agree with the checked paths, valid input or not.

``Event.from_obj`` and ``codec.decode_record`` first try a fast path that
returns nothing unless it proved the input valid; the checked path is the one
source of errors. Here every drawn event, and mutations of it, must give the
same event or the same error either way.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.encoding import codec
from schemalog.encoding import fast_record as record_fast
from schemalog.encoding.fast_event import from_obj_fast
from schemalog.errors import InvalidEvent
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
    SetSortedBy,
    SortKey,
    Tag,
    _from_obj_checked,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from strategies import events, histories, slow_ok

# Values that break one rule or another where they land (and some that are fine).
_ODD = [
    None, True, 0, 1, -1, 2**53, 1.5, "", " x", "x`y", "a.b", "_schemalog_t", "INT64",
    "int64", "STRING", "o@1.0", "o@0.0", "o@1.0/p0", "o@1.0/p1", "sha256-v1:" + "0" * 64,
    [], ["o@1.0"], {}, {"kind": "tag"}, "x\u200by", "e\u0301",
]  # fmt: skip


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if type(obj) is dict:
        for k, v in obj.items():
            out += _paths(v, (*path, k))
    elif type(obj) is list:
        for i, v in enumerate(obj):
            out += _paths(v, (*path, i))
    return out


def _strings(obj: Any) -> list[Any]:
    return [v for v in (_get(obj, p) for p in _paths(obj)) if type(v) in (str, int)]


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def _mutations(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every single change of ``obj``: each value replaced by each odd value, each key
    dropped, an extra key in each object, an extra item in each array."""
    wall, logical, origin = obj["hlc"]["wall_ms"], obj["hlc"]["logical"], obj["origin"]
    near = [  # ids at, just after and just before the event's own clock reading
        f"{origin}@{wall}.{logical}",
        f"{origin}@{wall}.{logical + 1}",
        f"{origin}@{wall + 1}.0",
        f"zz@{wall}.{logical}",
        f"0@{wall}.{logical}",
        f"{origin}@{wall}.{logical}/p0",
        f"{origin}@{wall}.{logical}/p1",
    ]
    pool = _ODD + near + sorted(set(map(str, _strings(obj))))
    out = []
    for path in _paths(obj)[1:]:
        for value in [*pool, _DROP]:
            new = copy.deepcopy(obj)
            parent = _get(new, path[:-1])
            if value is _DROP:
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(value)
            out.append(new)
        target = _get(obj, path)
        if type(target) in (dict, list):
            for value in ["extra", 0, None, *near[:3]]:
                new = copy.deepcopy(obj)
                t = _get(new, path)
                if type(t) is dict:
                    t["extra"] = value
                else:
                    t.append(value)
                out.append(new)
    return out


_DROP = object()


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return "ok", fn(*args)
    except InvalidEvent as exc:
        return type(exc).__name__, exc.field, exc.reason


def _fixed() -> list[Event]:
    """One event of each kind the fast path handles, wherever hypothesis wanders."""
    clock = HybridLogicalClock("o1", lambda: 1_700_000_000_000)
    a = new_event(clock, "ws", [], build_node_table("A", [("id", "INT64")], "id"))
    b = new_event(clock, "ws", [a.id], build_node_table("B", [("id", "STRING")], "id"))
    r = new_event(clock, "ws", [b.id], build_rel_table("R", [(a.id, b.id)]))
    changes = [
        build_add_property(a.id, "n", "INT32", 5),
        SetSortedBy(a.id, (SortKey(a.id + "/p0", "DESC"),)),
        AddConnection(r.id, Connection(b.id, a.id)),
        DropConnection(r.id, Connection(a.id, b.id)),
        RenameProperty(a.id, a.id + "/p0", "key"),
        DropProperty(a.id, a.id + "/p0"),
        RenameTable(a.id, "A2"),
        CommentOnTable(a.id, "a comment"),
        Tag("v1"),
        DropTable(r.id),
    ]
    out = [a, b, r]
    for change in changes:
        out.append(new_event(clock, "ws", [out[-1].id], change))
    return out


def test_fast_from_obj_agrees_on_every_kind() -> None:
    _agrees(_fixed())


@settings(slow_ok, max_examples=8, suppress_health_check=list(HealthCheck))  # long histories
@given(histories(min_events=5, max_events=30, n_origins=2))
def test_fast_from_obj_agrees_with_checked(history: list[Event]) -> None:
    _agrees(history)


def _agrees(history: list[Event]) -> None:
    for event in history:  # a history has events of most kinds
        obj = event.to_obj()
        assert from_obj_fast(copy.deepcopy(obj)) in (None, event)
        for case in _mutations(obj):
            checked = _outcome(_from_obj_checked, Event, copy.deepcopy(case))
            fast = from_obj_fast(copy.deepcopy(case))
            if fast is not None:
                assert checked == ("ok", fast), case
                assert type(fast.change) is type(checked[1].change)
            assert _outcome(Event.from_obj, case) == checked


@slow_ok
@given(events(), st.data())
def test_decode_record_fast_path_agrees(event: Event, data: st.DataObject) -> None:
    """Checksum and prev fields, valid or not, of either record format, whether or not
    prev is the last checksum seen."""
    data_ = codec.event_bytes(event)
    p2, p1 = "sha256-v2:" + "5" * 64, "sha256-v1:" + "5" * 64
    prev = data.draw(st.sampled_from([None, p2, p1, "x", "md5:abc", p2.upper()]))
    good2 = codec.record_checksum(prev, data_)  # cumulative: covers prev
    good1 = codec.checksum(data_)  # format v1: the event alone
    other = "sha256-v2:" + "a" * 64
    sum_ = data.draw(
        st.sampled_from(
            [good2, good1, other, "sha256-v2:" + "A" * 64, "md5:00", good2[:-1], good1[:-1]]
        )
    )
    line = codec._record_bytes(sum_, data_, prev)
    results = []
    for last in (None, good2, good1, other, p2):  # the memo only ever holds a verified checksum
        codec._last_checksum = last
        results.append(codec.decode_record(line, 3))
    assert all(r == results[0] for r in results)
    valid = (sum_ == good2 and prev in (None, p2)) or (sum_ == good1 and prev in (None, p1))
    assert (type(results[0]) is codec.Record) == valid, (sum_, prev, results[0])
    if valid:
        assert type(results[0]) is codec.Record and results[0].event == event


# ---------------------------------------------------------------- the line fast path
#
# record_fast.read proves a whole stored line canonical and valid by its shape.
# It must accept no line the checked path rejects, and give the same record for
# every line both accept. The hard cases are lines that are valid JSON with a
# correct checksum of their own (non-canonical) bytes: the checked path rejects
# them for not being canonical, so the shape must too.

_PREV = codec.CHECKSUM_PREFIX + "5" * 64
_EDITS = [" ", "\\", '"', "0", "-", "1", "x", "\x1f", "", "é", "\u2028", "{", "]", ","]


def _line_events() -> list[Event]:
    """One event of each fast kind, plus defaults of each JSON scalar type."""
    out = _fixed()
    clock = HybridLogicalClock("o2", lambda: 1_700_000_000_000)
    table = out[0].id
    for name, type_, default in [
        ("s", "STRING", "a \u00e9 \u2028 }"),
        ("b", "BOOLEAN", True),
        ("n", "INT64", -(2**53 - 1)),
        ("z", "INT64", 0),
        ("d", "DECIMAL(18, 4)", "1.5"),
    ]:
        out.append(
            new_event(clock, "ws", [out[-1].id], build_add_property(table, name, type_, default))
        )
    out.append(new_event(clock, "ws", [out[-1].id, out[-2].id], Tag("t\u00e9 x")))
    first = HybridLogicalClock("o3", lambda: 1_700_000_000_000)  # hlc.logical 0
    out.append(new_event(first, "ws", [], Tag("v0")))
    rel = build_rel_table(
        "R2",
        [(out[0].id, out[1].id), (out[1].id, out[0].id)],
        [("w", "INT64", 3), ("s", "STRING", "x")],
    )
    out.append(new_event(clock, "ws", [out[-2].id], rel))
    resolutions = (
        Resolution("rename:table:" + table, out[3].id, tuple(sorted((out[4].id, out[5].id)))),
        Resolution("z key", out[6].id, (out[7].id,)),
    )
    out.append(new_event(clock, "ws", [out[-1].id, out[-2].id], Merge(resolutions)))
    return out


def _edited(text: str, i: int) -> list[bytes]:
    """``text`` with its character ``i`` replaced by, or preceded by, each of ``_EDITS``."""
    return [
        (text[:i] + edit + text[i + j :]).encode("utf-8", "surrogatepass")
        for edit in _EDITS
        for j in (0, 1)
    ]


def _decoded_both_ways(line: bytes) -> tuple[Any, Any]:
    checked = codec._decode_checked(line, 7, codec.DEFAULT_MAX_EVENT_BYTES)
    return codec.decode_record(line, 7), checked


def test_line_fast_path_reads_every_fast_kind() -> None:
    """Not vacuous: each fast kind's line is read by its shape, as the checked path reads it."""
    kinds = set()
    for event in _line_events():
        for prev in (None, _PREV):
            data = codec.event_bytes(event)
            line = codec._record_bytes(codec.record_checksum(prev, data), data, prev)
            found = record_fast.read(line.decode())
            if event.kind in record_fast._CHANGES:
                assert found == (codec.record_checksum(prev, data), prev, event), event.kind
                kinds.add(event.kind)
            else:
                assert found is None
            fast, checked = _decoded_both_ways(line)
            assert type(checked) is codec.Record and fast == checked
    assert kinds == set(record_fast._CHANGES)


def test_line_fast_path_never_accepts_what_the_checked_path_rejects() -> None:
    """Every one-character edit of every event's bytes, re-hashed so the checksum holds."""
    read = 0
    for event in _line_events():
        text = codec.event_bytes(event).decode()
        for i in range(len(text)):
            for data in _edited(text, i):
                line = codec._record_bytes(codec.record_checksum(_PREV, data), data, _PREV)
                fast, checked = _decoded_both_ways(line)
                assert fast == checked, (event.kind, i, data)
                read += record_fast.read(line.decode()) is not None
    assert read > 0  # some edits keep the line valid (a name's letter) and go fast


def test_line_fast_path_envelope_edits() -> None:
    """Edits of the envelope (checksum, prev, keys, brackets) under a valid event."""
    for event in _line_events()[:4]:
        data = codec.event_bytes(event)
        for prev in (None, _PREV):
            text = codec._record_bytes(codec.record_checksum(prev, data), data, prev).decode()
            body = text.index('"event":') + 8
            for i in [*range(body + 2), *range(len(text) - 90, len(text))]:
                for edit in _EDITS:
                    line = (text[:i] + edit + text[i + 1 :]).encode()
                    assert _outcome_of(line) == _outcome_of(line, fast=False), (i, edit)


def _outcome_of(line: bytes, fast: bool = True) -> Any:
    if fast:
        return codec.decode_record(line, 7)
    if line.endswith(b"\n"):
        line = line[:-1]
    return codec._decode_checked(line, 7, codec.DEFAULT_MAX_EVENT_BYTES)


@slow_ok
@given(events(), st.data())
def test_line_fast_path_agrees_on_drawn_events(event: Event, data: st.DataObject) -> None:
    """Drawn names (any Unicode the name rules allow) and a drawn one-character edit."""
    text = codec.event_bytes(event).decode()
    i = data.draw(st.integers(0, len(text) - 1))
    edit = data.draw(st.sampled_from(_EDITS) | st.characters())
    for body in (text, text[:i] + edit + text[i + 1 :]):
        raw = body.encode("utf-8", "surrogatepass")
        line = codec._record_bytes(codec.record_checksum(None, raw), raw, None)
        fast, checked = _decoded_both_ways(line)
        assert fast == checked


def test_line_fast_path_agrees_on_field_mutations() -> None:
    """Each field replaced by odd values, dropped, or joined by an extra one (``_mutations``),
    written canonically with a checksum that holds: same result by shape or by parsing."""
    fast_reads = 0
    for event in _line_events():
        for case in _mutations(event.to_obj()):
            try:
                data = codec.canonical_bytes(case)
            except codec.NotCanonical:
                continue  # a float: no canonical line carries it
            line = codec._record_bytes(codec.record_checksum(_PREV, data), data, _PREV)
            fast, checked = _decoded_both_ways(line)
            assert fast == checked, case
            fast_reads += record_fast.read(line.decode()) is not None
    assert fast_reads > 0
