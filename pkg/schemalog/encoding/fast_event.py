"""Building valid events without their checks: the decoding fast paths.

``Event.from_obj`` and ``codec.decode_record`` run for every stored record.
The code here proves a valid event of a common kind valid with the same
validators the dataclasses use (the cached ones, each check once) and builds
it with ``unchecked`` constructors. It returns None -- never raises -- for
anything else: a rare shape, any doubt or any invalid field; the caller then
takes the checked path (events.py), so every error and its wording come from
one place. Caches only ever learn valid values.

Two callers share the value builders: ``from_obj_fast`` (a parsed dict) and
record_fast.py (the groups of a record's canonical shape).
tests/test_decode_fast.py holds both to the checked path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemalog.errors import InvalidEvent
from schemalog.model.clock import MAX_SAFE_INT, Timestamp
from schemalog.model.events import (
    _CONNECTION_KEY_SET,
    _DECODERS,
    _EVENT_KEY_SET,
    _HLC_KEY_SET,
    _PROPERTY_KEY_SET,
    FORMAT,
    AddConnection,
    AddProperty,
    Change,
    CommentOnTable,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    Tag,
)
from schemalog.model.names import (
    _GOOD_TOKENS,
    validate_name,
    validate_table_name,
    validate_text,
    validate_token,
)
from schemalog.model.parts import (
    _ID_STAMPS,
    MAX_PARENTS,
    Connection,
    PropertyDef,
    Resolution,
    SortKey,
    check_event_id,
    check_property_id,
    check_type,
    parse_event_id,
    parsed_type,
    remember_event_id,
    remember_property_id,
    unchecked,
)
from schemalog.model.types import check_default

__all__ = [
    "FAST_KINDS",
    "event_from_obj",
    "fast_event",
    "from_obj_fast",
]

_new_timestamp = unchecked(Timestamp)
_new_property = unchecked(PropertyDef)
_new_connection = unchecked(Connection)
_new_event = unchecked(Event)
_new_add_property = unchecked(AddProperty)
_new_drop_property = unchecked(DropProperty)
_new_rename_property = unchecked(RenameProperty)
_new_rename_table = unchecked(RenameTable)
_new_drop_table = unchecked(DropTable)
_new_add_connection = unchecked(AddConnection)
_new_drop_connection = unchecked(DropConnection)
_new_comment = unchecked(CommentOnTable)
_new_tag = unchecked(Tag)
_new_sort_key = unchecked(SortKey)

# The value builders below take a change's fields as plain values, in the
# order of its canonical keys with nested objects flattened (the order the
# line fast path in record_fast.py captures them), plus the event id; they
# raise InvalidEvent or return None on doubt, and the callers turn both into
# "not proved": the dict path below and record_fast.py share them.


def _property_values(
    default: object, name: object, property_id: object, type_: object, expected_id: str
) -> PropertyDef | None:
    """A new property that must carry ``expected_id`` (what check_identity demands)."""
    if property_id != expected_id:
        return None
    validate_name(name, "name")
    check_type(type_, "type")
    if default is not None:
        check_default(default, parsed_type(type_), "default")
    remember_property_id(expected_id)
    return _new_property(expected_id, name, type_, default)


# The flat kinds' checkers: the change's fields in its dataclass order, proved
# valid, or None on doubt; the builders below wrap them. (Replay's fused path
# proves these kinds by their line's grammar instead: encoding/proved_line.py.)


def _add_property_fields(
    default: object, name: object, property_id: object, type_: object, table_id: object, eid: str
) -> tuple[str, PropertyDef] | None:
    table_id = check_event_id(table_id, "table_id")
    prop = _property_values(default, name, property_id, type_, eid + "/p0")
    return None if prop is None else (table_id, prop)


def _drop_property_fields(property_id: object, table_id: object, eid: str) -> tuple[str, str]:
    return check_event_id(table_id, "table_id"), check_property_id(property_id, "property_id")


def _rename_property_fields(
    new_name: object, property_id: object, table_id: object, eid: str
) -> tuple[str, str, str]:
    return (
        check_event_id(table_id, "table_id"),
        check_property_id(property_id, "property_id"),
        validate_name(new_name, "new_name"),
    )


def _rename_table_fields(new_name: object, table_id: object, eid: str) -> tuple[str, str]:
    return check_event_id(table_id, "table_id"), validate_table_name(new_name, "new_name")


def _drop_table_fields(table_id: object, eid: str) -> tuple[str]:
    return (check_event_id(table_id, "table_id"),)


def _connection_values(from_table_id: object, to_table_id: object) -> Connection:
    return _new_connection(
        check_event_id(from_table_id, "from_table_id"),
        check_event_id(to_table_id, "to_table_id"),
    )


def _connection_fields(
    from_table_id: object, to_table_id: object, table_id: object, eid: str
) -> tuple[str, Connection]:
    table_id = check_event_id(table_id, "table_id")
    return table_id, _connection_values(from_table_id, to_table_id)


def _comment_fields(comment: object, table_id: object, eid: str) -> tuple[str, str]:
    return check_event_id(table_id, "table_id"), validate_text(comment, "comment")


def _tag_fields(name: object, eid: str) -> tuple[str]:
    return (validate_name(name, "name"),)


FIELD_CHECKS: dict[str, Callable[..., tuple[Any, ...] | None]] = {
    AddProperty.KIND: _add_property_fields,
    DropProperty.KIND: _drop_property_fields,
    RenameProperty.KIND: _rename_property_fields,
    RenameTable.KIND: _rename_table_fields,
    DropTable.KIND: _drop_table_fields,
    AddConnection.KIND: _connection_fields,
    DropConnection.KIND: _connection_fields,
    CommentOnTable.KIND: _comment_fields,
    Tag.KIND: _tag_fields,
}
"""The flat kinds: their value builders' arguments (record_fast.py's groups, the
event id last) to the change's fields, proved valid (None or InvalidEvent: not proved)."""


