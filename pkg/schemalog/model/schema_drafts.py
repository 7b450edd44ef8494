"""Tables that replay's fused path changes in place: a change costs O(1), not a copy.

``apply`` derives a new ``TableState`` for every change: a table of n
properties gets a new property tuple, id tuple and name index, 2n to 4n
reference-count writes to objects scattered over the heap. Measured in a
replay of the bench log (about 30 properties a table) that was 7 µs a
change, the largest share of a replay; the same changes on dicts took
1.3 µs. So replay's fused path (log/replay/fused.py) keeps each table it
changes as a ``TableDraft`` (properties in a dict by id, in column order, and
a dict by catalog key) inside the working state's tables map
(``DraftTables``), and the ``DRAFT_HANDLERS`` change drafts in place.

Everyone else reads the map through its mapping methods (``get``, ``[]``,
``items``, ``values``: every object handler of ``schema.apply``, and
``persistent`` at the end of a replay) and gets a ``TableState``, frozen from
the draft once per run of changes and kept until the next one. A handler of
``apply`` that changes a table puts a ``TableState`` back, which the next
draft change thaws again.

A replay's batch is rolled back in place: each draft handler logs what it
overwrites (the undo functions at the end) in the working state's undo log
before it writes, as the working maps do (``state.working_copy``), so a
commit neither copies nor freezes anything. tests/test_replay_undo.py fails a
batch after every kind of change and compares with the commit.

A creation puts the ``TableState`` that ``apply`` would put (its first
change thaws it like any other).

Each draft handler refuses (``Refusal``, nothing changed) wherever the
object handler of the same kind rejects, and whenever it is not sure: a table
whose property ids or name keys repeat (``apply`` never builds one; a draft
needs them unique) is never thawed. A refusal sends the record to the staged
path, whose handler decides and words the rejection, so the rules' messages
live in schema.py alone. tests/test_replay_fused.py holds the fused path
(drafts) and the staged path (``apply``) equal.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from operator import ge, indexOf
from typing import Any

from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CommentOnTable,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Merge,
    RenameProperty,
    RenameTable,
    Tag,
)
from schemalog.model.names import catalog_key, reserved_property_name
from schemalog.model.parts import Connection, PropertyDef, SortKey
from schemalog.model.schema_checks import Refusal, _add_refs, _drop_refs
from schemalog.model.state import (
    NODE,
    REL,
    SchemaState,
    TableState,
    UndoLog,
    _new_property,
    _new_state,
    _new_table,
    _pair,
    _WorkMap,
)

__all__ = ["DRAFT_HANDLERS", "DraftTables", "TableDraft", "with_drafts"]


class TableDraft:
    """A table being changed in place (module doc); ``freeze`` gives its TableState."""

    __slots__ = (
        "comment",
        "connections",
        "frozen",
        "keys",
        "kind",
        "multiplicity",
        "name",
        "primary_key",
        "props",
        "serial",
        "sorted_by",
        "table_id",
    )

    def __init__(self, table: TableState, props: dict[str, PropertyDef]) -> None:
        self.table_id = table.table_id
        self.kind = table.kind
        self.name = table.name
        self.props = props  # property id -> property, in column order
        self.keys = {catalog_key(p.name): p for p in props.values()}
        self.primary_key = table.primary_key
        self.connections = table.connections
        self.multiplicity = table.multiplicity
        self.comment = table.comment
        self.sorted_by: tuple[SortKey, ...] = table.sorted_by
        self.serial = sum(1 for p in props.values() if p.type == "SERIAL")
        self.frozen: TableState | None = table  # None: changed since frozen

    def freeze(self) -> TableState:
        frozen = self.frozen
        if frozen is None:
            props = self.props
            frozen = self.frozen = _new_table(
                self.table_id,
                self.kind,
                self.name,
                tuple(props.values()),
                self.primary_key,
                self.connections,
                self.multiplicity,
                self.comment,
                self.sorted_by,
                None,  # its indexes are built if it is ever asked (a commit's copy rarely is)
                None,
            )
        return frozen


def _thaw(table: TableState) -> TableDraft | None:
    """A draft of ``table``, or None when its property ids or name keys repeat or
    its FROM/TO pairs are not sorted and unique (the connection handlers search
    them by bisection: a table from elsewhere is left to the object handlers)."""
    props = {p.property_id: p for p in table.properties}
    if len(props) != len(table.properties):
        return None
    pairs = list(map(_pair, table.connections))
    if len(pairs) > 1 and any(map(ge, pairs, pairs[1:])):
        return None
    draft = TableDraft(table, props)
    return draft if len(draft.keys) == len(props) else None


class DraftTables(_WorkMap[str, Any]):
    """A working state's tables map whose values may be drafts (module doc)."""

    __slots__ = ("entries",)

    def __init__(self, items: Any, undo: UndoLog) -> None:
        super().__init__(items, undo)
        self.entries = undo.entries  # the drafts' undo entries (module doc)

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, default)
        return value.freeze() if type(value) is TableDraft else value

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        return value.freeze() if type(value) is TableDraft else value

    def items(self) -> Any:
        return [(k, v.freeze() if type(v) is TableDraft else v) for k, v in dict.items(self)]

    def values(self) -> Any:
        return [v.freeze() if type(v) is TableDraft else v for v in dict.values(self)]

    def draft(self, table_id: str) -> TableDraft:
        """The table's draft, thawed on its first change; Refusal if there is none."""
        value = dict.get(self, table_id)
        if type(value) is TableDraft:
            return value
        draft = _thaw(value) if value is not None else None
        if draft is None:
            raise Refusal("", "")  # no such table, or one a draft cannot hold
        saved = self.saved
        if table_id not in saved:  # type: ignore[operator]
            saved[table_id] = value  # type: ignore[index]
        dict.__setitem__(self, table_id, draft)
        return draft


