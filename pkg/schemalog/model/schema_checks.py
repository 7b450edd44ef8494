"""The checks the schema's two sets of handlers share (``model.schema``'s, on
values, and ``model.schema_drafts``', on tables changed in place): the rules
on tables, endpoints, property names and reference sets, raised as a
``Refusal`` that ``schema.apply`` turns into a ``Rejected``. The rules
themselves are listed in ``model.schema``'s docstring.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemalog.model.events import CreateNodeTable, CreateRelTable
from schemalog.model.names import reserved_property_name
from schemalog.model.parts import Connection, PropertyDef
from schemalog.model.state import NODE, REL, SchemaState, StateMap, TableState

__all__ = ["Refusal", "create_problem", "duplicate_connection"]


def _ends(conns: tuple[Connection, ...]) -> set[str]:
    ends = set()
    for conn in conns:
        ends.add(conn.from_table_id)
        ends.add(conn.to_table_id)
    return ends


def _add_refs(
    refs: StateMap[str, frozenset[str]], rel_id: str, conns: tuple[Connection, ...]
) -> StateMap[str, frozenset[str]]:
    for node_id in _ends(conns):
        users = refs.get(node_id)
        refs = refs.set(node_id, users | {rel_id} if users else frozenset((rel_id,)))
    return refs


def _drop_refs(
    refs: StateMap[str, frozenset[str]],
    rel_id: str,
    before: tuple[Connection, ...],
    after: tuple[Connection, ...],
) -> StateMap[str, frozenset[str]]:
    for node_id in _ends(before) - _ends(after):
        remaining = (refs.get(node_id) or frozenset()) - {rel_id}
        refs = refs.set(node_id, remaining) if remaining else refs.delete(node_id)
    return refs


def _check_endpoints(state: SchemaState, conns: tuple[Connection, ...]) -> tuple[str, str] | None:
    tables = state.tables
    for conn in conns:
        for end, tid in (("FROM", conn.from_table_id), ("TO", conn.to_table_id)):
            table = tables.get(tid)
            if table is None:
                return "rel-endpoint-missing", f"{end} table {tid} does not exist"
            if table.kind != NODE:
                return "rel-endpoint-not-node", f"{end} table {table.name!r} is not a node table"
    return None


class Refusal(Exception):
    """Carries (rule, message) out of the per-kind handlers (``apply`` makes it a Rejected)."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message


def _unknown_table(table_id: str) -> Refusal:
    return Refusal("unknown-table", f"table {table_id} does not exist")


def _rel(state: SchemaState, table_id: str) -> TableState:
    table = state.tables.get(table_id)
    if table is None:
        raise _unknown_table(table_id)
    if table.kind != REL:
        raise Refusal("not-rel-table", f"table {table.name!r} is not a rel table")
    return table


def _unknown_property(table: TableState, property_id: str) -> Refusal:
    return Refusal("unknown-property", f"table {table.name!r} has no property {property_id}")


def _locate(
    state: SchemaState, table_id: str, property_id: str
) -> tuple[TableState, tuple[str, ...], int]:
    """The table, its property ids and where ``property_id`` is among them (else Refusal)."""
    table = state.tables.get(table_id)
    if table is None:
        raise _unknown_table(table_id)
    ids = table._ids
    if ids is None:
        ids = table._id_index()
    if property_id not in ids:
        raise _unknown_property(table, property_id)
    return table, ids, ids.index(property_id)


def _check_property_names(table: str, properties: tuple[PropertyDef, ...]) -> None:
    for prop in properties:
        _check_property_name(table, prop.name)


def _check_property_name(table: str, name: str) -> None:
    if name[:1] == "_":
        kept = reserved_property_name(name)
        if kept is not None:
            raise Refusal(
                "reserved-property-name",
                f"{name!r} (in {table!r}) is a property name Kuzu reserves ({kept}, any case)",
            )


def create_problem(
    state: SchemaState, change: CreateNodeTable | CreateRelTable
) -> tuple[str, str] | None:
    """(rule, message) of the rules of a create that hold whether or not its name is
    taken (endpoints, property names), or None. Kuzu binds a whole CREATE ... IF NOT
    EXISTS before it looks for the table, so recorded DDL checks these on a no-op too."""
    try:
        if isinstance(change, CreateRelTable):
            problem = _check_endpoints(state, change.connections)
            if problem is not None:
                return problem
        _check_property_names(change.name, change.properties)
    except Refusal as rejection:
        return rejection.rule, rejection.message
    return None


def duplicate_connection(pairs: Iterable[tuple[str, str]]) -> int | None:
    """Rule ``duplicate-connection``: the index of the first of ``pairs`` (FROM, TO) that
    repeats an earlier one (one rel table cannot have it twice), or None."""
    seen: set[tuple[str, str]] = set()
    for index, pair in enumerate(pairs):
        if pair in seen:
            return index
        seen.add(pair)
    return None


def _check_new_table(state: SchemaState, table_id: str, key: str, name: str) -> None:
    if table_id in state.tables:
        raise Refusal("table-exists", f"table id {table_id} already exists")
    owner = state.names.get(key)
    if owner is not None:
        raise Refusal("name-taken", f"name {name!r} is taken by table {owner}")
