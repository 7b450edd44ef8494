"""Parts of events and the checks they share: ids, property definitions, FROM/TO pairs.

Split from events.py to keep each file to one concept: this module holds the
value objects that events contain and the field checks (each raising
InvalidEvent with the field path) that events and snapshots reuse. The id
scheme itself is documented in events.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, TypeVar

from schemalog.errors import InvalidEvent
from schemalog.model.clock import Timestamp
from schemalog.model.names import catalog_key, validate_name, validate_text
from schemalog.model.types import DefaultValue, KuzuType, check_default, parse_type

__all__ = [
    "MAX_PARENTS",
    "MAX_PROPERTIES",
    "Connection",
    "PropertyDef",
    "Resolution",
    "canonical_type",
    "check_connection",
    "check_event_id",
    "check_ids",
    "check_own_ids",
    "check_properties",
    "check_property_id",
    "check_tuple",
    "check_type",
    "event_id",
    "parse_event_id",
    "parsed_type",
    "prefixed",
    "remember_event_id",
    "remember_property_id",
    "unchecked",
    "under",
    "under_type",
]

MAX_PARENTS = 256
MAX_PROPERTIES = 1024

_EVENT_ID_RE = re.compile(
    r"([A-Za-z0-9][A-Za-z0-9_.-]{0,63})@([1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})\Z"
)
_PROPERTY_ID_RE = re.compile(r"(.+)/p(0|[1-9][0-9]{0,5})\Z")


# ---------------------------------------------------------------- helpers


class under:
    """Re-raise InvalidEvent from nested validation with the enclosing field path.

    A class, not @contextmanager: it runs for every nested part of every
    decoded event, and a generator-based manager costs several times more.
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if isinstance(exc, InvalidEvent):
            raise prefixed(self.prefix, exc) from None


def prefixed(prefix: str, exc: InvalidEvent) -> InvalidEvent:
    """``exc`` re-rooted under ``prefix`` (what ``under`` raises; for try/except callers)."""
    return InvalidEvent(f"{prefix}.{exc.field}" if exc.field else prefix, exc.reason)


def event_id(origin: str, hlc: Timestamp) -> str:
    """The id of the event stamped ``hlc`` by ``origin``."""
    return f"{origin}@{hlc.wall_ms}.{hlc.logical}"


# Bounded caches of ids already parsed/checked: table ids and parents repeat
# across many events of a log. Both map an immutable str to the result of a
# pure function of it; cleared when full, so they never hold more than this.
_CACHE_MAX = 4096
_ID_STAMPS: dict[str, Timestamp] = {}
_GOOD_PROPERTY_IDS: set[str] = set()


def parse_event_id(value: object, field: str = "id") -> Timestamp:
    """The timestamp an event id encodes, or InvalidEvent if it is not an event id."""
    if type(value) is not str:
        raise InvalidEvent(field, f"event id must be a string, got {type(value).__name__}")
    stamp = _ID_STAMPS.get(value)
    if stamp is None:
        stamp = _event_id_timestamp(value)
        if stamp is None:
            raise InvalidEvent(field, f"{value!r} is not an event id (origin@wall_ms.logical)")
        if len(_ID_STAMPS) >= _CACHE_MAX:
            _ID_STAMPS.clear()
        _ID_STAMPS[value] = stamp
    return stamp


def remember_event_id(value: str, stamp: Timestamp) -> None:
    """Cache ``parse_event_id(value) == stamp`` for an id just proved to be ``event_id(o, stamp)``.

    Only for ``value == event_id(stamp.origin, stamp)`` with ``stamp`` a valid
    Timestamp: its origin passed the same pattern as the id's origin part, and
    its ints print as the id pattern's digits, so parsing ``value`` gives
    ``stamp``. Events call it once validated: their ids come back as parents.
    """
    if len(_ID_STAMPS) >= _CACHE_MAX:
        _ID_STAMPS.clear()
    _ID_STAMPS[value] = stamp


def _event_id_timestamp(value: str) -> Timestamp | None:
    m = _EVENT_ID_RE.match(value)
    if m is None:
        return None
    try:
        return Timestamp(int(m.group(2)), int(m.group(3)), m.group(1))
    except InvalidEvent:
        return None


def check_event_id(value: object, field: str) -> str:
    if type(value) is not str or value not in _ID_STAMPS:
        parse_event_id(value, field)
    return value  # type: ignore[return-value]  # parse_event_id proved it a str


def check_property_id(value: object, field: str) -> str:
    if type(value) is str and value in _GOOD_PROPERTY_IDS:
        return value
    if type(value) is not str:
        raise InvalidEvent(field, f"property id must be a string, got {type(value).__name__}")
    m = _PROPERTY_ID_RE.match(value)
    if m is None or _EVENT_ID_RE.match(m.group(1)) is None:
        raise InvalidEvent(field, f"{value!r} is not a property id (event_id/pN)")
    if len(_GOOD_PROPERTY_IDS) >= _CACHE_MAX:
        _GOOD_PROPERTY_IDS.clear()
    _GOOD_PROPERTY_IDS.add(value)
    return value


def remember_property_id(value: str) -> None:
    """Cache ``check_property_id(value)`` for ``value == f"{event_id}/p{n}"``, the id a
    validated event gives its n-th new property (n < MAX_PROPERTIES): it matches
    both patterns by construction, and drop/rename events name it again later."""
    if len(_GOOD_PROPERTY_IDS) >= _CACHE_MAX:
        _GOOD_PROPERTY_IDS.clear()
    _GOOD_PROPERTY_IDS.add(value)


