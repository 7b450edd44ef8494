"""The event model: an envelope plus one frozen dataclass per kind of schema change.

Identity scheme (documented here, relied on everywhere):

* event id = ``"{origin}@{wall_ms}.{logical}"``, the origin and its hybrid
  logical clock reading. An origin's clock never issues the same reading twice,
  so ids are unique across instances as long as origins are (an origin is a
  random token an instance picks once, e.g. a UUID). The id is checked against
  ``origin`` and ``hlc``, so it cannot lie about either.
* a table's id is the id of the event that created it; property ``n`` of a
  create event gets ``"{event_id}/p{n}"``, an added property ``"{event_id}/p0"``.
  Renames change names, never ids; changes refer to tables and properties by id.
* parents: the ids of the heads the origin had seen, sorted, no duplicates,
  never the event itself, and each with an hlc strictly below the event's own
  (``new_event`` observes the parents on the clock first). Hence parent links
  always point into the past and a valid log cannot contain a cycle.

Every field is validated at construction (exact types: ``True`` is not an int;
ints within 2**53), raising InvalidEvent with the field's dotted path. Type
strings must already be canonical (see kuzu_types); builders normalize them.
``to_obj``/``from_obj`` convert to and from plain JSON-able dicts; ``from_obj``
rejects unknown or missing fields by name, unknown kinds and unknown formats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, ClassVar

from schemalog.errors import InvalidEvent
from schemalog.model.clock import HybridLogicalClock, Timestamp
from schemalog.model.names import validate_name, validate_table_name, validate_text, validate_token
from schemalog.model.parts import (
    MAX_PROPERTIES,
    Connection,
    PropertyDef,
    Resolution,
    SortKey,
    canonical_type,
    check_connection,
    check_event_id,
    check_ids,
    check_own_ids,
    check_properties,
    check_property_id,
    check_tuple,
    event_id,
    parse_event_id,
    parsed_type,
    prefixed,
    remember_event_id,
    under,
    under_type,
)
from schemalog.model.types import (
    ArrayType,
    DefaultValue,
    ListType,
    MapType,
    StructType,
    UnionType,
)

__all__ = [
    "CHANGE_KINDS",
    "FORMAT",
    "MULTIPLICITIES",
    "AddConnection",
    "AddProperty",
    "Change",
    "CommentOnTable",
    "Connection",
    "CreateNodeTable",
    "CreateRelTable",
    "DropConnection",
    "DropProperty",
    "DropTable",
    "Event",
    "Merge",
    "PropertyDef",
    "RenameProperty",
    "RenameTable",
    "Resolution",
    "SetSortedBy",
    "SortKey",
    "Tag",
    "build_add_property",
    "build_node_table",
    "build_rel_table",
    "canonical_type",
    "event_id",
    "new_event",
    "parse_event_id",
]

FORMAT = 1
MULTIPLICITIES = ("MANY_MANY", "MANY_ONE", "ONE_MANY", "ONE_ONE")
MAX_CONNECTIONS = 1024


# ---------------------------------------------------------------- changes


@dataclass(frozen=True, slots=True)
class _ChangeBase:
    KIND: ClassVar[str] = ""

    def check_identity(self, event_id: str) -> None:
        """Ids this change creates must derive from its event's id (see module docstring)."""

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"kind": self.KIND}
        for f in fields(self):
            obj[f.name] = _plain(getattr(self, f.name))
        return obj


def _plain(value: object) -> Any:
    if type(value) is tuple:
        return [_plain(v) for v in value]
    if type(value) in (PropertyDef, Connection, Resolution, SortKey):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}  # type: ignore[arg-type]
    return value


@dataclass(frozen=True, slots=True)
class CreateNodeTable(_ChangeBase):
    KIND: ClassVar[str] = "create_node_table"
    table_id: str
    name: str
    properties: tuple[PropertyDef, ...]
    primary_key: str  # a property id of this table

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        validate_table_name(self.name, "name")
        props = check_properties(self.properties, "properties")
        check_property_id(self.primary_key, "primary_key")
        pk = [p for p in props if p.property_id == self.primary_key]
        if not pk:
            raise InvalidEvent("primary_key", f"{self.primary_key!r} is not one of the properties")
        # Kuzu 0.11.3: "Primary keys must be either STRING or a numeric type" (it also
        # takes dates, timestamps, UUID and BLOB; it refuses these)
        if isinstance(
            parsed_type(pk[0].type), ListType | ArrayType | MapType | StructType | UnionType
        ) or (pk[0].type in ("BOOLEAN", "INTERVAL")):
            raise InvalidEvent("primary_key", f"type {pk[0].type} cannot be a primary key")

    def check_identity(self, event_id: str) -> None:
        check_own_ids(event_id, self.table_id, self.properties)


