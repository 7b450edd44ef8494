"""Reading a stored record by its canonical shape, without a JSON parser.

``codec.decode_record`` parses a line, re-encodes it to prove it canonical,
hashes the event's bytes and validates the event: about twice the cost of the
parse alone, for every record of every replay. A canonical line of a given
kind has one fixed shape, so each kind's shape is held here as a regular
expression: a line that matches it *is* the canonical JSON of a record of
that kind (keys in order, no whitespace, strings with nothing to escape,
integers without sign or leading zeros), and its groups are the record's
values, all strings (arrays of objects -- a create's properties and FROM/TO
pairs, a merge's resolutions -- are matched whole, then read item by item).
No parse, no re-encoding; the values then pass the same validators as the
dict path (``event_fast.fast_event``), and the checksum is checked on the event's
bytes, a slice of the line.

``read(line)`` returns the record's (checksum, prev, event) or None: None for
anything it does not prove valid (a string with an escape, a default that
is not a scalar, a bad value), never an error. The caller then
takes the checked path, which says what is wrong; so this module can only
make a valid record cheaper, never change what is accepted or how an error
reads. tests/test_decode_fast.py holds it to that.
"""

from __future__ import annotations

import re
from typing import Any

from schemalog.encoding.fast_event import FAST_KINDS, fast_event
from schemalog.model.clock import MAX_SAFE_INT
from schemalog.model.events import Event

__all__ = [
    "NOT_PROVED",
    "kind_of",
    "read",
    "read_default",
    "resolutions_of",
]

_STR = r'"([^"\\\x00-\x1f]*)"'  # a string whose JSON form is its text between quotes
_SUM = r'"(sha256-v[12]:[0-9a-f]{64})"'
_INT = r"(0|[1-9][0-9]{0,15})"  # at most 16 digits: within reach of MAX_SAFE_INT
_DEFAULT = r'(null|true|false|0|-?[1-9][0-9]{0,15}|"[^"\\\x00-\x1f]*")'
_PARENTS = r'((?:"[^"\\\x00-\x1f]*"(?:,"[^"\\\x00-\x1f]*")*)?)'

# Each line's shape as a template: literal canonical JSON with placeholders
# for the values. The change object's keys are in canonical order, so its
# groups are the value builder's arguments (event_fast.FAST_KINDS) in order.
_CHANGES = {
    "add_property": '{"kind":"add_property","property":{"default":<D>,"name":<S>,'
    '"property_id":<S>,"type":<S>},"table_id":<S>}',
    "drop_property": '{"kind":"drop_property","property_id":<S>,"table_id":<S>}',
    "rename_property": '{"kind":"rename_property","new_name":<S>,"property_id":<S>,"table_id":<S>}',
    "rename_table": '{"kind":"rename_table","new_name":<S>,"table_id":<S>}',
    "drop_table": '{"kind":"drop_table","table_id":<S>}',
    "add_connection": '{"connection":{"from_table_id":<S>,"to_table_id":<S>},'
    '"kind":"add_connection","table_id":<S>}',
    "drop_connection": '{"connection":{"from_table_id":<S>,"to_table_id":<S>},'
    '"kind":"drop_connection","table_id":<S>}',
    "comment_on_table": '{"comment":<S>,"kind":"comment_on_table","table_id":<S>}',
    "tag": '{"kind":"tag","name":<S>}',
    "create_node_table": '{"kind":"create_node_table","name":<S>,"primary_key":<S>,'
    '"properties":[<PROPS>],"table_id":<S>}',
    "create_rel_table": '{"connections":[<CONNS>],"kind":"create_rel_table",'
    '"multiplicity":<S>,"name":<S>,"properties":[<PROPS>],"table_id":<S>}',
    "merge": '{"kind":"merge","resolutions":[<RESOLUTIONS>]}',
    "set_sorted_by": '{"keys":[<SORTKEYS>],"kind":"set_sorted_by","table_id":<S>}',
}
# Items of arrays of objects: the line pattern checks the whole array without
# groups (<PROPS>: one group for the array's text), then these patterns, with
# groups, read its items.
_ITEMS = {
    "PROPS": '{"default":<D>,"name":<S>,"property_id":<S>,"type":<S>}',
    "CONNS": '{"from_table_id":<S>,"to_table_id":<S>}',
    "RESOLUTIONS": '{"conflict_key":<S>,"losers":[<PARENTS>],"winner":<S>}',
    "SORTKEYS": '{"order":<S>,"property_id":<S>}',
}
assert _CHANGES.keys() == FAST_KINDS.keys(), "a pattern for every fast kind"
# Record keys: checksum, event, prev; event keys: change, format, hlc, id,
# origin, parents, workspace; hlc keys: logical, wall_ms.
_RECORD = (
    '{"checksum":<SUM>,"event":{"change":<CHANGE>,"format":1,'
    '"hlc":{"logical":<INT>,"wall_ms":<INT>},"id":<S>,"origin":<S>,'
    '"parents":[<PARENTS>],"workspace":<S>},"prev":<PREV>}'
)
_PLACEHOLDERS = {
    "S": _STR,
    "D": _DEFAULT,
    "SUM": _SUM,
    "INT": _INT,
    "PARENTS": _PARENTS,
    "PREV": f"(?:null|{_SUM})",
}


