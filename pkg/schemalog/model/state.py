"""The schema state as values: tables, the name and reference indexes.

State is immutable and persistent (``PMap`` tries): ``schema.apply`` returns a
new state sharing everything it did not touch, so a caller can keep any earlier
state (versions, compat, a rollback point), and one step costs O(size of the
touched table + log n). Replay's open batch, which keeps no earlier state,
applies to a ``working_copy`` instead, whose maps are updated in place and
whose writes an ``UndoLog`` can take back.

Everything is keyed by stable ids (see events): a table rename changes one
name, and every rel connection still points at the same id -- the rename
cascade is automatic. ``rel_references`` answers "which rel tables point here".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar, Union

from schemalog.model.names import catalog_key
from schemalog.model.parts import Connection, PropertyDef, SortKey, unchecked
from schemalog.model.pmap import PMap

__all__ = [
    "NODE",
    "REL",
    "STATE_FORMAT",
    "SchemaState",
    "StateMap",
    "TableState",
    "UndoLog",
    "empty_state",
    "persistent",
    "rel_references",
    "table_by_name",
    "working_copy",
]

NODE = "NODE"
REL = "REL"
STATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class TableState:
    """One table. Properties keep creation order (Kuzu's column order)."""

    table_id: str
    kind: str  # NODE or REL
    name: str
    properties: tuple[PropertyDef, ...]
    primary_key: str | None  # property id, node tables only
    connections: tuple[Connection, ...]  # sorted, rel tables only
    multiplicity: str | None  # rel tables only
    comment: str = ""
    sorted_by: tuple[SortKey, ...] = ()  # node tables on LadybugDB only
    # Two indexes of ``properties``, built on first use; not part of the value.
    # ``apply`` hands updated copies to the table it derives (never mutated).
    # catalog_key(name) -> property:
    _by_key: dict[str, PropertyDef] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )
    # the property ids in order: a lookup by id is a tuple search in C, not a loop
    _ids: tuple[str, ...] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    def property(self, property_id: str) -> PropertyDef | None:
        ids = self._ids
        if ids is None:
            ids = self._id_index()
        if property_id in ids:
            return self.properties[ids.index(property_id)]  # the first, as a scan would
        return None

    def property_named(self, name: str) -> PropertyDef | None:
        return self._name_index().get(catalog_key(name))

    def _name_index(self) -> dict[str, PropertyDef]:
        index = self._by_key
        if index is None:
            index = {}
            for prop in self.properties:  # the first of equal keys wins, as a scan would
                index.setdefault(catalog_key(prop.name), prop)
            object.__setattr__(self, "_by_key", index)
        return index

    def _id_index(self) -> tuple[str, ...]:
        ids = self._ids
        if ids is None:
            ids = tuple([prop.property_id for prop in self.properties])
            object.__setattr__(self, "_ids", ids)
        return ids


K = TypeVar("K")
V = TypeVar("V")


_MISSING = object()  # a saved value of a key that was not there


class UndoLog:
    """What a batch's in-place writes overwrote, to take them back (replay's rollback).

    A working map saves a key's value once per batch, before its first write
    (``saved``: the value at the last commit, ``_MISSING`` if absent); an object
    changed in place (a ``schema_drafts.TableDraft``) logs an ``(undo, *args)``
    entry per write, in ``entries``, undone the last first. ``clear`` is the
    commit (the working state is the committed one: nothing is copied), ``undo``
    the rollback.
    """

    __slots__ = ("entries", "maps")

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []
        self.maps: list[_WorkMap[Any, Any]] = []  # every working map logging here

    def __len__(self) -> int:
        return len(self.entries) + sum(len(m.saved or ()) for m in self.maps)

    def clear(self) -> None:
        self.entries.clear()
        for m in self.maps:
            if m.saved:
                m.saved.clear()

    def undo(self) -> None:
        """Take every logged write back: the maps' entries and the objects' fields."""
        for entry in reversed(self.entries):
            entry[0](*entry[1:])
        for m in self.maps:  # each key to its committed value, whatever came after
            for key, old in (m.saved or {}).items():
                if old is _MISSING:
                    dict.pop(m, key, None)
                else:
                    dict.__setitem__(m, key, old)
        self.clear()


