"""Parsed DDL statements to events, through the model's own rules: all or nothing.

Pure: the caller passes the schema the statements start from, the heads to
stamp the first event on, and ``stamp`` (``new_event`` on its clock). Each
statement resolves its names against the schema as the statements before it
left it, becomes the same change an API call would make (the builders of
``model.events``), and is checked by ``model.schema.apply``; the first
statement the model refuses ends the reading with a ``DdlError`` naming its
line, column, statement and rule, and nothing of the text is kept.

``IF NOT EXISTS`` / ``IF EXISTS`` behave as in Kuzu: when the table, property
or FROM/TO pair already exists (or does not), the statement records nothing
and is listed in ``unchanged``. A name Kuzu would not find is refused with the
model's rule for it (``unknown-table``, ``unknown-property``,
``rel-endpoint-missing``); a FROM/TO pair written twice in one CREATE REL TABLE
is refused (``duplicate-connection``), as Kuzu's binder does; so is a RENAME
to the name it already has, in any letter case (Kuzu: "already exists"; the
API takes a case-only rename, which ``apply`` makes through a temporary name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from schemalog.errors import InvalidEvent
from schemalog.kuzu.ddl_lex import DdlError
from schemalog.kuzu.ddl_parse import (
    AlterAdd,
    AlterConnection,
    AlterDrop,
    AlterRenameProperty,
    AlterRenameTable,
    CommentOn,
    CreateNode,
    CreateRel,
    DropTableStmt,
    Parsed,
    Statement,
    Unsupported,
    Where,
)
from schemalog.model.events import (
    AddConnection,
    Change,
    ChangeBuilder,
    CommentOnTable,
    Connection,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
    build_add_property,
    build_node_table,
    build_rel_table,
)
from schemalog.model.names import catalog_key
from schemalog.model.schema import (
    REL,
    Rejected,
    SchemaState,
    TableState,
    apply,
    create_problem,
    duplicate_connection,
    table_by_name,
)

__all__ = ["DdlEvents", "Stamp", "events_for_ddl"]

# (parents, change or builder) -> the stamped event
Stamp = Callable[[Sequence[str], Change | ChangeBuilder], Event]


@dataclass(frozen=True, slots=True)
class DdlEvents:
    """What a DDL text records: its events in order (each on top of the one before),
    the statements that changed nothing (IF [NOT] EXISTS), the ones skipped
    (not schema statements), and the schema after them."""

    events: tuple[Event, ...]
    state: SchemaState
    unchanged: tuple[Where, ...] = ()
    skipped: tuple[Unsupported, ...] = ()

    def to_obj(self) -> dict[str, Any]:
        return {
            "events": [e.to_obj() for e in self.events],
            "unchanged": [_where_obj(w) for w in self.unchanged],
            "skipped": [{**_where_obj(s.at), "what": s.what} for s in self.skipped],
        }


def _where_obj(w: Where) -> dict[str, Any]:
    return {"line": w.line, "column": w.column, "statement": w.text}


class _Refused(Exception):
    def __init__(self, error: DdlError) -> None:
        super().__init__(str(error))
        self.error = error


def _refuse(at: Where, rule: str, message: str) -> _Refused:
    return _Refused(DdlError("rejected", message, at.line, at.column, at.text, rule=rule))


def events_for_ddl(
    state: SchemaState, heads: Sequence[str], parsed: Parsed, stamp: Stamp
) -> DdlEvents | DdlError:
    """The events of ``parsed`` on ``state`` (see the module docstring), or the first refusal."""
    events: list[Event] = []
    unchanged: list[Where] = []
    parents: tuple[str, ...] = tuple(heads)
    for stmt in parsed.statements:
        try:
            made = _event(state, parents, stmt, stamp)
        except _Refused as refused:
            return refused.error
        if made is None:
            unchanged.append(stmt.at)
            continue
        state, event = made
        events.append(event)
        parents = (event.id,)
    return DdlEvents(tuple(events), state, tuple(unchanged), parsed.skipped)


def _event(
    state: SchemaState, parents: tuple[str, ...], stmt: Statement, stamp: Stamp
) -> tuple[SchemaState, Event] | None:
    """(the state after, the event) of ``stmt``; None when it changes nothing."""
    change, noop = _change(state, stmt)
    if change is None:
        return None
    try:
        event = stamp(parents, change)  # checked even when IF [NOT] EXISTS drops it: Kuzu
    except InvalidEvent as exc:  # binds the whole statement before it looks at the catalog
        raise _refuse(stmt.at, exc.field or "invalid", exc.reason) from None
    if noop:
        if isinstance(event.change, CreateNodeTable | CreateRelTable):
            problem = create_problem(state, event.change)  # Kuzu binds it all first
            if problem is not None:
                raise _refuse(stmt.at, *problem)
        return None
    outcome = apply(state, event)
    if isinstance(outcome, Rejected):
        raise _refuse(stmt.at, outcome.rule, outcome.message)
    return outcome.state, event


def _table(state: SchemaState, name: str, at: Where) -> TableState:
    table = table_by_name(state, name)
    if table is None:
        raise _refuse(at, "unknown-table", f"no table named {name!r}")
    return table


def _endpoint(state: SchemaState, name: str, at: Where) -> str:
    table = table_by_name(state, name)
    if table is None:
        raise _refuse(at, "rel-endpoint-missing", f"no node table named {name!r}")
    return table.table_id


def _change(state: SchemaState, stmt: Statement) -> tuple[Change | ChangeBuilder | None, bool]:
    """The change ``stmt`` makes on ``state``, and whether IF [NOT] EXISTS makes it a no-op."""
    at = stmt.at
    if isinstance(stmt, CreateNode):
        specs = [(c.name, c.type, c.default) for c in stmt.columns]
        exists = table_by_name(state, stmt.name) is not None
        return build_node_table(stmt.name, specs, stmt.primary_key), stmt.if_not_exists and exists
    if isinstance(stmt, CreateRel):
        pairs = [(_endpoint(state, a, at), _endpoint(state, b, at)) for a, b in stmt.pairs]
        twice = duplicate_connection(pairs)
        if twice is not None:  # the model's rule, before an event that cannot hold it
            a, b = stmt.pairs[twice]
            why = f"the FROM/TO pair {a} -> {b} is written twice"
            raise _refuse(at, "duplicate-connection", why)
        specs = [(c.name, c.type, c.default) for c in stmt.columns]
        exists = table_by_name(state, stmt.name) is not None
        build = build_rel_table(stmt.name, pairs, specs, stmt.multiplicity)
        return build, stmt.if_not_exists and exists
    if isinstance(stmt, DropTableStmt):
        found = table_by_name(state, stmt.name)
        if found is None and stmt.if_exists:
            return None, True
        return DropTable(_table(state, stmt.name, at).table_id), False
    table = _table(state, stmt.table, at)
    if isinstance(stmt, AlterAdd):
        c = stmt.column
        exists = table.property_named(c.name) is not None
        build = build_add_property(table.table_id, c.name, c.type, c.default)
        return build, stmt.if_not_exists and exists
    if isinstance(stmt, AlterDrop | AlterRenameProperty):
        prop = table.property_named(stmt.name)
        if prop is None:
            if isinstance(stmt, AlterDrop) and stmt.if_exists:
                return None, True
            raise _refuse(
                at, "unknown-property", f"table {table.name!r} has no property {stmt.name!r}"
            )
        if isinstance(stmt, AlterDrop):
            return DropProperty(table.table_id, prop.property_id), False
        if catalog_key(stmt.new_name) == catalog_key(prop.name):
            raise _refuse(at, "property-name-taken", f"{table.name!r} already has {prop.name!r}")
        return RenameProperty(table.table_id, prop.property_id, stmt.new_name), False
    if isinstance(stmt, AlterRenameTable):
        if catalog_key(stmt.new_name) == catalog_key(table.name):
            raise _refuse(at, "name-taken", f"table {table.name!r} already exists")
        return RenameTable(table.table_id, stmt.new_name), False
    if isinstance(stmt, AlterConnection):
        pair = Connection(
            _endpoint(state, stmt.from_table, at), _endpoint(state, stmt.to_table, at)
        )
        if table.kind != REL:  # IF [NOT] EXISTS too: native Kuzu 0.11.3 dies on either
            raise _refuse(at, "not-rel-table", f"{table.name!r} is not a rel table")
        present = pair in table.connections
        if stmt.add:
            return AddConnection(table.table_id, pair), stmt.if_clause and present
        return DropConnection(table.table_id, pair), stmt.if_clause and not present
    if isinstance(stmt, CommentOn):
        return CommentOnTable(table.table_id, stmt.comment), False
    raise TypeError(f"unknown statement {type(stmt).__name__}")