def _built(new: Callable[..., Change], fields: Callable[..., Any]) -> Callable[..., Change | None]:
    def values(*args: object) -> Change | None:
        proved = fields(*args)
        return None if proved is None else new(*proved)

    return values


def _properties_values(properties: list[Any], eid: str) -> tuple[PropertyDef, ...] | None:
    """New properties from their values tuples, property ``i`` carrying ``eid/p{i}``."""
    out = []
    for i, (default, name, property_id, type_) in enumerate(properties):
        prop = _property_values(default, name, property_id, type_, f"{eid}/p{i}")
        if prop is None:
            return None
        out.append(prop)
    return tuple(out)


# Creates and merges are rarer and have more rules: the dataclasses check them
# (the one place those rules live); only their parts are built unchecked.


def _create_node_table_values(
    name: object, primary_key: object, properties: list[Any], table_id: object, eid: str
) -> Change | None:
    props = _properties_values(properties, eid)
    if props is None:
        return None
    change = CreateNodeTable(table_id, name, props, primary_key)  # type: ignore[arg-type]
    change.check_identity(eid)
    return change


def _create_rel_table_values(
    connections: list[Any],
    multiplicity: object,
    name: object,
    properties: list[Any],
    table_id: object,
    eid: str,
) -> Change | None:
    props = _properties_values(properties, eid)
    if props is None:
        return None
    conns = tuple([_connection_values(f, t) for f, t in connections])
    change = CreateRelTable(table_id, name, conns, props, multiplicity)  # type: ignore[arg-type]
    change.check_identity(eid)
    return change


def _set_sorted_by_values(keys: list[Any], table_id: object, eid: str) -> Change:
    # the keys are proved one by one (order first: it is a short literal), the
    # change's own rules (non-empty, no repeated property) by the dataclass
    parts = []
    for order, property_id in keys:
        if order != "ASC" and order != "DESC":
            raise InvalidEvent("order", "not proved")
        parts.append(_new_sort_key(check_property_id(property_id, "property_id"), order))
    return SetSortedBy(table_id, tuple(parts))  # type: ignore[arg-type]


def _merge_values(resolutions: list[Any], eid: str) -> Change:
    return Merge(
        tuple([Resolution(key, winner, tuple(losers)) for key, losers, winner in resolutions])
    )


_ValuesBuilder = Callable[..., "Change | None"]
_NEW_CHANGE: dict[str, Callable[..., Change]] = {
    AddProperty.KIND: _new_add_property,
    DropProperty.KIND: _new_drop_property,
    RenameProperty.KIND: _new_rename_property,
    RenameTable.KIND: _new_rename_table,
    DropTable.KIND: _new_drop_table,
    AddConnection.KIND: _new_add_connection,
    DropConnection.KIND: _new_drop_connection,
    CommentOnTable.KIND: _new_comment,
    Tag.KIND: _new_tag,
}
FAST_KINDS: dict[str, _ValuesBuilder] = {
    CreateNodeTable.KIND: _create_node_table_values,
    CreateRelTable.KIND: _create_rel_table_values,
    Merge.KIND: _merge_values,
    **{kind: _built(_NEW_CHANGE[kind], fields) for kind, fields in FIELD_CHECKS.items()},
    SetSortedBy.KIND: _set_sorted_by_values,
}
"""The kinds with a fast path, each with its value builder (see above)."""


def _flat_values(kind: str, d: dict[str, Any]) -> list[Any] | None:
    """The value builder's arguments from a change dict of ``kind`` (exact keys checked)."""
    if kind == AddProperty.KIND:
        prop = d["property"]
        if type(prop) is not dict or prop.keys() != _PROPERTY_KEY_SET:
            return None
        return [prop["default"], prop["name"], prop["property_id"], prop["type"], d["table_id"]]
    if kind == AddConnection.KIND or kind == DropConnection.KIND:
        conn = d["connection"]
        if type(conn) is not dict or conn.keys() != _CONNECTION_KEY_SET:
            return None
        return [conn["from_table_id"], conn["to_table_id"], d["table_id"]]
    return [d[name] for name in _FAST_FIELDS[kind]]