class _WorkMap(dict[K, V]):
    """A dict with ``PMap``'s two updates, made in place: the maps of a working state.

    With an undo log (``working_copy(state, undo)``), the first update of a key in a
    batch saves its value first (``UndoLog``).
    """

    __slots__ = ("log", "saved")

    def __init__(self, items: Any = (), undo: UndoLog | None = None) -> None:
        dict.__init__(self, items)
        self.log = undo
        self.saved: dict[K, Any] | None = None
        if undo is not None:
            self.saved = {}
            undo.maps.append(self)

    def set(self, key: K, value: V) -> _WorkMap[K, V]:
        saved = self.saved
        if saved is not None and key not in saved:  # before the write: a crash in it
            saved[key] = dict.get(self, key, _MISSING)  # is still taken back
        self[key] = value
        return self

    def delete(self, key: K) -> _WorkMap[K, V]:
        saved = self.saved
        if saved is not None and key not in saved:
            saved[key] = dict.get(self, key, _MISSING)
        self.pop(key, None)
        return self


StateMap = Union[PMap[K, V], _WorkMap[K, V]]  # noqa: UP007  # a generic alias needs Union


@dataclass(frozen=True, slots=True)
class SchemaState:
    """All tables by id, plus two indexes kept in step by ``apply``.

    The maps are persistent (``PMap``) except in a *working* state
    (``working_copy``), whose maps ``apply`` updates in place.
    """

    tables: StateMap[str, TableState]
    names: StateMap[str, str]  # catalog_key(name) -> table id
    referenced_by: StateMap[str, frozenset[str]]  # node table id -> ids of rel tables using it


_new_state = unchecked(SchemaState)
_new_table = unchecked(TableState)  # every field, _by_key and _ids last
_new_property = unchecked(PropertyDef)
# Connection's own order, compared in C (order=True compares in a Python method)
_pair = attrgetter("from_table_id", "to_table_id")
_type = attrgetter("type")


def empty_state() -> SchemaState:
    return SchemaState(PMap(), PMap(), PMap())


def working_copy(state: SchemaState, undo: UndoLog | None = None) -> SchemaState:
    """A copy of ``state`` that ``apply`` updates in place (its maps are dicts).

    For replay's open batch only: a path-copying update costs about fifteen
    times a dict update, and a batch needs no state but its last one. A
    rejected event still leaves a working state untouched (the handlers write
    only after every check). With an ``undo`` log every write saves what it
    overwrites first, so replay's rollback takes a failed batch back in place
    (``UndoLog.undo``) and its commit only clears the log: nothing is copied per
    batch. Never hand a working state to anyone who keeps it: ``persistent`` first.
    """
    return _new_state(
        _work_map(state.tables, undo),
        _work_map(state.names, undo),
        _work_map(state.referenced_by, undo),
    )


def _work_map(items: StateMap[K, V], undo: UndoLog | None) -> _WorkMap[K, V]:
    # a dict is copied whole in C; a PMap item by item
    return _WorkMap(items if type(items) is _WorkMap else items.items(), undo)


def persistent(state: SchemaState) -> SchemaState:
    """``state`` with persistent maps: itself, or a persistent copy of a working state."""
    if type(state.tables) is PMap:
        return state
    return _new_state(
        PMap.from_items(state.tables.items()),
        PMap.from_items(state.names.items()),
        PMap.from_items(state.referenced_by.items()),
    )


# ---------------------------------------------------------------- queries


def table_by_name(state: SchemaState, name: str) -> TableState | None:
    table_id = state.names.get(catalog_key(name))
    return state.tables.get(table_id) if table_id is not None else None


def rel_references(state: SchemaState, table_id: str) -> tuple[tuple[str, Connection], ...]:
    """Every (rel table id, connection) whose FROM or TO is ``table_id``, sorted."""
    out = []
    for rel_id in state.referenced_by.get(table_id, frozenset()) or ():
        rel = state.tables[rel_id]
        for conn in rel.connections:
            if table_id in (conn.from_table_id, conn.to_table_id):
                out.append((rel_id, conn))
    return tuple(sorted(out))