@dataclass(frozen=True, slots=True)
class CreateRelTable(_ChangeBase):
    KIND: ClassVar[str] = "create_rel_table"
    table_id: str
    name: str
    connections: tuple[Connection, ...]
    properties: tuple[PropertyDef, ...]
    multiplicity: str

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        validate_table_name(self.name, "name")
        conns = check_tuple(self.connections, "connections", MAX_CONNECTIONS)
        for i, conn in enumerate(conns):
            check_connection(conn, f"connections[{i}]")
        if not conns:
            raise InvalidEvent("connections", "a rel table needs at least one FROM/TO pair")
        if list(conns) != sorted(set(conns)):
            raise InvalidEvent("connections", "must be sorted and without duplicates")
        check_properties(self.properties, "properties")
        if self.multiplicity not in MULTIPLICITIES or type(self.multiplicity) is not str:
            raise InvalidEvent(
                "multiplicity", f"{self.multiplicity!r} is not one of {MULTIPLICITIES}"
            )

    def check_identity(self, event_id: str) -> None:
        check_own_ids(event_id, self.table_id, self.properties)


@dataclass(frozen=True, slots=True)
class AddProperty(_ChangeBase):
    KIND: ClassVar[str] = "add_property"
    table_id: str
    property: PropertyDef

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        if type(self.property) is not PropertyDef:
            raise InvalidEvent(
                "property", f"must be a PropertyDef, got {type(self.property).__name__}"
            )

    def check_identity(self, event_id: str) -> None:
        if self.property.property_id != f"{event_id}/p0":
            raise InvalidEvent(
                "change.property.property_id",
                f"{self.property.property_id!r} must be {event_id + '/p0'!r}",
            )


@dataclass(frozen=True, slots=True)
class DropProperty(_ChangeBase):
    KIND: ClassVar[str] = "drop_property"
    table_id: str
    property_id: str

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        check_property_id(self.property_id, "property_id")


@dataclass(frozen=True, slots=True)
class RenameProperty(_ChangeBase):
    KIND: ClassVar[str] = "rename_property"
    table_id: str
    property_id: str
    new_name: str

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        check_property_id(self.property_id, "property_id")
        validate_name(self.new_name, "new_name")


@dataclass(frozen=True, slots=True)
class RenameTable(_ChangeBase):
    KIND: ClassVar[str] = "rename_table"
    table_id: str
    new_name: str

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        validate_table_name(self.new_name, "new_name")


@dataclass(frozen=True, slots=True)
class DropTable(_ChangeBase):
    KIND: ClassVar[str] = "drop_table"
    table_id: str

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")


@dataclass(frozen=True, slots=True)
class AddConnection(_ChangeBase):
    KIND: ClassVar[str] = "add_connection"
    table_id: str
    connection: Connection

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        check_connection(self.connection, "connection")


@dataclass(frozen=True, slots=True)
class DropConnection(_ChangeBase):
    KIND: ClassVar[str] = "drop_connection"
    table_id: str
    connection: Connection

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        check_connection(self.connection, "connection")


@dataclass(frozen=True, slots=True)
class CommentOnTable(_ChangeBase):
    KIND: ClassVar[str] = "comment_on_table"
    table_id: str
    comment: str  # "" removes the comment

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        validate_text(self.comment, "comment")


@dataclass(frozen=True, slots=True)
class SetSortedBy(_ChangeBase):
    """LadybugDB's ``ALTER TABLE T SET SORTED BY (col ASC|DESC, ...)`` on a node table.

    The keys replace the table's previous ones (the engine keeps one list).
    Kuzu has no such DDL: a log holding this change applies to LadybugDB only
    (applying it to Kuzu is refused with rule ``set-sorted-by-unsupported``).
    """

    KIND: ClassVar[str] = "set_sorted_by"
    table_id: str
    keys: tuple[SortKey, ...]

    def __post_init__(self) -> None:
        check_event_id(self.table_id, "table_id")
        keys = check_tuple(self.keys, "keys", MAX_PROPERTIES)
        if not keys:
            raise InvalidEvent("keys", "SORTED BY needs at least one property")
        seen: set[str] = set()
        for i, key in enumerate(keys):
            if type(key) is not SortKey:
                raise InvalidEvent(f"keys[{i}]", f"must be a SortKey, got {type(key).__name__}")
            if key.property_id in seen:
                raise InvalidEvent(f"keys[{i}].property_id", f"{key.property_id!r} repeats")
            seen.add(key.property_id)


