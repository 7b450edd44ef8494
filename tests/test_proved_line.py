"""``prove_line`` (replay's fused path) never proves what ``decode_record`` rejects.

``encoding.proved_line`` proves a record by its line's grammar: one regex per
kind holds the grammars of ids, names, comments and the envelope (a
creation's properties and FROM/TO pairs are then read item by item). Here
every line it proves must be a record that the checked path decodes to the
same facts, on every one-character edit and every field mutation of every
kind's line (tests/test_decode_fast.py's corpus and larger creations), on the
grammars' edges (lengths, prefixes, digits, parents, a creation's properties,
primary key, FROM/TO pairs and multiplicity) and on drawn events; and it must
prove the sound lines of its kinds, or the agreement would hold vacuously.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections import Counter
from typing import Any

from hypothesis import given

from schemalog.encoding import codec
from schemalog.encoding.proved_line import LOGICAL, PROVED_KINDS, prove_line
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Event, build_node_table, build_rel_table, new_event
from strategies import events, slow_ok
from test_decode_fast import _PREV, _edited, _line_events, _mutations


def _creations() -> list[Event]:
    """Larger creations than test_decode_fast's: every scalar default, names that are not
    plain ASCII, a key that is not the first property, three FROM/TO pairs."""
    clock = HybridLogicalClock("o4", lambda: 1_700_000_000_000)
    node = build_node_table(
        "Nöde",
        [
            ("b", "BOOLEAN", False),
            ("名前", "STRING", "x \u00e9"),
            ("key", "SERIAL"),
            ("n", "INT64", -7),
            ("d", "DECIMAL(18, 4)", "2.5"),
            ("l", "INT64[]"),
            ("a b", "UUID"),
        ],
        "key",
    )
    a = new_event(clock, "ws", ["o1@1700000000000.0"], node)
    b = new_event(clock, "ws", [a.id], build_node_table("表", [("id", "STRING")], "id"))
    pairs = [(a.id, b.id), (b.id, a.id), (b.id, b.id)]
    rel = build_rel_table("R3", pairs, [("w", "DOUBLE", "1.5"), ("é", "DATE")], "ONE_MANY")
    return [a, b, new_event(clock, "ws", [b.id], rel)]


def _corpus() -> list[Event]:
    return [*_line_events(), *_creations()]


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
    for event in _corpus():
        for prev in (None, _PREV):
            line = _line(event.to_obj(), prev)
            if _agrees(line):
                kinds.add(event.kind)
            else:
                assert event.kind not in PROVED_KINDS, event
    assert kinds == PROVED_KINDS


def test_every_one_character_edit() -> None:
    proved: Counter[str] = Counter()
    for event in _corpus():
        if event.kind not in PROVED_KINDS:
            continue
        text = codec.event_bytes(event).decode()
        for i in range(len(text)):
            for data in _edited(text, i):
                line = codec._record_bytes(codec.record_checksum(_PREV, data), data, _PREV)
                proved[event.kind] += _agrees(line)
    assert all(proved[kind] > 0 for kind in PROVED_KINDS), proved  # edits that stay sound


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
    proved: Counter[str] = Counter()
    for event in _corpus():
        if event.kind not in PROVED_KINDS:
            continue
        for case in _mutations(event.to_obj()):
            try:
                line = _line(case)
            except codec.NotCanonical:
                continue
            proved[event.kind] += _agrees(line)
    assert all(proved[kind] > 0 for kind in PROVED_KINDS), proved


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


_SELF = _tag("x")["id"]  # the envelope's id: a creation's table id
_A, _B = "o1@1700000000000.0", "o1@1700000000000.1"


def _node(
    props: list[Any], pk: int | str = 0, name: str = "N", table_id: str = _SELF
) -> dict[str, Any]:
    """A create_node_table in ``_tag``'s envelope; ``props`` as (name, type[, default])."""
    properties = [
        {
            "default": p[2] if len(p) > 2 else None,
            "name": p[0],
            "property_id": f"{_SELF}/p{i}",
            "type": p[1],
        }
        for i, p in enumerate(props)
    ]
    change = {
        "kind": "create_node_table",
        "name": name,
        "primary_key": pk if type(pk) is str else f"{_SELF}/p{pk}",
        "properties": properties,
        "table_id": table_id,
    }
    return _with(_tag("x"), ("change",), change)


def _rel(
    pairs: list[tuple[str, str]],
    props: tuple[Any, ...] = (),
    multiplicity: str = "MANY_MANY",
    name: str = "R",
) -> dict[str, Any]:
    """A create_rel_table in ``_tag``'s envelope (pairs in the order given)."""
    obj = _node(list(props), name=name)
    change = obj["change"]
    del change["primary_key"]
    change["kind"] = "create_rel_table"
    change["connections"] = [{"from_table_id": f, "to_table_id": t} for f, t in pairs]
    change["multiplicity"] = multiplicity
    return obj


def _with_property_id(obj: dict[str, Any], i: int, property_id: str) -> dict[str, Any]:
    return _with(obj, ("change", "properties", i, "property_id"), property_id)