def with_drafts(state: SchemaState) -> SchemaState:
    """``state`` (a working state with an undo log) with a tables map that can hold drafts."""
    if type(state.tables) is DraftTables:
        return state
    names, refs = state.names, state.referenced_by
    undo = names.log if type(names) is _WorkMap else None
    if not (type(names) is _WorkMap and type(refs) is _WorkMap and undo is not None):
        raise TypeError("drafts need a working state with an undo log (state.working_copy)")
    return _new_state(DraftTables(state.tables.items(), undo), names, refs)


# The handlers take the change's fields in its dataclass's order (what
# encoding.proved_line proves), on a state from ``with_drafts``; each
# checks everything before its first write, and logs what its writes
# overwrite (the undo functions below) before it makes them.


def _refuse() -> Refusal:
    return Refusal("", "")  # the object handler decides and says why


def _reserved(name: str) -> bool:
    return name[:1] == "_" and reserved_property_name(name) is not None


def _add_property(state: SchemaState, table_id: str, new: PropertyDef) -> SchemaState:
    tables: DraftTables = state.tables  # type: ignore[assignment]  # (no call: per event)
    draft = tables.draft(table_id)
    key = catalog_key(new.name)
    if new.property_id in draft.props or key in draft.keys or _reserved(new.name):
        raise _refuse()
    if new.type == "SERIAL":
        raise _refuse()
    tables.entries.append((_unadd_property, draft, new.property_id, key, draft.frozen))
    draft.props[new.property_id] = new  # the last column: its undo leaves the order
    draft.keys[key] = new
    draft.frozen = None
    return state


def _drop_property(state: SchemaState, table_id: str, property_id: str) -> SchemaState:
    tables: DraftTables = state.tables  # type: ignore[assignment]  # (no call: per event)
    draft = tables.draft(table_id)
    props = draft.props
    prop = props.get(property_id)
    if prop is None or draft.primary_key == property_id:
        raise _refuse()
    key = catalog_key(prop.name)
    # its column's place, for the undo (a search in C; keeping a copy of the dict
    # instead held more until the commit, which then freed it cold)
    at = indexOf(props, property_id)
    tables.entries.append(
        (_undrop_property, draft, at, prop, key, draft.sorted_by, draft.serial, draft.frozen)
    )
    del props[property_id]
    del draft.keys[key]  # keys are unique in a draft: it is prop's
    if draft.sorted_by:
        draft.sorted_by = tuple([k for k in draft.sorted_by if k.property_id != property_id])
    if prop.type == "SERIAL":
        draft.serial -= 1
    draft.frozen = None
    return state