@dataclass(frozen=True, slots=True)
class Merge(_ChangeBase):
    """Joins the heads named by the event's parents (at least two), with resolutions."""

    KIND: ClassVar[str] = "merge"
    resolutions: tuple[Resolution, ...] = ()

    def __post_init__(self) -> None:
        res = check_tuple(self.resolutions, "resolutions", MAX_PROPERTIES)
        keys = []
        for i, r in enumerate(res):
            if type(r) is not Resolution:
                raise InvalidEvent(
                    f"resolutions[{i}]", f"must be a Resolution, got {type(r).__name__}"
                )
            keys.append(r.conflict_key)
        if keys != sorted(set(keys)):
            raise InvalidEvent("resolutions", "must be sorted by conflict_key, without duplicates")


@dataclass(frozen=True, slots=True)
class Tag(_ChangeBase):
    """Names the schema version at this point of the history."""

    KIND: ClassVar[str] = "tag"
    name: str

    def __post_init__(self) -> None:
        validate_name(self.name, "name")


Change = (
    CreateNodeTable
    | CreateRelTable
    | AddProperty
    | DropProperty
    | RenameProperty
    | RenameTable
    | DropTable
    | AddConnection
    | DropConnection
    | CommentOnTable
    | SetSortedBy
    | Merge
    | Tag
)
_CHANGE_CLASSES: tuple[type[_ChangeBase], ...] = (
    CreateNodeTable,
    CreateRelTable,
    AddProperty,
    DropProperty,
    RenameProperty,
    RenameTable,
    DropTable,
    AddConnection,
    DropConnection,
    CommentOnTable,
    SetSortedBy,
    Merge,
    Tag,
)
CHANGE_KINDS: dict[str, type[_ChangeBase]] = {c.KIND: c for c in _CHANGE_CLASSES}


# ---------------------------------------------------------------- envelope


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable schema event. ``hlc.origin`` equals ``origin``; ``id`` derives from both."""

    id: str
    workspace: str
    origin: str
    hlc: Timestamp
    parents: tuple[str, ...]
    format: int
    change: Change

    def __post_init__(self) -> None:
        if type(self.format) is not int or self.format != FORMAT:
            raise InvalidEvent("format", f"unknown format version {self.format!r} (reads {FORMAT})")
        validate_token(self.workspace, "workspace")
        validate_token(self.origin, "origin")
        if type(self.hlc) is not Timestamp:
            raise InvalidEvent("hlc", f"must be a Timestamp, got {type(self.hlc).__name__}")
        if self.hlc.origin != self.origin:
            raise InvalidEvent(
                "hlc.origin", f"{self.hlc.origin!r} differs from origin {self.origin!r}"
            )
        expected = event_id(self.origin, self.hlc)
        if self.id != expected:
            raise InvalidEvent("id", f"{self.id!r} must be {expected!r} (origin@wall_ms.logical)")
        parents = self.parents
        if type(parents) is not tuple or parents:  # () needs no check
            if self.id in parents if type(parents) is tuple else False:
                raise InvalidEvent("parents", f"names the event itself ({self.id!r})")
            parents = check_ids(parents, "parents", allow_empty=True)
            hlc = self.hlc
            for i, parent in enumerate(parents):
                if not parse_event_id(parent) < hlc:
                    raise InvalidEvent(
                        f"parents[{i}]", f"{parent!r} is not earlier than the event's hlc"
                    )
        if type(self.change) not in _CHANGE_CLASSES:
            raise InvalidEvent(
                "change", f"must be a change dataclass, got {type(self.change).__name__}"
            )
        if type(self.change) is Merge and len(parents) < 2:
            raise InvalidEvent("parents", "a merge joins at least two heads")
        self.change.check_identity(self.id)
        remember_event_id(self.id, self.hlc)  # id == event_id(origin, hlc), checked above

    @property
    def kind(self) -> str:
        return self.change.KIND

    def to_obj(self) -> dict[str, Any]:
        """Plain JSON-able dict (no floats) of this event."""
        return {
            "change": self.change.to_obj(),
            "format": self.format,
            "hlc": {"logical": self.hlc.logical, "wall_ms": self.hlc.wall_ms},
            "id": self.id,
            "origin": self.origin,
            "parents": list(self.parents),
            "workspace": self.workspace,
        }

    @classmethod
    def from_obj(cls, obj: object) -> Event:
        """Strictly rebuild an event from ``to_obj`` output; raises InvalidEvent(path, reason).

        The checked path, the one source of errors. Decoders on a hot path call
        ``schemalog.encoding.fast_event.event_from_obj``, which tries a faster
        path first and falls back here.
        """
        return _from_obj_checked(cls, obj)


def _from_obj_checked(cls: type[Event], obj: object) -> Event:
    """``from_obj`` through the dataclasses' own checks: the one source of its errors."""
    # Each check is one comparison inline, the slow helpers only run to build the error.
    if type(obj) is not dict:
        raise InvalidEvent("event", f"must be an object, got {type(obj).__name__}")
    if "format" in obj and (type(obj["format"]) is not int or obj["format"] != FORMAT):
        raise InvalidEvent("format", f"unknown format version {obj['format']!r} (reads {FORMAT})")
    if obj.keys() != _EVENT_KEY_SET:
        _exact_keys(obj, "event", _EVENT_KEYS)
    hlc = obj["hlc"]
    if type(hlc) is not dict or hlc.keys() != _HLC_KEY_SET:
        _exact_keys(hlc, "hlc", _HLC_KEYS)
    origin = obj["origin"]
    validate_token(origin, "origin")
    stamp = Timestamp(hlc["wall_ms"], hlc["logical"], origin)  # fields say "hlc.*"
    try:
        change = _change_from_obj(obj["change"])
    except InvalidEvent as exc:
        raise prefixed("change", exc) from None
    parents = obj["parents"]
    if type(parents) is not list:
        _tuple(parents, "parents")  # raises
    return cls(obj["id"], obj["workspace"], origin, stamp, tuple(parents), obj["format"], change)


