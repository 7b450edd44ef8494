"""A record's facts proved by its line's grammar, for replay's fused path.

``record_fast`` matches a line against its kind's canonical shape with every
value a plain JSON string, then proves each value with the validators the
dataclasses use. For the nine flat kinds, merges and table creations (every
kind but SORTED BY) the line patterns here carry the values' grammars too, so
one regex match proves most of a record in C:

* ids (table ids, FROM/TO ids, parents) are ``origin@wall.logical`` with an
  origin token and at most 15 digits per number (below 2**53, so every
  such id parses to a valid timestamp), property ids are ``<id>/pN``;
* the event's id is its origin, wall and logical clock by back-reference,
  and origin and workspace are tokens;
* a name is printable ASCII without backtick, 1..128 characters, no space
  at either end and not starting with ``_schemalog`` in any case (table
  names also without ``.``): the names rule (``model.names``) for ASCII. Any
  other name is matched by a second group and goes to ``validate_name``;
* a comment is at most 4,096 code points of a JSON string that needs no
  escape (no control character, and UTF-8 has no lone surrogate);
* a creation's arrays: its properties' shape (names as above) and its FROM/TO
  ids, and a multiplicity is one of ``MULTIPLICITIES``.

What stays in Python: the checksum, the type and default of a new property
(cached and rare), each parent earlier than the event (a small cache of
recent clocks), the parents sorted and unique, and a merge's resolutions; for
a creation, its table id and property ids being the event's (``/p0``,
``/p1``... in order), its property names unique by catalog key, its FROM/TO
pairs (at least one, sorted, each once) and a node table's primary key (the
``CreateNodeTable`` dataclass checks it: node tables are rare).

``prove_line(line)`` returns the record's facts or None, never an error: a
16-digit clock, an escaped string, a rare kind or anything invalid is left to
the staged path (``codec.decode_record``), which decides and words every
error. So this module can only make a sound record cheaper.
tests/test_proved_line.py holds it to ``decode_record`` on every edit of every
kind's line (and pyodide-tests/ to itself in Pyodide), tests/test_replay_fused.py
holds replay's two paths equal.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from schemalog.encoding import codec
from schemalog.encoding.fast_event import FAST_KINDS
from schemalog.encoding.fast_record import NOT_PROVED, kind_of, read_default, resolutions_of
from schemalog.errors import InvalidEvent
from schemalog.model.events import MAX_CONNECTIONS, MULTIPLICITIES, CreateNodeTable
from schemalog.model.names import catalog_key, validate_name, validate_table_name
from schemalog.model.parts import (
    MAX_PARENTS,
    MAX_PROPERTIES,
    Connection,
    PropertyDef,
    check_type,
    parsed_type,
    unchecked,
)
from schemalog.model.types import check_default

__all__ = ["LOGICAL", "PROVED_KINDS", "prove_line"]

LOGICAL = 1 << 53  # a packed clock: wall * LOGICAL + logical (history.duplicates)

_TOKEN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_WALL = r"[1-9][0-9]{0,14}"  # at most 15 digits: < 2**53 (longer ones: the staged path)
_NUMBER = r"(?:0|[1-9][0-9]{0,14})"
_EID = rf"{_TOKEN}@{_WALL}\.{_NUMBER}"
_PID = rf"{_EID}/p(?:0|[1-9][0-9]{{0,5}})"
_ANY = r'[^"\\\x00-\x1f]'  # a character that a canonical JSON string holds unescaped
# Printable ASCII but '"', '\\' (escaped in JSON) and '`' (model.names); the
# ends not a space; table names also without '.'
_MID = r"\x20\x21\x23-\x5b\x5d-\x5f\x61-\x7e"
_END = r"\x21\x23-\x5b\x5d-\x5f\x61-\x7e"
_TABLE_MID = r"\x20\x21\x23-\x2d\x2f-\x5b\x5d-\x5f\x61-\x7e"
_TABLE_END = r"\x21\x23-\x2d\x2f-\x5b\x5d-\x5f\x61-\x7e"


def _plain(mid: str, end: str) -> str:
    # 1..128 characters (names.MAX_NAME_LENGTH), not the reserved prefix
    return rf"(?!(?i:_schemalog))[{end}](?:[{mid}]{{0,126}}[{end}])?"


_PLACEHOLDERS = {
    "EID": f'"({_EID})"',
    "PID": f'"({_PID})"',
    "NAME": f'"(?:({_plain(_MID, _END)})|({_ANY}*))"',  # two groups: plain, or other
    "TNAME": f'"(?:({_plain(_TABLE_MID, _TABLE_END)})|({_ANY}*))"',
    "TEXT": f'"({_ANY}{{0,4096}})"',  # names.MAX_TEXT_LENGTH
    "S": f'"({_ANY}*)"',
    "D": rf'(null|true|false|0|-?[1-9][0-9]{{0,15}}|"{_ANY}*")',
    # any 64 characters, skipped in O(1) (no per-character class test: a third of
    # the match's time): the checksum is then compared with the computed digest,
    # and prev with the last proved checksum (or, on a miss, with _HEX64)
    "SUM": r'"(sha256-v[12]:(?s:.{64}))"',
    "PREV": r'(?:null|"(sha256-v[12]:(?s:.{64}))")',
    "PARENTS": rf'((?:"{_EID}"(?:,"{_EID}"){{0,{MAX_PARENTS - 1}}})?)',
    "RESOLUTIONS": (
        rf'((?:\{{"conflict_key":"{_ANY}*","losers":\[(?:"{_ANY}*"(?:,"{_ANY}*")*)?\],'
        rf'"winner":"{_ANY}*"\}}(?:,\{{"conflict_key":"{_ANY}*","losers":\['
        rf'(?:"{_ANY}*"(?:,"{_ANY}*")*)?\],"winner":"{_ANY}*"\}})*)?)'
    ),
    # the envelope: groups logical, wall, id, origin; the id is origin@wall.logical
    "HLC": rf'\{{"logical":(?P<logical>{_NUMBER}),"wall_ms":(?P<wall>{_WALL})\}}',
    "ID": rf'"((?P<origin>{_TOKEN})@(?P=wall)\.(?P=logical))"',
    "ORIGIN": r'"(?P=origin)"',
    "TOKEN": f'"{_TOKEN}"',
}

# A creation's arrays of objects: the line's pattern proves the whole array
# (items without groups), then Python reads its items: properties by
# ``findall`` of the item's pattern (a string holds no '"', so it finds the
# items exactly where the line has them), FROM/TO ids by a split.
_PROPERTY_ITEM = (
    '{"default":<D>,"name":<NAME>,"property_id":<S>,"type":<S>}'  # ids: eid/pN, in Python
)
_CONNECTION_ITEM = '{"from_table_id":<EID>,"to_table_id":<EID>}'


def _item(template: str, groups: bool) -> str:
    parts = re.split(r"<([A-Z]+)>", template)
    out = [re.escape(part) if i % 2 == 0 else _PLACEHOLDERS[part] for i, part in enumerate(parts)]
    regex = "".join(out)
    return regex if groups else re.sub(r"\((?!\?)", "(?:", regex)


def _items(template: str) -> str:
    item = _item(template, groups=False)
    return f"((?:{item}(?:,{item})*)?)"  # one group: the array's text


_PLACEHOLDERS["PROPS"] = _items(_PROPERTY_ITEM)
_PLACEHOLDERS["CONNS"] = _items(_CONNECTION_ITEM)
_PLACEHOLDERS["MULT"] = '"({})"'.format("|".join(map(re.escape, MULTIPLICITIES)))
_PROPERTIES = re.compile(_item(_PROPERTY_ITEM, groups=True))
_CHANGES = {
    "add_property": '{"kind":"add_property","property":{"default":<D>,"name":<NAME>,'
    '"property_id":<PID>,"type":<S>},"table_id":<EID>}',
    "drop_property": '{"kind":"drop_property","property_id":<PID>,"table_id":<EID>}',
    "rename_property": '{"kind":"rename_property","new_name":<NAME>,"property_id":<PID>,'
    '"table_id":<EID>}',
    "rename_table": '{"kind":"rename_table","new_name":<TNAME>,"table_id":<EID>}',
    "drop_table": '{"kind":"drop_table","table_id":<EID>}',
    "add_connection": '{"connection":{"from_table_id":<EID>,"to_table_id":<EID>},'
    '"kind":"add_connection","table_id":<EID>}',
    "drop_connection": '{"connection":{"from_table_id":<EID>,"to_table_id":<EID>},'
    '"kind":"drop_connection","table_id":<EID>}',
    "comment_on_table": '{"comment":<TEXT>,"kind":"comment_on_table","table_id":<EID>}',
    "tag": '{"kind":"tag","name":<NAME>}',
    "merge": '{"kind":"merge","resolutions":[<RESOLUTIONS>]}',
    # creations: their table id and property ids are the event's (checked in Python)
    "create_node_table": '{"kind":"create_node_table","name":<TNAME>,"primary_key":<S>,'
    '"properties":[<PROPS>],"table_id":<S>}',
    "create_rel_table": '{"connections":[<CONNS>],"kind":"create_rel_table",'
    '"multiplicity":<MULT>,"name":<TNAME>,"properties":[<PROPS>],"table_id":<S>}',
}
# Record keys: checksum, event, prev; event keys: change, format, hlc, id,
# origin, parents, workspace (codec's canonical order)
_RECORD = (
    '{"checksum":<SUM>,"event":{"change":<CHANGE>,"format":1,"hlc":<HLC>,"id":<ID>,'
    '"origin":<ORIGIN>,"parents":[<PARENTS>],"workspace":<TOKEN>},"prev":<PREV>}'
)


def _pattern(change: str) -> re.Pattern[str]:
    parts = re.split(r"<([A-Z]+)>", _RECORD.replace("<CHANGE>", change))
    return re.compile(
        "".join(
            re.escape(part) if i % 2 == 0 else _PLACEHOLDERS[part] for i, part in enumerate(parts)
        )
    )


_LINES = {kind: _pattern(change) for kind, change in _CHANGES.items()}
PROVED_KINDS = frozenset(_LINES)
_ENVELOPE_GROUPS = 6  # logical, wall, id, origin, parents, prev: the last groups
_sha256 = hashlib.sha256
_MAX_EVENT = codec.DEFAULT_MAX_EVENT_BYTES
# the event's bytes in a line: after '{"checksum":"<71 chars>","event":' (97 bytes),
# before ',"prev":null}' (13) or ',"prev":"<prev>"}' (11 + len(prev))
_EVENT_AT = 97
_HEX64 = re.compile("[0-9a-f]{64}")
_new_property = unchecked(PropertyDef)
_new_connection = unchecked(Connection)

# Recent events' clocks, (wall, logical, origin), by id: parents name recent
# events. Bounded: cleared when full; a miss reads the id (its grammar is proved).
_CLOCKS: dict[str, tuple[int, int, str]] = {}
_CLOCKS_MAX = 4096
# The checksum of the last line proved: usually the next line's prev, which then
# needs no check of its hex digits (module doc: any 64 characters match).
_last_sum = ""


def _name(plain: str | None, other: str, field: str) -> str:
    return plain if plain is not None else validate_name(other, field)


def _table_name(plain: str | None, other: str, field: str) -> str:
    return plain if plain is not None else validate_table_name(other, field)


def _property(
    default_text: str, plain: str | None, other: str, property_id: str, type_: str
) -> PropertyDef | None:
    """A property from its matched groups (its id checked by the caller); None or
    InvalidEvent: not proved. ``plain`` is None or "" when the other group matched."""
    name = plain or validate_name(other, "name")
    check_type(type_, "type")
    default = read_default(default_text)
    if default is NOT_PROVED:
        return None
    if default is not None:
        check_default(default, parsed_type(type_), "default")
    return _new_property(property_id, name, type_, default)


def _add_property(g: tuple[Any, ...], eid: str) -> tuple[Any, ...] | None:
    default_text, plain, other, property_id, type_, table_id = g[1:7]
    if property_id != eid + "/p0":  # a new property carries its event's id (check_identity)
        return None
    new = _property(default_text, plain, other, property_id, type_)
    return None if new is None else (table_id, new)


def _drop_property(g: tuple[Any, ...], eid: str) -> tuple[Any, ...]:
    return g[2], g[1]


def _rename_property(g: tuple[Any, ...], eid: str) -> tuple[Any, ...]:
    return g[4], g[3], _name(g[1], g[2], "new_name")


def _rename_table(g: tuple[Any, ...], eid: str) -> tuple[Any, ...]:
    return g[3], _table_name(g[1], g[2], "new_name")


def _drop_table(g: tuple[Any, ...], eid: str) -> tuple[Any, ...]:
    return (g[1],)


def _connection(g: tuple[Any, ...], eid: str) -> tuple[Any, ...]:
    return g[3], _new_connection(g[1], g[2])


def _comment(g: tuple[Any, ...], eid: str) -> tuple[Any, ...]:
    return g[2], g[1]


def _tag(g: tuple[Any, ...], eid: str) -> tuple[Any, ...]:
    return (_name(g[1], g[2], "name"),)


def _merge(g: tuple[Any, ...], eid: str) -> tuple[Any, ...]:
    FAST_KINDS["merge"](resolutions_of(g[1]), eid)  # the Merge dataclass proves it
    return ()


def _new_properties(text: str, eid: str) -> tuple[PropertyDef, ...] | None:
    """A creation's properties from its array's text (``_PROPERTIES`` items), as
    ``check_properties`` and ``check_own_ids`` take them: property ``i`` is
    ``eid/p{i}``, names unique by catalog key, types canonical, defaults of their type."""
    items = _PROPERTIES.findall(text)
    if len(items) > MAX_PROPERTIES:
        return None
    out = []
    keys = set()
    prefix = eid + "/p"
    for i, (default_text, plain, other, property_id, type_) in enumerate(items):
        if property_id != f"{prefix}{i}":
            return None
        new = _property(default_text, plain, other, property_id, type_)  # (findall: "")
        if new is None:
            return None
        key = catalog_key(new.name)
        if key in keys:
            return None
        keys.add(key)
        out.append(new)
    return tuple(out)


def _create_node_table(g: tuple[Any, ...], eid: str) -> tuple[Any, ...] | None:
    plain, other, primary_key, properties, table_id = g[1:6]
    if table_id != eid:
        return None
    name = _table_name(plain, other, "name")
    props = _new_properties(properties, eid)
    if props is None:
        return None
    # the primary key's rules (one of the properties, of a type a key can have) live
    # in the dataclass: node tables are rare, its check costs a few microseconds
    CreateNodeTable(table_id, name, props, primary_key)
    return table_id, name, props, primary_key


def _create_rel_table(g: tuple[Any, ...], eid: str) -> tuple[Any, ...] | None:
    connections, multiplicity, plain, other, properties, table_id = g[1:7]
    if table_id != eid:
        return None
    # the array is proved ``{"from_table_id":"<id>","to_table_id":"<id>"},...``: its
    # ids are every fourth of its '"'-separated parts (an id holds no '"')
    ids = connections.split('"')[3::4]
    pairs = list(zip(ids[::2], ids[1::2], strict=True))
    # at least one FROM/TO pair, at most MAX_CONNECTIONS, sorted and unique (as
    # Connection orders them: by its two ids)
    if (
        not pairs
        or len(pairs) > MAX_CONNECTIONS
        or (len(pairs) > 1 and pairs != sorted(set(pairs)))
    ):
        return None
    name = _table_name(plain, other, "name")
    props = _new_properties(properties, eid)
    if props is None:
        return None
    conns = tuple([_new_connection(f, t) for f, t in pairs])
    return table_id, name, conns, props, multiplicity


# Each kind's fields (the draft handlers' arguments, model.schema_drafts) from
# its line's groups; None or InvalidEvent: not proved
_FIELDS: dict[str, Callable[[tuple[Any, ...], str], tuple[Any, ...] | None]] = {
    "add_property": _add_property,
    "drop_property": _drop_property,
    "rename_property": _rename_property,
    "rename_table": _rename_table,
    "drop_table": _drop_table,
    "add_connection": _connection,
    "drop_connection": _connection,
    "comment_on_table": _comment,
    "tag": _tag,
    "merge": _merge,
    "create_node_table": _create_node_table,
    "create_rel_table": _create_rel_table,
}
assert _FIELDS.keys() == _LINES.keys()


# A change whose first key is its kind names it at a fixed place of a canonical
# line (fast_record.kind_of searches from there): 16 characters of it tell the
# kind without a search. A guess is never trusted: only the kind's own pattern
# can match, and it holds the kind's name.
_HEAD_AT = len('{"checksum":"sha256-v2:') + 64 + len('","event":{"change":{')
_KIND_OF_HEAD = {
    change[1:17]: kind for kind, change in _CHANGES.items() if change.startswith('{"kind":')
}
assert len(_KIND_OF_HEAD) == sum(c.startswith('{"kind":') for c in _CHANGES.values())


def _clock_of(event_id: str) -> tuple[int, int, str]:
    """The clock of an id its grammar proved (``origin@wall.logical``)."""
    origin, _, rest = event_id.partition("@")
    wall, _, logical = rest.partition(".")
    return int(wall), int(logical), origin


def prove_line(line: bytes) -> tuple[Any, ...] | None:
    """A record's facts (a proved kind), proved as ``decode_record`` proves them, or None.

    ``(kind, fields, id, origin, packed clock, parents, checksum, prev)``; None for
    anything not proved (the staged path then decodes the line and says why).
    """
    global _last_sum
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return None
    kind = _KIND_OF_HEAD.get(text[_HEAD_AT : _HEAD_AT + 16]) or kind_of(text)
    pattern = _LINES.get(kind)
    if pattern is None:
        return None
    m = pattern.fullmatch(text)
    if m is None:
        return None
    g = m.groups()
    sum_ = g[0]
    logical_s, wall_s, eid, origin, parents_s, prev = g[-_ENVELOPE_GROUPS:]
    end = len(line) - (13 if prev is None else 11 + len(prev))
    if end - _EVENT_AT > _MAX_EVENT:
        return None
    data = line[_EVENT_AT:end]
    if prev is not None and prev != _last_sum and _HEX64.fullmatch(prev, 10) is None:
        return None
    if sum_[8] == "2":  # v2: sha256(prev + "\n" + sha256(event bytes)); prev in the line
        if prev is not None and prev[8] != "2":
            return None
        link = line[end + 9 : -2] if prev is not None else b""
        if _sha256(link + b"\n" + _sha256(data).digest()).hexdigest() != sum_[10:]:
            return None
    elif (prev is not None and prev[8] != "1") or _sha256(data).hexdigest() != sum_[10:]:
        return None
    wall, logical = int(wall_s), int(logical_s)
    me = (wall, logical, origin)
    clocks = _CLOCKS
    if parents_s:
        parents = parents_s[1:-1].split('","')
        for parent in parents:  # each strictly earlier than the event (so not the event)
            clock = clocks.get(parent)
            if clock is None:
                clock = _clock_of(parent)
            if not clock < me:
                return None
        if len(parents) > 1 and parents != sorted(set(parents)):
            return None
    else:
        parents = []
    if kind == "merge" and len(parents) < 2:
        return None
    try:
        fields = _FIELDS[kind](g, eid)
    except InvalidEvent:
        return None
    if fields is None:
        return None
    if len(clocks) >= _CLOCKS_MAX:
        clocks.clear()
    clocks[eid] = me
    _last_sum = sum_  # equal to the computed digest: 64 hex digits
    return kind, fields, eid, origin, wall * LOGICAL + logical, parents, sum_, prev