def _rename_property(
    state: SchemaState, table_id: str, property_id: str, new_name: str
) -> SchemaState:
    tables: DraftTables = state.tables  # type: ignore[assignment]  # (no call: per event)
    draft = tables.draft(table_id)
    prop = draft.props.get(property_id)
    if prop is None or prop.type == "SERIAL":
        raise _refuse()
    new_key = catalog_key(new_name)
    other = draft.keys.get(new_key)
    if (other is not None and other.property_id != property_id) or _reserved(new_name):
        raise _refuse()
    old_key = catalog_key(prop.name)
    tables.entries.append((_unrename_property, draft, prop, old_key, new_key, draft.frozen))
    renamed = _new_property(property_id, new_name, prop.type, prop.default)
    draft.props[property_id] = renamed  # an existing key keeps its place: column order
    del draft.keys[old_key]
    draft.keys[new_key] = renamed
    draft.frozen = None
    return state


def _rename_table(state: SchemaState, table_id: str, new_name: str) -> SchemaState:
    tables: DraftTables = state.tables  # type: ignore[assignment]  # (no call: per event)
    draft = tables.draft(table_id)
    names = state.names
    new_key = catalog_key(new_name)
    owner = names.get(new_key)
    if draft.serial or (owner is not None and owner != table_id):
        raise _refuse()
    tables.entries.append((_restore_field, draft, "name", draft.name, draft.frozen))
    names.delete(catalog_key(draft.name)).set(new_key, table_id)  # a working map: logged
    draft.name = new_name
    draft.frozen = None
    return state


def _comment(state: SchemaState, table_id: str, comment: str) -> SchemaState:
    tables: DraftTables = state.tables  # type: ignore[assignment]  # (no call: per event)
    draft = tables.draft(table_id)
    tables.entries.append((_restore_field, draft, "comment", draft.comment, draft.frozen))
    draft.comment = comment
    draft.frozen = None
    return state


def _node_end(tables: DraftTables, table_id: str) -> bool:
    value = dict.get(tables, table_id)
    return value is not None and value.kind == NODE


def _add_connection(state: SchemaState, table_id: str, conn: Connection) -> SchemaState:
    tables: DraftTables = state.tables  # type: ignore[assignment]  # (no call: per event)
    draft = tables.draft(table_id)
    before = draft.connections
    pair = _pair(conn)
    # the pairs are sorted and unique (TableState): its place by a binary search
    at = bisect_left(before, pair, key=_pair)
    if draft.kind != REL or (at < len(before) and _pair(before[at]) == pair):
        raise _refuse()
    if not (_node_end(tables, conn.from_table_id) and _node_end(tables, conn.to_table_id)):
        raise _refuse()
    tables.entries.append((_restore_field, draft, "connections", before, draft.frozen))
    draft.connections = (*before[:at], conn, *before[at:])
    _add_refs(state.referenced_by, table_id, (conn,))  # a working map: logged
    draft.frozen = None
    return state


def _drop_connection(state: SchemaState, table_id: str, conn: Connection) -> SchemaState:
    tables: DraftTables = state.tables  # type: ignore[assignment]  # (no call: per event)
    draft = tables.draft(table_id)
    before = draft.connections
    pair = _pair(conn)
    at = bisect_left(before, pair, key=_pair)  # (sorted and unique, as above)
    if draft.kind != REL or len(before) == 1 or at == len(before) or _pair(before[at]) != pair:
        raise _refuse()
    tables.entries.append((_restore_field, draft, "connections", before, draft.frozen))
    draft.connections = before[:at] + before[at + 1 :]
    _drop_refs(state.referenced_by, table_id, before, draft.connections)  # logged
    draft.frozen = None
    return state


def _drop_table(state: SchemaState, table_id: str) -> SchemaState:
    value = dict.get(state.tables, table_id)  # type: ignore[arg-type]  # a raw draft
    if value is None or state.referenced_by.get(table_id):
        raise _refuse()
    if value.kind == REL:  # working maps: each update logged
        _drop_refs(state.referenced_by, table_id, value.connections, ())
    state.tables.delete(table_id)
    state.names.delete(catalog_key(value.name))
    return state