_EVENT_KEYS = ("change", "format", "hlc", "id", "origin", "parents", "workspace")
_EVENT_KEY_SET = frozenset(_EVENT_KEYS)
_HLC_KEYS = ("logical", "wall_ms")
_HLC_KEY_SET = frozenset(_HLC_KEYS)


@lru_cache(maxsize=64)
def _key_set(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names)


def _exact_keys(obj: object, path: str, names: tuple[str, ...]) -> dict[str, Any]:
    """``obj`` if it is an object with exactly the fields ``names``, else InvalidEvent."""
    if type(obj) is not dict:
        raise InvalidEvent(path, f"must be an object, got {type(obj).__name__}")
    if obj.keys() != _key_set(names):
        unknown = sorted(k for k in obj if k not in names)
        missing = [n for n in names if n not in obj]
        parts = []
        if unknown:
            parts.append("unknown field(s) " + ", ".join(map(repr, unknown)))
        if missing:
            parts.append("missing field(s) " + ", ".join(map(repr, missing)))
        raise InvalidEvent(path, "; ".join(parts))
    return obj


def _tuple(value: object, path: str) -> tuple[Any, ...]:
    if type(value) is not list:
        raise InvalidEvent(path, f"must be an array, got {type(value).__name__}")
    return tuple(value)


_PROPERTY_KEYS = ("default", "name", "property_id", "type")
_PROPERTY_KEY_SET = frozenset(_PROPERTY_KEYS)
_CONNECTION_KEYS = ("from_table_id", "to_table_id")
_CONNECTION_KEY_SET = frozenset(_CONNECTION_KEYS)
_SORT_KEY_KEYS = ("order", "property_id")
_SORT_KEY_KEY_SET = frozenset(_SORT_KEY_KEYS)
_RESOLUTION_KEYS = ("conflict_key", "losers", "winner")
_RESOLUTION_KEY_SET = frozenset(_RESOLUTION_KEYS)


def _property_from_obj(obj: object, path: str) -> PropertyDef:
    if type(obj) is not dict or obj.keys() != _PROPERTY_KEY_SET:
        _exact_keys(obj, path, _PROPERTY_KEYS)  # raises
    d: dict[str, Any] = obj  # type: ignore[assignment]
    try:
        return PropertyDef(d["property_id"], d["name"], d["type"], d["default"])
    except InvalidEvent as exc:
        raise prefixed(path, exc) from None


