"""The two sides of open conflicts, in words, by the names tables and properties had then.

A conflict names two event ids; a person deciding it needs to read "rename
table 'Person' to 'Human'" against "drop table 'Person'". Events carry ids
(and only the new name of a rename), so the names come from the schema as
the merged log stands just before the conflict's first side: ``describe_sides``
walks the merged log once, in its order, applying its effective stream
(``merge.replay_merged``'s rules: losers and duplicates out, aliases in), and
describes both sides against the state of that moment. It holds the events
(the plan needs them all, as merge's event path does): asked for only when a
merge leaves conflicts open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from schemalog.history.merge import Conflict, effective_event, resolution_plan
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
from schemalog.model.schema import Applied, SchemaState, apply, empty_state

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
    """Conflict key -> both sides in words, by the names just before the first side.

    ``events``: the merged log in its order (a sequence: the plan needs a pass
    first). Both sides read the state just before the conflict's first event
    (the earlier in causal order), so neither side's change shows in the
    other's names.
    """
    events = events if isinstance(events, Sequence) else list(events)
    at_first: dict[str, list[Conflict]] = {}
    for c in conflicts:
        at_first.setdefault(c.first.id, []).append(c)
    plan = resolution_plan(events)
    state = empty_state()
    out: dict[str, tuple[str, str]] = {}
    for event in events:
        for c in at_first.get(event.id, ()):
            a, b = (effective_event(e, plan) or e for e in (c.first, c.second))
            out[c.key] = (
                f"{c.first.origin}: {describe(a, state)}",
                f"{c.second.origin}: {describe(b, state)}",
            )
        eff = effective_event(event, plan)
        if eff is None:
            continue
        result = apply(state, eff)
        if isinstance(result, Applied):
            state = result.state
    return out