def _regex(template: str, groups: bool = True) -> str:
    parts = re.split(r"<([A-Z]+)>", template)
    # even parts are literal JSON, odd ones placeholder names
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(re.escape(part))
        elif part in _ITEMS:
            item = _regex(_ITEMS[part], groups=False)
            out.append(f"((?:{item}(?:,{item})*)?)")
        else:
            regex = _PLACEHOLDERS[part]
            out.append(regex if groups else re.sub(r"\((?!\?)", "(?:", regex))
    return "".join(out)


def _line_pattern(change: str) -> re.Pattern[str]:
    return re.compile(_regex(_RECORD.replace("<CHANGE>", change)))


_ITEM_PATTERNS = {name: re.compile(_regex(item)) for name, item in _ITEMS.items()}


def _properties(text: str) -> list[tuple[Any, ...]] | None:
    out = []
    for m in _ITEM_PATTERNS["PROPS"].finditer(text):
        default, name, property_id, type_ = m.groups()
        value = _default(default)
        if value is _NOT_PROVED:
            return None
        out.append((value, name, property_id, type_))
    return out


def _connections(text: str) -> list[tuple[Any, ...]]:
    return [m.groups() for m in _ITEM_PATTERNS["CONNS"].finditer(text)]


def _resolutions(text: str) -> list[tuple[Any, ...]]:
    return [
        (key, _ids(losers), winner)
        for key, losers, winner in (
            m.groups() for m in _ITEM_PATTERNS["RESOLUTIONS"].finditer(text)
        )
    ]


def _ids(text: str) -> list[str]:
    """The strings of an array's text as ``_PARENTS`` matched it."""
    return text[1:-1].split('","') if text else []


_LINES = {kind: _line_pattern(change) for kind, change in _CHANGES.items()}
_KIND_AT = len('{"checksum":"sha256-v2:') + 64 + len('","event":{"change":{')
_KIND_KEY = '"kind":"'
_SCALARS: dict[str, Any] = {"null": None, "true": True, "false": False}
_NOT_PROVED = object()


def _default(text: str) -> Any:
    """The JSON value ``text`` (as ``_DEFAULT`` matched it), or _NOT_PROVED."""
    if text[0] == '"':
        return text[1:-1]
    if text in _SCALARS:
        return _SCALARS[text]
    value = int(text)
    return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else _NOT_PROVED


# What encoding.proved_line (replay's fused path) reads the way ``read`` does
resolutions_of = _resolutions
NOT_PROVED = _NOT_PROVED
read_default = _default


def kind_of(text: str) -> str:
    """The kind a record line names first (its change's, in canonical order), or ""."""
    at = text.find(_KIND_KEY, _KIND_AT)
    if at < 0:
        return ""
    at += len(_KIND_KEY)
    return text[at : text.find('"', at)]


def read(text: str) -> tuple[str, str | None, Event] | None:
    """(checksum, prev, event) of the canonical record ``text`` (no newline), or None.

    The checksum is *not* verified here: the caller hashes the event's bytes.
    """
    kind = kind_of(text)
    pattern = _LINES.get(kind)
    if pattern is None:
        return None
    m = pattern.fullmatch(text)
    if m is None:
        return None
    g = m.groups()
    logical, wall, eid, origin, parents, workspace, prev = g[-7:]
    values = list(g[1:-7])
    if kind == "add_property":
        default = _default(values[0])
        if default is _NOT_PROVED:
            return None
        values[0] = default
    elif kind == "create_node_table":
        values[2] = _properties(values[2])
        if values[2] is None:
            return None
    elif kind == "create_rel_table":
        values[0] = _connections(values[0])
        values[3] = _properties(values[3])
        if values[3] is None:
            return None
    elif kind == "merge":
        values[0] = _resolutions(values[0])
    elif kind == "set_sorted_by":
        values[0] = [m.groups() for m in _ITEM_PATTERNS["SORTKEYS"].finditer(values[0])]
    event = fast_event(eid, workspace, origin, int(wall), int(logical), _ids(parents), kind, values)
    return None if event is None else (g[0], prev, event)