_PK = [("id", "INT64")]
_MANY = sorted((f"a@{i}.0", "b@1.0") for i in range(1, 1026))  # 1,025 FROM/TO pairs
_EDGES += [
    # a node table's primary key: one of its properties, of a type a key can have
    (_node(_PK), True),
    (_node([*_PK, ("x", "STRING")], pk=1), True),
    (_node(_PK, pk=1), False),  # not a property
    (_node(_PK, pk="o1@1700000000000.2/p0"), False),  # another event's property
    (_node(_PK, pk=_SELF), False),  # the table's id
    (_node([]), False),  # no property at all
    (_node([("id", "SERIAL")]), True),
    (_node([("id", "DATE")]), True),
    (_node([("id", "UUID")]), True),
    (_node([("id", "BOOLEAN")]), False),
    (_node([("id", "INTERVAL")]), False),
    (_node([("id", "INT64[]")]), False),
    (_node([("id", "INT64[3]")]), False),
    (_node([("id", "STRUCT(a INT64)")]), False),
    (_node([("id", "MAP(STRING, INT64)")]), False),
    (_node([("id", "UNION(a INT64, b STRING)")]), False),
    # property names: unique by catalog key (ASCII letters folded only), the names rule
    (_node([*_PK, ("a", "STRING"), ("A", "STRING")]), False),
    (_node([*_PK, ("ID", "STRING")]), False),
    (_node([*_PK, ("ä", "STRING"), ("Ä", "STRING")]), True),
    (_node([*_PK, ("_ID", "STRING"), ("_label", "INT64")]), True),  # decodes; apply refuses
    (_node([*_PK, ("_schemalog_x", "STRING")]), False),
    (_node([*_PK, ("a.b", "STRING")]), True),  # a property name may hold a dot
    (_node([*_PK, ("x ", "STRING")]), False),
    (_node([*_PK, ("x`", "STRING")]), False),
    (_node([*_PK, ("e\u0301", "STRING")]), False),
    (_node([*_PK, ("a" * 128, "STRING")]), True),
    (_node([*_PK, ("a" * 129, "STRING")]), False),
    (_node([*_PK, ("", "STRING")]), False),
    # the table's name and id
    (_node(_PK, name="a.b"), False),
    (_node(_PK, name="表"), True),
    (_node(_PK, name="表.x"), False),
    (_node(_PK, name="_Schemalog"), False),
    (_node(_PK, name="a" * 128), True),
    (_node(_PK, name="a" * 129), False),
    (_node(_PK, table_id="o1@1700000000000.2"), False),
    # property ids are the event's /p0, /p1, ... in order
    (_with_property_id(_node([*_PK, ("x", "STRING")]), 1, f"{_SELF}/p2"), False),
    (_with_property_id(_node([*_PK, ("x", "STRING")]), 1, f"{_SELF}/p01"), False),
    (_with_property_id(_node([*_PK, ("x", "STRING")]), 1, "o1@1700000000000.2/p1"), False),
    # types and defaults
    (_node([*_PK, ("x", "int64")]), False),  # not canonical
    (_node([*_PK, ("x", "INT65")]), False),
    (_node([("id", "INT64", 5)]), True),
    (_node([*_PK, ("x", "INT64", "5")]), False),
    (_node([*_PK, ("x", "INT64", 2**53 - 1)]), True),
    (_node([*_PK, ("x", "INT8", 128)]), False),
    (_node([*_PK, ("x", "BOOLEAN", True)]), True),
    (_node([*_PK, ("x", "BOOLEAN", 1)]), False),
    (_node([*_PK, ("x", "STRING", "a\u2028}")]), True),
    (_node([*_PK, ("x", "DATE", "2024-02-30")]), False),
    # a rel table's FROM/TO pairs: at least one, sorted, each once, ids (of any table)
    (_rel([(_A, _B)]), True),
    (_rel([]), False),
    (_rel([(_B, _A), (_A, _B)]), False),  # not sorted
    (_rel([(_A, _B), (_A, _B)]), False),  # repeated
    (_rel([(_A, _A), (_A, _B), (_B, _A)]), True),
    (_rel([(_A, _SELF)]), True),  # itself, or tables unknown: it decodes, apply refuses
    (_rel([(_A, "o1@1000000000000000.0")]), False),  # valid: 16 digits, the staged path's
    (_rel([(_A, _A + "/p0")]), False),
    (_rel([(_A, "-o@1.0")]), False),
    (_rel(_MANY[:1024]), True),
    (_rel(_MANY), False),  # more than MAX_CONNECTIONS
    # multiplicities, names and properties
    (_rel([(_A, _B)], multiplicity="MANY_ONE"), True),
    (_rel([(_A, _B)], multiplicity="ONE_MANY"), True),
    (_rel([(_A, _B)], multiplicity="ONE_ONE"), True),
    (_rel([(_A, _B)], multiplicity="MANY"), False),
    (_rel([(_A, _B)], multiplicity="many_many"), False),
    (_rel([(_A, _B)], multiplicity=""), False),
    (_rel([(_A, _B)], name="r.s"), False),
    (_rel([(_A, _B)], (("x", "SERIAL"), ("_ID", "INT64"))), True),  # decodes; apply decides
    (_rel([(_A, _B)], (("x", "INT64"), ("X", "STRING"))), False),
    (_rel([(_A, _B)], (("x", "INT64", "a"),)), False),
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
