"""The draft handlers' FROM/TO pairs decide as the object handlers do.

``model.schema_drafts`` finds a pair's place in a rel table by bisection over
its pairs, which a ``TableState`` keeps sorted and unique; a table whose pairs
are not (a state built elsewhere) is not thawed, so the draft handler refuses
and replay's staged path (``schema.apply``) decides. Here every add and drop of
a pair, on tables of sorted, shuffled and repeated pairs: when the draft handler
applies a change, the object handler applies it too, to the same state; on a
table of sorted unique pairs it applies exactly the changes the object handler
applies.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from schemalog.model import schema
from schemalog.model.events import AddConnection, CreateNodeTable, CreateRelTable, DropConnection
from schemalog.model.parts import Connection, PropertyDef
from schemalog.model.schema import Refusal, SchemaState
from schemalog.model.schema_drafts import DRAFT_HANDLERS, with_drafts
from schemalog.model.state import UndoLog, empty_state, persistent, working_copy
from schemalog.model.state_json import state_to_obj

NODES = [f"o@{wall}.0" for wall in (11, 12, 13)]
REL_ID = "o@20.0"


def _state(pairs: list[tuple[int, int]], shuffle: list[int], repeat: int | None) -> SchemaState:
    """Three node tables and a rel table of ``pairs`` (sorted unique), then its
    pairs put in the order ``shuffle`` gives and, with ``repeat``, one twice."""
    state = empty_state()
    for i, node in enumerate(NODES):
        key = PropertyDef(f"{node}/p0", "id", "INT64")
        state = schema._apply_change(state, CreateNodeTable(node, f"N{i}", (key,), key.property_id))
    conns = tuple(sorted({Connection(NODES[a], NODES[b]) for a, b in pairs}))
    state = schema._apply_change(state, CreateRelTable(REL_ID, "R", conns, (), "MANY_MANY"))
    order = sorted(range(len(conns)), key=lambda i: shuffle[i % len(shuffle)])
    messy = [conns[i] for i in order]
    if repeat is not None:
        messy.insert(repeat % (len(messy) + 1), messy[repeat % len(messy)])
    table = dataclasses.replace(state.tables[REL_ID], connections=tuple(messy))
    return schema._put(state, table)


def _object(state: SchemaState, change: object) -> dict[str, object] | None:
    try:
        return state_to_obj(schema._apply_change(state, change))
    except Refusal:
        return None


def _draft(state: SchemaState, kind: str, conn: Connection) -> dict[str, object] | None:
    working = with_drafts(working_copy(state, UndoLog()))
    try:
        working = DRAFT_HANDLERS[kind](working, REL_ID, conn)
    except Refusal:
        return None
    return state_to_obj(persistent(working))


_PAIR = st.tuples(st.integers(0, 2), st.integers(0, 2))


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(_PAIR, min_size=1, max_size=9),
    shuffle=st.lists(st.integers(), min_size=1, max_size=9),
    repeat=st.none() | st.integers(0, 20),
    change=st.tuples(st.sampled_from(["add_connection", "drop_connection"]), _PAIR),
)
def test_a_draft_applies_a_pair_only_as_the_object_handler_does(
    pairs: list[tuple[int, int]],
    shuffle: list[int],
    repeat: int | None,
    change: tuple[str, tuple[int, int]],
) -> None:
    kind, (a, b) = change
    conn = Connection(NODES[a], NODES[b])
    state = _state(pairs, shuffle, repeat)
    cls = AddConnection if kind == "add_connection" else DropConnection
    by_object = _object(state, cls(REL_ID, conn))
    by_draft = _draft(state, kind, conn)
    if by_draft is not None:
        assert by_draft == by_object
    table = state.tables[REL_ID]
    if list(table.connections) == sorted(set(table.connections)):
        assert (by_draft is None) == (by_object is None)  # a sound table: none left over
