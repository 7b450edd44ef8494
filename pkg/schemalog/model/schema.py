"""``apply(state, event)``: what Kuzu would accept, as values.

The state's values live in ``model.state`` (re-exported here: callers import
the schema from this module). ``apply`` returns a new state sharing everything
it did not touch, or, on a ``working_copy``, updates it in place.

Rules enforced (stable ids, returned in ``Rejected.rule``), mirroring Kuzu
0.11 (checked against native kuzu 0.11.3 where noted):

* ``table-exists``: a create event reuses a table id already present.
* ``name-taken``: table names are unique across node AND rel tables,
  compared as Kuzu's catalog does (ASCII letters case-folded only;
  ``Person``/``person`` collide in kuzu 0.11.3, ``Ä``/``ä`` do not).
* ``property-name-taken``: property names unique per table, same folding.
* ``property-exists``: an added property reuses a property id.
* ``rel-endpoint-missing`` / ``rel-endpoint-not-node``: every FROM/TO table
  of a rel table exists and is a node table.
* ``table-referenced``: a node table that a rel table references cannot be
  dropped (Kuzu raises a Binder error; kuzu-wasm traps).
* ``primary-key-drop``: the primary key cannot be dropped.
* ``unknown-table``, ``unknown-property``, ``unknown-connection``.
* ``rel-serial-add``: a SERIAL property cannot be added to an existing rel
  table (kuzu 0.11.3: "Cannot set a non-constant default value when adding
  columns on REL tables"; CREATE REL TABLE with SERIAL is allowed).
* ``serial-add``: nor to an existing node table: kuzu 0.11.3 accepts
  ``ALTER TABLE t ADD s SERIAL`` but creates no sequence for it, and a later
  ``DROP TABLE t`` fails ("t_s_serial does not exist in catalog") until the
  property is dropped (found by tests/test_cypher_differential.py).
* ``serial-rename``: a table with a SERIAL property, or a SERIAL property,
  cannot be renamed. kuzu 0.11.3 names a SERIAL column's sequence
  ``<table>_<column>_serial`` and does not rename it with them: after such a
  rename ``DROP TABLE`` fails ("B_id_serial does not exist") and a new table
  under the old name cannot get a SERIAL key ("A_id_serial already exists").
  tests/test_ddl.py pins the Kuzu behaviour.
* ``not-rel-table``: connections are added to or dropped from rel tables only.
* ``connection-exists``: the FROM/TO pair is already there.
* ``last-connection``: a rel table keeps at least one FROM/TO pair. (Stricter
  than kuzu 0.11.3, which lets the last pair go; a rel table without pairs
  has no use and no DDL to recreate it.)
* ``reserved-property-name``: a property cannot take a name Kuzu keeps for
  itself (``_ID``, ``_LABEL``, ``_SRC``, ``_DST`` and more, any letter case:
  ``names.KUZU_RESERVED_PROPERTY_NAMES``), in a created table, an added
  property or a rename. kuzu 0.11.3 and ladybug 0.22.0 refuse them in CREATE
  NODE/REL TABLE ("_label is a reserved property name") and, on rel tables, ADD
  or RENAME TO ``_ID`` ("already has property _ID"); they accept ADD and RENAME
  TO the others, but the column can then not be read ("_ID is reserved for
  system usage") and the table can never be created again from its DDL (a
  compacted apply, ``schema --format cypher``): stricter than Kuzu on purpose
  (README "Recording Cypher DDL"). An old log holding such a name still
  decodes and verifies; replay rejects the event with this rule.
* ``duplicate-connection``: a CREATE REL TABLE names each FROM/TO pair once
  (kuzu 0.11.3: "Found duplicate FROM-TO A-A pairs"). An event cannot hold a
  pair twice (its format refuses it), so the rule is checked on the pairs a
  change is built from: ``duplicate_connection`` (the API and recorded DDL).
  Adding a pair the table has is ``connection-exists`` (Kuzu: "A->A already
  exists in R table").
* ``sorted-by-not-node``: SET SORTED BY applies to node tables only
  (ladybug 0.22.0: "SORTED BY on rel table R requires the CSR clause", a rel
  layout no event creates); its keys must be properties of the table
  (``unknown-property``). Dropping a property that is a sort key takes it out
  of the keys (LadybugDB accepts the drop; its catalog does not show the keys).
  Whether an engine can run SET SORTED BY at all is the engine profile's
  business (kuzu.profile), not the model's: Kuzu refuses it at apply time.

Merge and Tag events do not change the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemalog.errors import InvalidState
from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CommentOnTable,
    Connection,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
    PropertyDef,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    SortKey,
    Tag,
)
from schemalog.model.names import catalog_key
from schemalog.model.parts import unchecked
from schemalog.model.schema_checks import (
    Refusal,
    _add_refs,
    _check_endpoints,
    _check_new_table,
    _check_property_name,
    _check_property_names,
    _drop_refs,
    _locate,
    _rel,
    _unknown_property,
    _unknown_table,
    create_problem,
    duplicate_connection,
)
from schemalog.model.state import (
    NODE,
    REL,
    STATE_FORMAT,
    SchemaState,
    TableState,
    UndoLog,
    _new_property,
    _new_state,
    _new_table,
    _pair,
    _type,
    empty_state,
    persistent,
    rel_references,
    table_by_name,
    working_copy,
)

__all__ = [
    "NODE",
    "REL",
    "STATE_FORMAT",
    "Applied",
    "Refusal",
    "Rejected",
    "SchemaState",
    "TableState",
    "UndoLog",
    "apply",
    "create_problem",
    "duplicate_connection",
    "empty_state",
    "persistent",
    "rel_references",
    "restore_table",
    "table_by_name",
    "working_copy",
]


@dataclass(frozen=True, slots=True)
class Applied:
    state: SchemaState


@dataclass(frozen=True, slots=True)
class Rejected:
    event_id: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"event {self.event_id} rejected ({self.rule}): {self.message}"


# ---------------------------------------------------------------- apply
#
# The handlers are replay's inner loop (one call per event): they look a table
# up once, compute each catalog key once, and build the derived table and
# state directly. Each one checks everything before its first write, so a
# rejection leaves even a working state (updated in place) untouched.


def _put(state: SchemaState, table: TableState) -> SchemaState:
    tables = state.tables.set(table.table_id, table)
    if tables is state.tables:  # a working state, updated in place
        return state
    return _new_state(tables, state.names, state.referenced_by)


def _derive(
    table: TableState,
    name: str,
    properties: tuple[PropertyDef, ...],
    connections: tuple[Connection, ...],
    comment: str,
    by_key: dict[str, PropertyDef] | None,
    ids: tuple[str, ...] | None,
    sorted_by: tuple[SortKey, ...] | None = None,
) -> TableState:
    """``table`` with some fields changed; ``by_key`` and ``ids`` index ``properties``."""
    return _new_table(
        table.table_id,
        table.kind,
        name,
        properties,
        table.primary_key,
        connections,
        table.multiplicity,
        comment,
        table.sorted_by if sorted_by is None else sorted_by,
        by_key,
        ids,
    )


def _create_node_table(state: SchemaState, change: CreateNodeTable) -> SchemaState:
    key = catalog_key(change.name)
    _check_new_table(state, change.table_id, key, change.name)
    _check_property_names(change.name, change.properties)
    table = TableState(
        change.table_id, NODE, change.name, change.properties, change.primary_key, (), None
    )
    return _new_state(
        state.tables.set(table.table_id, table),
        state.names.set(key, change.table_id),
        state.referenced_by,
    )


def _create_rel_table(state: SchemaState, change: CreateRelTable) -> SchemaState:
    key = catalog_key(change.name)
    _check_new_table(state, change.table_id, key, change.name)
    problem = _check_endpoints(state, change.connections)
    if problem is not None:
        raise Refusal(*problem)
    _check_property_names(change.name, change.properties)
    table = TableState(
        change.table_id,
        REL,
        change.name,
        change.properties,
        None,
        change.connections,
        change.multiplicity,
    )
    return _new_state(
        state.tables.set(table.table_id, table),
        state.names.set(key, change.table_id),
        _add_refs(state.referenced_by, change.table_id, change.connections),
    )


def _add_property(state: SchemaState, change: AddProperty) -> SchemaState:
    return _add_property_fields(state, change.table_id, change.property)


def _add_property_fields(state: SchemaState, table_id: str, new: PropertyDef) -> SchemaState:
    table = state.tables.get(table_id)
    if table is None:
        raise _unknown_table(table_id)
    ids = table._ids
    if ids is None:
        ids = table._id_index()
    if new.property_id in ids:
        raise Refusal("property-exists", f"property id {new.property_id} already exists")
    index = table._by_key
    if index is None:
        index = table._name_index()
    key = catalog_key(new.name)
    if key in index:
        raise Refusal("property-name-taken", f"{table.name!r} already has {new.name!r}")
    _check_property_name(table.name, new.name)
    if new.type == "SERIAL":
        if table.kind == REL:
            raise Refusal("rel-serial-add", f"cannot add SERIAL {new.name!r} to rel {table.name!r}")
        raise Refusal(
            "serial-add",
            f"cannot add SERIAL {new.name!r} to existing table {table.name!r}: Kuzu 0.11.3 "
            "adds it but can then not drop the table (its sequence is missing)",
        )
    index = index.copy()
    index[key] = new
    props = (*table.properties, new)
    ids = (*ids, new.property_id)
    derived = _derive(table, table.name, props, table.connections, table.comment, index, ids)
    return _put(state, derived)


def _drop_property(state: SchemaState, change: DropProperty) -> SchemaState:
    return _drop_property_fields(state, change.table_id, change.property_id)


def _drop_property_fields(state: SchemaState, table_id: str, property_id: str) -> SchemaState:
    ids: tuple[str, ...] | None
    table, ids, at = _locate(state, table_id, property_id)
    props = table.properties
    prop = props[at]
    if table.primary_key == property_id:
        raise Refusal("primary-key-drop", f"{prop.name!r} is the primary key of {table.name!r}")
    # every property with this id goes (ids are unique in a table apply built)
    if ids.count(property_id) > 1:
        kept = tuple([p for p in props if p.property_id != property_id])
        ids = None
    else:
        kept = props[:at] + props[at + 1 :]
        ids = ids[:at] + ids[at + 1 :]
    index = table._by_key
    if index is not None:
        key = catalog_key(prop.name)
        if index.get(key) is prop:
            index = index.copy()
            del index[key]
        else:  # (not from apply: equal keys) rebuild on demand
            index = None
    sorted_by = table.sorted_by
    if sorted_by:
        sorted_by = tuple([k for k in sorted_by if k.property_id != property_id])
    derived = _derive(
        table, table.name, kept, table.connections, table.comment, index, ids, sorted_by
    )
    return _put(state, derived)


def _rename_property(state: SchemaState, change: RenameProperty) -> SchemaState:
    return _rename_property_fields(state, change.table_id, change.property_id, change.new_name)


def _rename_property_fields(
    state: SchemaState, table_id: str, property_id: str, new_name: str
) -> SchemaState:
    table, ids, at = _locate(state, table_id, property_id)
    props = table.properties
    prop = props[at]
    if prop.type == "SERIAL":
        raise Refusal("serial-rename", f"SERIAL {prop.name!r} of {table.name!r}: no rename")
    index = table._by_key
    if index is None:
        index = table._name_index()
    new_key = catalog_key(new_name)
    other = index.get(new_key)
    if other is not None and other.property_id != property_id:
        raise Refusal("property-name-taken", f"{table.name!r} already has {new_name!r}")
    _check_property_name(table.name, new_name)
    # every field comes from a valid property or a validated event
    renamed = _new_property(property_id, new_name, prop.type, prop.default)
    if ids.count(property_id) > 1:  # (not from apply: equal ids) rename them all
        props = tuple([renamed if p.property_id == property_id else p for p in props])
    else:
        props = (*props[:at], renamed, *props[at + 1 :])
    old_key = catalog_key(prop.name)
    by_key: dict[str, PropertyDef] | None = None
    if index.get(old_key) is prop:
        by_key = index.copy()
        del by_key[old_key]
        by_key[new_key] = renamed
    # else (not from apply: equal keys) rebuild on demand
    derived = _derive(table, table.name, props, table.connections, table.comment, by_key, ids)
    return _put(state, derived)


def _rename_table(state: SchemaState, change: RenameTable) -> SchemaState:
    return _rename_table_fields(state, change.table_id, change.new_name)


def _rename_table_fields(state: SchemaState, table_id: str, new_name: str) -> SchemaState:
    table = state.tables.get(table_id)
    if table is None:
        raise _unknown_table(table_id)
    if "SERIAL" in map(_type, table.properties):  # (a loop in C)
        serial = [p.name for p in table.properties if p.type == "SERIAL"]
        raise Refusal("serial-rename", f"{table.name!r} has SERIAL {serial}: cannot be renamed")
    names = state.names
    new_key = catalog_key(new_name)
    owner = names.get(new_key)
    if owner is not None and owner != table.table_id:
        raise Refusal("name-taken", f"name {new_name!r} is taken by table {owner}")
    names = names.delete(catalog_key(table.name)).set(new_key, table.table_id)
    renamed = _derive(
        table,
        new_name,
        table.properties,
        table.connections,
        table.comment,
        table._by_key,
        table._ids,
    )
    tables = state.tables.set(table.table_id, renamed)
    if tables is state.tables:  # a working state, updated in place
        return state
    return _new_state(tables, names, state.referenced_by)


def _drop_table(state: SchemaState, change: DropTable) -> SchemaState:
    return _drop_table_fields(state, change.table_id)


def _drop_table_fields(state: SchemaState, table_id: str) -> SchemaState:
    table = state.tables.get(table_id)
    if table is None:
        raise _unknown_table(table_id)
    users = state.referenced_by.get(table.table_id)
    if users:
        user_names = sorted(state.tables[u].name for u in users)
        raise Refusal("table-referenced", f"{table.name!r} is referenced by rel {user_names}")
    refs = state.referenced_by
    if table.kind == REL:
        refs = _drop_refs(refs, table.table_id, table.connections, ())
    return _new_state(
        state.tables.delete(table.table_id),
        state.names.delete(catalog_key(table.name)),
        refs,
    )


def _add_connection(state: SchemaState, change: AddConnection) -> SchemaState:
    return _add_connection_fields(state, change.table_id, change.connection)


def _add_connection_fields(state: SchemaState, table_id: str, conn: Connection) -> SchemaState:
    table = _rel(state, table_id)
    if _pair(conn) in map(_pair, table.connections):  # tuples compared in C, not __eq__
        raise Refusal("connection-exists", f"{table.name!r} already has this FROM/TO pair")
    problem = _check_endpoints(state, (conn,))
    if problem is not None:
        raise Refusal(*problem)
    conns = tuple(sorted((*table.connections, conn), key=_pair))
    new = _derive(
        table, table.name, table.properties, conns, table.comment, table._by_key, table._ids
    )
    return _new_state(
        state.tables.set(table.table_id, new),
        state.names,
        _add_refs(state.referenced_by, table.table_id, (conn,)),
    )


def _drop_connection(state: SchemaState, change: DropConnection) -> SchemaState:
    return _drop_connection_fields(state, change.table_id, change.connection)


def _drop_connection_fields(state: SchemaState, table_id: str, conn: Connection) -> SchemaState:
    table = _rel(state, table_id)
    pair, conns = _pair(conn), table.connections
    pairs = list(map(_pair, conns))  # tuples compared in C, not __eq__
    if pair not in pairs:
        raise Refusal("unknown-connection", f"{table.name!r} has no such FROM/TO pair")
    if len(conns) == 1:
        raise Refusal("last-connection", f"{table.name!r} must keep one FROM/TO pair")
    if pairs.count(pair) == 1:
        at = pairs.index(pair)
        conns = conns[:at] + conns[at + 1 :]
    else:  # (not from apply: equal pairs) every one goes
        conns = tuple([c for c, p in zip(conns, pairs, strict=True) if p != pair])
    new = _derive(
        table, table.name, table.properties, conns, table.comment, table._by_key, table._ids
    )
    return _new_state(
        state.tables.set(table.table_id, new),
        state.names,
        _drop_refs(state.referenced_by, table.table_id, table.connections, conns),
    )


def _comment_on_table(state: SchemaState, change: CommentOnTable) -> SchemaState:
    return _comment_fields(state, change.table_id, change.comment)


def _comment_fields(state: SchemaState, table_id: str, comment: str) -> SchemaState:
    table = state.tables.get(table_id)
    if table is None:
        raise _unknown_table(table_id)
    new = _derive(
        table,
        table.name,
        table.properties,
        table.connections,
        comment,
        table._by_key,
        table._ids,
    )
    return _put(state, new)


def _set_sorted_by(state: SchemaState, change: SetSortedBy) -> SchemaState:
    table = state.tables.get(change.table_id)
    if table is None:
        raise _unknown_table(change.table_id)
    if table.kind != NODE:
        raise Refusal(
            "sorted-by-not-node", f"{table.name!r} is a rel table: SORTED BY is for node tables"
        )
    for key in change.keys:
        if table.property(key.property_id) is None:
            raise _unknown_property(table, key.property_id)
    new = _derive(
        table,
        table.name,
        table.properties,
        table.connections,
        table.comment,
        table._by_key,
        table._ids,
        change.keys,
    )
    return _put(state, new)


def _no_change(state: SchemaState, change: Merge | Tag) -> SchemaState:
    return state


_HANDLERS: dict[type, Callable[[SchemaState, Any], SchemaState]] = {
    CreateNodeTable: _create_node_table,
    CreateRelTable: _create_rel_table,
    AddProperty: _add_property,
    DropProperty: _drop_property,
    RenameProperty: _rename_property,
    RenameTable: _rename_table,
    DropTable: _drop_table,
    AddConnection: _add_connection,
    DropConnection: _drop_connection,
    CommentOnTable: _comment_on_table,
    SetSortedBy: _set_sorted_by,
    Merge: _no_change,
    Tag: _no_change,
}


def _handler(change: object) -> Callable[[SchemaState, Any], SchemaState]:
    handler = _HANDLERS.get(type(change))
    if handler is None:
        for cls, handler in _HANDLERS.items():  # a subclass, as isinstance would take it
            if isinstance(change, cls):
                return handler
        raise TypeError(f"unknown change {type(change).__name__}")  # events validate kinds
    return handler


def _apply_change(state: SchemaState, change: object) -> SchemaState:
    return _handler(change)(state, change)


# Applied and SchemaState have no checks: build them without the per-field
# object.__setattr__ of a frozen dataclass's __init__ (several per event).
_new_applied = unchecked(Applied)


def apply(state: SchemaState, event: Event) -> Applied | Rejected:
    """Apply one event; a rejection names the event and the rule, state untouched."""
    change = event.change
    handler = _HANDLERS.get(type(change)) or _handler(change)
    try:
        return _new_applied(handler(state, change))
    except Refusal as rejection:
        return Rejected(event.id, rejection.rule, rejection.message)


def restore_table(state: SchemaState, table: TableState) -> SchemaState:
    """Add ``table`` as its create event would, then put it whole.

    A snapshot's tables come back through here, so every rule of apply holds.
    """
    change: CreateNodeTable | CreateRelTable
    if table.kind == NODE:
        assert table.primary_key is not None
        change = CreateNodeTable(table.table_id, table.name, table.properties, table.primary_key)
    else:
        assert table.multiplicity is not None
        change = CreateRelTable(
            table.table_id, table.name, table.connections, table.properties, table.multiplicity
        )
    try:
        state = _apply_change(state, change)
    except Refusal as rejection:
        raise InvalidState(f"table {table.table_id}", rejection.message) from None
    return _put(state, table)