def check_tuple(value: object, field: str, limit: int) -> tuple[Any, ...]:
    if type(value) is not tuple:
        raise InvalidEvent(field, f"must be a tuple, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidEvent(field, f"has {len(value)} items, more than {limit}")
    return value


@lru_cache(maxsize=4096)
def parsed_type(text: str) -> KuzuType:
    return parse_type(text)


def canonical_type(text: str) -> str:
    """Canonical spelling of a Kuzu type (cached: logs repeat a few types many times)."""
    return str(parsed_type(text))


_CANONICAL_TYPES: set[str] = set()  # grows with the distinct canonical types seen; small


def check_type(value: object, field: str) -> str:
    if type(value) is not str:
        raise InvalidEvent(field, f"type must be a string, got {type(value).__name__}")
    if value in _CANONICAL_TYPES:
        return value
    with under_type(field):
        canonical = canonical_type(value)
    if canonical == value:
        _CANONICAL_TYPES.add(value)
    else:
        raise InvalidEvent(field, f"type {value!r} is not canonical; write {canonical!r}")
    return value


@contextmanager
def under_type(field: str) -> Iterator[None]:
    try:
        yield
    except InvalidEvent as exc:
        raise InvalidEvent(field, exc.reason) from None


T = TypeVar("T")


def unchecked(cls: type[T]) -> Callable[..., T]:
    """``cls(*values)`` without ``__post_init__``, for values the caller has just validated.

    Only for the decoding fast path (events.py), which proves every field valid
    first. It sets the slots through their descriptors: a frozen dataclass's
    ``__init__`` goes through ``object.__setattr__`` per field, and building
    the few objects of a small event cost about as much as validating it. The
    function is generated with one parameter and one setter call per field
    (as dataclasses generate ``__init__``): a loop over the setters cost a
    third more.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    for i, name in enumerate(names):
        scope[f"set{i}"] = getattr(cls, name).__set__
    params = ", ".join(f"v{i}" for i in range(len(names)))
    body = "".join(f"    set{i}(obj, v{i})\n" for i in range(len(names)))
    source = f"def make({params}):\n    obj = new(cls)\n{body}    return obj\n"
    exec(source, scope)  # built from field names only, no outside input
    make: Callable[..., T] = scope["make"]
    make.__qualname__ = f"unchecked({cls.__name__})"
    return make


# ---------------------------------------------------------------- parts


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """A property: stable id, name, canonical Kuzu type, typed default (None = no default)."""

    property_id: str
    name: str
    type: str
    default: DefaultValue = None

    def __post_init__(self) -> None:
        check_property_id(self.property_id, "property_id")
        validate_name(self.name, "name")
        check_type(self.type, "type")
        if self.default is not None:
            check_default(self.default, parsed_type(self.type), "default")


@dataclass(frozen=True, slots=True, order=True)
class Connection:
    """One FROM/TO pair of a rel table, by node-table id."""

    from_table_id: str
    to_table_id: str

    def __post_init__(self) -> None:
        check_event_id(self.from_table_id, "from_table_id")
        check_event_id(self.to_table_id, "to_table_id")


SORT_ORDERS = ("ASC", "DESC")


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of a SORTED BY: a property of the table, by id, and its order."""

    property_id: str
    order: str  # ASC or DESC

    def __post_init__(self) -> None:
        check_property_id(self.property_id, "property_id")
        if type(self.order) is not str or self.order not in SORT_ORDERS:
            raise InvalidEvent("order", f"{self.order!r} is not one of {SORT_ORDERS}")


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a merge resolved one conflict: the winning event and the losing ones."""

    conflict_key: str
    winner: str
    losers: tuple[str, ...]

    def __post_init__(self) -> None:
        validate_text(self.conflict_key, "conflict_key", 512)
        if not self.conflict_key:
            raise InvalidEvent("conflict_key", "is empty")
        check_event_id(self.winner, "winner")
        check_ids(self.losers, "losers", allow_empty=False)
        if self.winner in self.losers:
            raise InvalidEvent("losers", f"contains the winner {self.winner!r}")


def check_ids(value: object, field: str, allow_empty: bool) -> tuple[str, ...]:
    ids = check_tuple(value, field, MAX_PARENTS)
    for i, item in enumerate(ids):
        if type(item) is not str or item not in _ID_STAMPS:  # else known good
            check_event_id(item, f"{field}[{i}]")
    if not ids and not allow_empty:
        raise InvalidEvent(field, "is empty")
    if len(ids) > 1 and list(ids) != sorted(set(ids)):  # 0 or 1 ids are sorted, unique
        raise InvalidEvent(field, "must be sorted and without duplicates")
    return ids


def check_properties(value: object, field: str) -> tuple[PropertyDef, ...]:
    props = check_tuple(value, field, MAX_PROPERTIES)
    seen: dict[str, int] = {}
    for i, prop in enumerate(props):
        if type(prop) is not PropertyDef:
            raise InvalidEvent(f"{field}[{i}]", f"must be a PropertyDef, got {type(prop).__name__}")
        key = catalog_key(prop.name)
        if key in seen:
            raise InvalidEvent(
                f"{field}[{i}].name",
                f"{prop.name!r} duplicates {field}[{seen[key]}] (case-insensitive)",
            )
        seen[key] = i
    return props


def check_connection(value: object, field: str) -> Connection:
    if type(value) is not Connection:
        raise InvalidEvent(field, f"must be a Connection, got {type(value).__name__}")
    return value


def check_own_ids(event_id: str, table_id: str, props: Sequence[PropertyDef]) -> None:
    if table_id != event_id:
        raise InvalidEvent("change.table_id", f"{table_id!r} must equal the event id {event_id!r}")
    for i, prop in enumerate(props):
        if prop.property_id != f"{event_id}/p{i}":
            raise InvalidEvent(
                f"change.properties[{i}].property_id",
                f"{prop.property_id!r} must be {event_id + '/p' + str(i)!r}",
            )
