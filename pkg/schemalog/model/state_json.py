"""A schema state as plain JSON-able data, and back (snapshots, ``schemalog schema``).

``state_to_obj`` sorts tables by id so that the form is the same in every
process; a table's ``sorted_by`` appears only when it has keys, so the form
(and ``state_hash``) of every state without SORTED BY is what it was before
that change kind existed; ``state_from_obj`` re-checks every invariant by replaying each table
as its create event. The state's checksum over this form is
``schemalog.encoding.codec.state_hash``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from schemalog.errors import InvalidEvent, InvalidState
from schemalog.model.events import (
    MULTIPLICITIES,
    Connection,
    CreateNodeTable,
    CreateRelTable,
    PropertyDef,
    SetSortedBy,
    SortKey,
)
from schemalog.model.names import validate_text
from schemalog.model.schema import (
    NODE,
    REL,
    STATE_FORMAT,
    SchemaState,
    TableState,
    empty_state,
    restore_table,
)

__all__ = ["ordered_tables", "state_from_obj", "state_to_obj", "table_to_obj"]


def _table_to_obj(table: TableState) -> dict[str, Any]:
    obj = {
        "comment": table.comment,
        "connections": [
            {"from_table_id": c.from_table_id, "to_table_id": c.to_table_id}
            for c in table.connections
        ],
        "kind": table.kind,
        "multiplicity": table.multiplicity,
        "name": table.name,
        "primary_key": table.primary_key,
        "properties": [
            {"default": p.default, "name": p.name, "property_id": p.property_id, "type": p.type}
            for p in table.properties
        ],
        "table_id": table.table_id,
    }
    if table.sorted_by:
        obj["sorted_by"] = [
            {"order": k.order, "property_id": k.property_id} for k in table.sorted_by
        ]
    return obj


def ordered_tables(state: SchemaState) -> list[TableState]:
    """The state's tables in the order of its plain form: by id."""
    return sorted(state.tables.values(), key=lambda t: t.table_id)


def state_to_obj(state: SchemaState) -> dict[str, Any]:
    """Plain JSON-able form, tables sorted by id (deterministic across processes)."""
    return {"format": STATE_FORMAT, "tables": [_table_to_obj(t) for t in ordered_tables(state)]}


table_to_obj = _table_to_obj  # one table's part of ``state_to_obj``


_TABLE_KEYS = frozenset(
    [
        "comment",
        "connections",
        "kind",
        "multiplicity",
        "name",
        "primary_key",
        "properties",
        "table_id",
    ]
)


def state_from_obj(obj: object) -> SchemaState:
    """Rebuild a state from ``state_to_obj`` output, re-checking every invariant.

    The tables are replayed as create events in dependency order (node tables
    first), so the same rules that guard ``apply`` guard a snapshot.
    """
    if type(obj) is not dict or set(obj) != {"format", "tables"}:
        raise InvalidState("state", "must be an object with exactly 'format' and 'tables'")
    if obj["format"] != STATE_FORMAT or type(obj["format"]) is not int:
        raise InvalidState("format", f"unknown state format {obj['format']!r}")
    if type(obj["tables"]) is not list:
        raise InvalidState("tables", "must be an array")
    tables: list[TableState] = []
    for i, raw in enumerate(obj["tables"]):
        path = f"tables[{i}]"
        try:
            tables.append(_table_from_obj(raw, path))
        except InvalidEvent as exc:
            raise InvalidState(f"{path}.{exc.field}", exc.reason) from None
    state = empty_state()
    for table in sorted(tables, key=lambda t: (t.kind != NODE, t.table_id)):
        state = restore_table(state, table)
    return state


def _table_from_obj(raw: object, path: str) -> TableState:
    if type(raw) is not dict or raw.keys() - {"sorted_by"} != _TABLE_KEYS:
        raise InvalidState(
            path, f"must be an object with exactly {sorted(_TABLE_KEYS)} (and 'sorted_by')"
        )
    table = _plain_table_from_obj(raw, path)
    if "sorted_by" not in raw:
        return table
    keys = raw["sorted_by"]
    if type(keys) is not list or not keys:
        raise InvalidState(f"{path}.sorted_by", "must be a non-empty array")
    for j, k in enumerate(keys):
        if type(k) is not dict or set(k) != {"order", "property_id"}:
            raise InvalidState(f"{path}.sorted_by[{j}]", "malformed sort key")
    change = SetSortedBy(table.table_id, tuple(SortKey(k["property_id"], k["order"]) for k in keys))
    if table.kind != NODE or any(table.property(k.property_id) is None for k in change.keys):
        raise InvalidState(f"{path}.sorted_by", "sort keys must be properties of a node table")
    return replace(table, sorted_by=change.keys)


def _plain_table_from_obj(raw: dict[str, Any], path: str) -> TableState:
    for key in ("properties", "connections"):
        if type(raw[key]) is not list:
            raise InvalidState(f"{path}.{key}", "must be an array")
    props = []
    for j, p in enumerate(raw["properties"]):
        if type(p) is not dict or set(p) != {"default", "name", "property_id", "type"}:
            raise InvalidState(f"{path}.properties[{j}]", "malformed property")
        props.append(PropertyDef(p["property_id"], p["name"], p["type"], p["default"]))
    conns = []
    for j, c in enumerate(raw["connections"]):
        if type(c) is not dict or set(c) != {"from_table_id", "to_table_id"}:
            raise InvalidState(f"{path}.connections[{j}]", "malformed connection")
        conns.append(Connection(c["from_table_id"], c["to_table_id"]))
    comment = validate_text(raw["comment"], "comment")
    if raw["kind"] == NODE:
        create = CreateNodeTable(raw["table_id"], raw["name"], tuple(props), raw["primary_key"])
        if conns or raw["multiplicity"] is not None:
            raise InvalidState(path, "a node table has no connections or multiplicity")
        return TableState(
            create.table_id,
            NODE,
            create.name,
            create.properties,
            create.primary_key,
            (),
            None,
            comment,
        )
    if raw["kind"] == REL:
        if raw["multiplicity"] not in MULTIPLICITIES or raw["primary_key"] is not None:
            raise InvalidState(path, "a rel table has a multiplicity and no primary key")
        rel = CreateRelTable(
            raw["table_id"], raw["name"], tuple(conns), tuple(props), raw["multiplicity"]
        )
        return TableState(
            rel.table_id,
            REL,
            rel.name,
            rel.properties,
            None,
            rel.connections,
            rel.multiplicity,
            comment,
        )
    raise InvalidState(f"{path}.kind", f"unknown table kind {raw['kind']!r}")