def _no_change(state: SchemaState, *fields: object) -> SchemaState:
    return state


# Creations (``schema._create_node_table``/``_create_rel_table``'s rules: the id
# and name free, no reserved property name, every FROM/TO a node table) put
# the TableState ``apply`` builds; the table's first change thaws it as usual.


def _new_table_free(state: SchemaState, table_id: str, name: str) -> str:
    """The new table's catalog key, if its id and name are free (else Refusal)."""
    key = catalog_key(name)
    if table_id in state.tables or state.names.get(key) is not None:
        raise _refuse()
    return key


def _any_reserved(properties: tuple[PropertyDef, ...]) -> bool:
    return any(_reserved(prop.name) for prop in properties)


def _create_node_table(
    state: SchemaState,
    table_id: str,
    name: str,
    properties: tuple[PropertyDef, ...],
    primary_key: str,
) -> SchemaState:
    key = _new_table_free(state, table_id, name)
    if _any_reserved(properties):
        raise _refuse()
    table = _new_table(table_id, NODE, name, properties, primary_key, (), None, "", (), None, None)
    state.tables.set(table_id, table)  # working maps: each update logged
    state.names.set(key, table_id)
    return state


def _create_rel_table(
    state: SchemaState,
    table_id: str,
    name: str,
    connections: tuple[Connection, ...],
    properties: tuple[PropertyDef, ...],
    multiplicity: str,
) -> SchemaState:
    key = _new_table_free(state, table_id, name)
    tables: DraftTables = state.tables  # type: ignore[assignment]  # (no call: per event)
    for conn in connections:
        if not (_node_end(tables, conn.from_table_id) and _node_end(tables, conn.to_table_id)):
            raise _refuse()
    if _any_reserved(properties):
        raise _refuse()
    table = _new_table(
        table_id, REL, name, properties, None, connections, multiplicity, "", (), None, None
    )
    tables.set(table_id, table)
    state.names.set(key, table_id)
    _add_refs(state.referenced_by, table_id, connections)  # working maps: logged
    return state


# The undo of each draft write (``state.UndoLog.undo`` calls them, the last first).
# Each sets back what its handler logged, so it also holds after a write that
# stopped half-way; ``frozen`` comes back as it was (None or the frozen table).


def _unadd_property(draft: TableDraft, property_id: str, key: str, frozen: Any) -> None:
    draft.props.pop(property_id, None)
    draft.keys.pop(key, None)
    draft.frozen = frozen


def _undrop_property(
    draft: TableDraft,
    at: int,
    prop: PropertyDef,
    key: str,
    sorted_by: tuple[SortKey, ...],
    serial: int,
    frozen: Any,
) -> None:
    props = draft.props
    if prop.property_id not in props:  # back in its column's place
        items = list(props.items())
        items.insert(at, (prop.property_id, prop))
        draft.props = dict(items)
    draft.keys[key] = prop
    draft.sorted_by = sorted_by
    draft.serial = serial
    draft.frozen = frozen


def _unrename_property(
    draft: TableDraft, prop: PropertyDef, old_key: str, new_key: str, frozen: Any
) -> None:
    draft.props[prop.property_id] = prop  # the key is there: its place is kept
    draft.keys.pop(new_key, None)
    draft.keys[old_key] = prop
    draft.frozen = frozen


def _restore_field(draft: TableDraft, name: str, old: object, frozen: Any) -> None:
    setattr(draft, name, old)
    draft.frozen = frozen


DRAFT_HANDLERS: dict[str, Callable[..., SchemaState]] = {
    AddProperty.KIND: _add_property,
    DropProperty.KIND: _drop_property,
    RenameProperty.KIND: _rename_property,
    RenameTable.KIND: _rename_table,
    DropTable.KIND: _drop_table,
    AddConnection.KIND: _add_connection,
    DropConnection.KIND: _drop_connection,
    CommentOnTable.KIND: _comment,
    Tag.KIND: _no_change,
    Merge.KIND: _no_change,  # (its resolutions act through the effective stream)
    CreateNodeTable.KIND: _create_node_table,
    CreateRelTable.KIND: _create_rel_table,
}
"""``apply`` of the flat kinds, creations (and Merge, which changes no table) on
drafts, given the change's fields (module doc)."""