def _connection_from_obj(obj: object, path: str) -> Connection:
    if type(obj) is not dict or obj.keys() != _CONNECTION_KEY_SET:
        _exact_keys(obj, path, _CONNECTION_KEYS)  # raises
    d: dict[str, Any] = obj  # type: ignore[assignment]
    try:
        return Connection(d["from_table_id"], d["to_table_id"])
    except InvalidEvent as exc:
        raise prefixed(path, exc) from None


def _sort_key_from_obj(obj: object, path: str) -> SortKey:
    if type(obj) is not dict or obj.keys() != _SORT_KEY_KEY_SET:
        _exact_keys(obj, path, _SORT_KEY_KEYS)  # raises
    d: dict[str, Any] = obj  # type: ignore[assignment]
    try:
        return SortKey(d["property_id"], d["order"])
    except InvalidEvent as exc:
        raise prefixed(path, exc) from None


def _resolution_from_obj(obj: object, path: str) -> Resolution:
    d = _exact_keys(obj, path, _RESOLUTION_KEYS)
    with under(path):
        return Resolution(d["conflict_key"], d["winner"], _tuple(d["losers"], "losers"))


def _many(decode: Callable[[object, str], Any]) -> Callable[[object, str], tuple[Any, ...]]:
    def decode_all(value: object, path: str) -> tuple[Any, ...]:
        return tuple([decode(v, f"{path}[{i}]") for i, v in enumerate(_tuple(value, path))])

    return decode_all


_properties_from_obj = _many(_property_from_obj)
_connections_from_obj = _many(_connection_from_obj)
_resolutions_from_obj = _many(_resolution_from_obj)
_sort_keys_from_obj = _many(_sort_key_from_obj)

# One decoder per kind: it checks the exact field set with one comparison and
# passes the fields to the dataclass, whose __post_init__ checks their values
# (the one place each rule lives). Nested parts are decoded first, in field order.
_ChangeDecoder = Callable[[dict[str, Any]], Change]
_DECODERS: dict[str, tuple[frozenset[str], tuple[str, ...], _ChangeDecoder]] = {}


def _decoder(cls: type[_ChangeBase]) -> Callable[[_ChangeDecoder], _ChangeDecoder]:
    names = ("kind", *(f.name for f in fields(cls)))

    def register(decode: _ChangeDecoder) -> _ChangeDecoder:
        _DECODERS[cls.KIND] = (frozenset(names), names, decode)
        return decode

    return register


@_decoder(CreateNodeTable)
def _create_node_table(d: dict[str, Any]) -> Change:
    props = _properties_from_obj(d["properties"], "properties")
    return CreateNodeTable(d["table_id"], d["name"], props, d["primary_key"])


@_decoder(CreateRelTable)
def _create_rel_table(d: dict[str, Any]) -> Change:
    conns = _connections_from_obj(d["connections"], "connections")
    props = _properties_from_obj(d["properties"], "properties")
    return CreateRelTable(d["table_id"], d["name"], conns, props, d["multiplicity"])


@_decoder(AddProperty)
def _add_property(d: dict[str, Any]) -> Change:
    return AddProperty(d["table_id"], _property_from_obj(d["property"], "property"))


@_decoder(DropProperty)
def _drop_property(d: dict[str, Any]) -> Change:
    return DropProperty(d["table_id"], d["property_id"])


@_decoder(RenameProperty)
def _rename_property(d: dict[str, Any]) -> Change:
    return RenameProperty(d["table_id"], d["property_id"], d["new_name"])


@_decoder(RenameTable)
def _rename_table(d: dict[str, Any]) -> Change:
    return RenameTable(d["table_id"], d["new_name"])


@_decoder(DropTable)
def _drop_table(d: dict[str, Any]) -> Change:
    return DropTable(d["table_id"])


@_decoder(AddConnection)
def _add_connection(d: dict[str, Any]) -> Change:
    return AddConnection(d["table_id"], _connection_from_obj(d["connection"], "connection"))


@_decoder(DropConnection)
def _drop_connection(d: dict[str, Any]) -> Change:
    return DropConnection(d["table_id"], _connection_from_obj(d["connection"], "connection"))


@_decoder(CommentOnTable)
def _comment_on_table(d: dict[str, Any]) -> Change:
    return CommentOnTable(d["table_id"], d["comment"])