# The dict path takes the kinds with flat fields (plus one nested object).
_DICT_KINDS = [
    k
    for k in FAST_KINDS
    if k not in (CreateNodeTable.KIND, CreateRelTable.KIND, Merge.KIND, SetSortedBy.KIND)
]
_FAST_KEY_SETS = {kind: _DECODERS[kind][0] for kind in _DICT_KINDS}
_FAST_FIELDS = {kind: tuple(sorted(_DECODERS[kind][1][1:])) for kind in _DICT_KINDS}


def envelope_proved(
    eid: object,
    workspace: object,
    origin: object,
    wall: int,
    logical: int,
    parents: list[Any],
    kind: str,
) -> bool:
    """Whether an event's envelope (all but its change) is proved valid (never raises).

    ``wall`` and ``logical`` must be ints, ``parents`` a list. The envelope is
    checked before the change: the change's checks cache the ids it creates,
    which are only valid under a valid event id.
    """
    if not (1 <= wall <= MAX_SAFE_INT and 0 <= logical <= MAX_SAFE_INT):
        return False
    good_tokens, stamps = _GOOD_TOKENS, _ID_STAMPS  # the validators' caches, read inline
    try:
        if type(origin) is not str or origin not in good_tokens:
            origin = validate_token(origin, "origin")
        if type(workspace) is not str or workspace not in good_tokens:
            validate_token(workspace, "workspace")
        if eid != f"{origin}@{wall}.{logical}":  # the id is event_id(origin, hlc)
            return False
        if len(parents) > MAX_PARENTS or eid in parents:
            return False
        for parent in parents:  # each strictly earlier than the event (Timestamp order)
            stamp = stamps.get(parent) if type(parent) is str else None
            if stamp is None:
                stamp = parse_event_id(parent)
            if not (stamp.wall_ms, stamp.logical, stamp.origin) < (wall, logical, origin):
                return False
    except InvalidEvent:
        return False
    if len(parents) > 1 and parents != sorted(set(parents)):
        return False
    return not (kind == Merge.KIND and len(parents) < 2)


def fast_event(
    eid: object,
    workspace: object,
    origin: object,
    wall: int,
    logical: int,
    parents: list[Any],
    kind: str,
    values: list[Any],
) -> Event | None:
    """The event with these fields if it is proved valid, else None (never raises).

    ``wall`` and ``logical`` must be ints, ``parents`` a list and ``kind`` one of
    ``FAST_KINDS``; ``values`` are its value builder's arguments.
    """
    if not envelope_proved(eid, workspace, origin, wall, logical, parents, kind):
        return None
    try:
        change = FAST_KINDS[kind](*values, eid)
    except InvalidEvent:
        return None
    if change is None:
        return None
    hlc_stamp = _new_timestamp(wall, logical, origin)
    event: Event = _new_event(eid, workspace, origin, hlc_stamp, tuple(parents), FORMAT, change)
    remember_event_id(eid, hlc_stamp)  # type: ignore[arg-type]  # proved event_id(origin, hlc)
    return event


def from_obj_fast(obj: object) -> Event | None:
    """``Event.from_obj(obj)`` for a valid event of a common kind, else None."""
    if type(obj) is not dict or obj.keys() != _EVENT_KEY_SET:
        return None
    fmt, hlc, change_obj = obj["format"], obj["hlc"], obj["change"]
    if (
        type(fmt) is not int
        or fmt != FORMAT
        or type(hlc) is not dict
        or type(change_obj) is not dict
    ):
        return None
    if hlc.keys() != _HLC_KEY_SET:
        return None
    wall, logical = hlc["wall_ms"], hlc["logical"]
    kind = change_obj.get("kind")
    if type(kind) is not str:
        return None
    key_set = _FAST_KEY_SETS.get(kind)
    parents = obj["parents"]
    if (
        key_set is None
        or change_obj.keys() != key_set
        or type(wall) is not int
        or type(logical) is not int
        or type(parents) is not list
    ):
        return None
    values = _flat_values(kind, change_obj)
    if values is None:
        return None
    eid, workspace, origin = obj["id"], obj["workspace"], obj["origin"]
    return fast_event(eid, workspace, origin, wall, logical, parents, kind, values)


def event_from_obj(obj: object) -> Event:
    """``Event.from_obj(obj)``: the fast path for a valid event of a common kind,
    the checked path (the one source of errors) for everything else."""
    event = from_obj_fast(obj)
    return event if event is not None else Event.from_obj(obj)
