"""The two sides of open conflicts, in words, by the names tables and properties had then.

A conflict names two event ids; a person deciding it needs to read "rename
table 'Person' to 'Human'" against "drop table 'Person'". Events carry ids
(and only the new name of a rename), so the names come from the schema each
side's writer saw: the replay of its causal past (``naming.py``), not the
merged log's order, in which the other side's branch may come first. It holds
the events: asked for only when a merge leaves conflicts open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from schemalog.history.merge import Conflict
from schemalog.history.naming import named_by_id
from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CommentOnTable,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
)
from schemalog.model.schema import SchemaState, empty_state

__all__ = ["describe", "describe_sides"]


def _table(state: SchemaState, table_id: str) -> str:
    table = state.tables.get(table_id)
    return repr(table.name) if table is not None else f"(table {table_id}, not in the schema)"


def _prop(state: SchemaState, table_id: str, property_id: str) -> str:
    table = state.tables.get(table_id)
    for p in table.properties if table is not None else ():
        if p.property_id == property_id:
            return repr(p.name)
    return f"(property {property_id}, not in the schema)"


def describe(event: Event, state: SchemaState) -> str:
    """``event``'s change in words, with the names ``state`` gives its ids."""
    c = event.change
    if isinstance(c, CreateNodeTable):
        return f"create node table {c.name!r}"
    if isinstance(c, CreateRelTable):
        ends = ", ".join(
            f"{_table(state, x.from_table_id)} -> {_table(state, x.to_table_id)}"
            for x in c.connections
        )
        return f"create rel table {c.name!r} ({ends})"
    if isinstance(c, RenameTable):
        return f"rename table {_table(state, c.table_id)} to {c.new_name!r}"
    if isinstance(c, DropTable):
        return f"drop table {_table(state, c.table_id)}"
    if isinstance(c, AddProperty):
        p = c.property
        return f"add property {p.name!r} {p.type} to {_table(state, c.table_id)}"
    if isinstance(c, DropProperty):
        prop = _prop(state, c.table_id, c.property_id)
        return f"drop property {prop} of {_table(state, c.table_id)}"
    if isinstance(c, RenameProperty):
        prop = _prop(state, c.table_id, c.property_id)
        return f"rename property {prop} of {_table(state, c.table_id)} to {c.new_name!r}"
    if isinstance(c, AddConnection | DropConnection):
        verb = "add" if isinstance(c, AddConnection) else "drop"
        x = c.connection
        pair = f"{_table(state, x.from_table_id)} -> {_table(state, x.to_table_id)}"
        return f"{verb} connection {pair} of {_table(state, c.table_id)}"
    if isinstance(c, CommentOnTable):
        return f"comment on table {_table(state, c.table_id)}"
    return event.kind


def describe_sides(
    events: Sequence[Event] | Iterable[Event], conflicts: Iterable[Conflict]
) -> dict[str, tuple[str, str]]:
    """Conflict key -> both sides in words, each by the names of its own causal past.

    ``events``: the merged log in its order. Each side reads the schema its
    writer saw (``naming.name_events``: the replay of its ancestors), so
    neither side's change, nor anything else its writer had not seen, shows in
    its names.
    """
    named = named_by_id(events)
    out: dict[str, tuple[str, str]] = {}
    for c in conflicts:
        first, second = (
            f"{e.origin}: {describe(e, named[e.id].before if e.id in named else empty_state())}"
            for e in (c.first, c.second)
        )
        out[c.key] = (first, second)
    return out