@_decoder(SetSortedBy)
def _set_sorted_by(d: dict[str, Any]) -> Change:
    return SetSortedBy(d["table_id"], _sort_keys_from_obj(d["keys"], "keys"))


@_decoder(Merge)
def _merge(d: dict[str, Any]) -> Change:
    return Merge(_resolutions_from_obj(d["resolutions"], "resolutions"))


@_decoder(Tag)
def _tag(d: dict[str, Any]) -> Change:
    return Tag(d["name"])


assert set(_DECODERS) == set(CHANGE_KINDS), "every change kind needs a decoder"


def _change_from_obj(obj: object) -> Change:
    if type(obj) is not dict:
        raise InvalidEvent("", f"must be an object, got {type(obj).__name__}")
    kind = obj.get("kind")
    entry = _DECODERS.get(kind) if type(kind) is str else None
    if entry is None:
        raise InvalidEvent("kind", f"unknown change kind {kind!r}")
    key_set, names, decode = entry
    if obj.keys() != key_set:
        _exact_keys(obj, "", names)  # raises, naming the unknown and missing fields
    return decode(obj)


# ---------------------------------------------------------------- creating events

ChangeBuilder = Callable[[str], Change]
PropertySpec = tuple[str, str, DefaultValue] | tuple[str, str]


def _build_props(event_id: str, specs: Iterable[PropertySpec]) -> tuple[PropertyDef, ...]:
    out = []
    for i, spec in enumerate(specs):
        name, type_text = spec[0], spec[1]
        default = spec[2] if len(spec) > 2 else None
        with under(f"properties[{i}]"):
            out.append(PropertyDef(f"{event_id}/p{i}", name, _normalized(type_text), default))
    return tuple(out)


def _normalized(type_text: str) -> str:
    with under_type("type"):
        return canonical_type(type_text)


def build_node_table(
    name: str, properties: Sequence[PropertySpec], primary_key: str
) -> ChangeBuilder:
    """Builder for ``new_event``: properties as (name, type[, default]); primary key by name."""

    def build(eid: str) -> Change:
        props = _build_props(eid, properties)
        pk = [p.property_id for p in props if p.name == primary_key]
        if not pk:
            raise InvalidEvent("primary_key", f"no property named {primary_key!r}")
        return CreateNodeTable(eid, name, props, pk[0])

    return build


def build_rel_table(
    name: str,
    connections: Iterable[tuple[str, str]],
    properties: Sequence[PropertySpec] = (),
    multiplicity: str = "MANY_MANY",
) -> ChangeBuilder:
    """Builder for ``new_event``: connections as (from_table_id, to_table_id) pairs, each
    once (a pair given twice is refused, never dropped: Kuzu refuses it too; the schema
    model's rule ``duplicate-connection`` says so before anything is built)."""
    pairs = list(connections)

    def build(eid: str) -> Change:
        conns = tuple(sorted({Connection(f, t) for f, t in pairs}))
        if len(conns) != len(pairs):
            raise InvalidEvent("connections", "a FROM/TO pair is given twice")
        return CreateRelTable(eid, name, conns, _build_props(eid, properties), multiplicity)

    return build


def build_add_property(
    table_id: str, name: str, type_text: str, default: DefaultValue = None
) -> ChangeBuilder:
    """Builder for ``new_event`` adding one property to a table."""

    def build(eid: str) -> Change:
        with under("property"):
            prop = PropertyDef(f"{eid}/p0", name, _normalized(type_text), default)
        return AddProperty(table_id, prop)

    return build


def new_event(
    clock: HybridLogicalClock,
    workspace: str,
    parents: Iterable[str],
    change: Change | ChangeBuilder,
) -> Event:
    """Stamp a new event: observe the parents on the clock, tick, build and validate.

    The parents are stored events, so they are followed without a drift check
    (the store refuses an event too far ahead at append: ``store.base.check_drift``).

    ``change`` is a change, or a builder called with the new event id (for
    changes that create ids). Checksums belong to the stored record (codec).
    """
    parent_ids = tuple(sorted(set(parents)))
    for i, parent in enumerate(parent_ids):
        # stored parents passed the store's drift check when they were appended
        clock.observe(parse_event_id(parent, f"parents[{i}]"), check_drift=False)
    hlc = clock.tick()
    eid = event_id(clock.origin, hlc)
    if not isinstance(change, _ChangeBase):
        with under("change"):
            change = change(eid)
    return Event(eid, workspace, clock.origin, hlc, parent_ids, FORMAT, change)
