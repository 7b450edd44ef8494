"""Random incremental histories centred on rel tables, cut into batches (shared by the
session-crash differential test and the kill loop).

A history starts with node tables A..D (each with a primary key and one more
property) and rel tables R and S with several properties, then changes them
the way the Kuzu 0.11.3 crash needs: properties of rel tables dropped, added
and renamed, FROM/TO pairs added and dropped, tables renamed, node-table
properties dropped and added. Every event is checked against the model
(``schema.apply``); an event the model rejects is not kept. The events after
the base are cut into batches of 1-4: one apply per batch.
"""

from __future__ import annotations

import random

from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    DropConnection,
    DropProperty,
    Event,
    RenameProperty,
    RenameTable,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.parts import Connection
from schemalog.model.schema import NODE, REL, Applied, SchemaState, apply, empty_state

TYPES = ("INT64", "STRING", "DOUBLE", "INT32")


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = HybridLogicalClock("o1", lambda: 1_700_000_000_000)
        self.events: list[Event] = []
        self.state = empty_state()
        self.counter = 0

    def add(self, change: object) -> Event | None:
        parents = [self.events[-1].id] if self.events else []
        ev = new_event(self.clock, "ws", parents, change)  # type: ignore[arg-type]
        result = apply(self.state, ev)
        if not isinstance(result, Applied):
            return None
        self.state = result.state
        self.events.append(ev)
        return ev

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"


def _tables(state: SchemaState, kind: str) -> list[str]:
    return sorted(tid for tid, t in state.tables.items() if t.kind == kind)


def _change(b: _Builder) -> object | None:
    rng, state = b.rng, b.state
    rels, nodes = _tables(state, REL), _tables(state, NODE)
    rel = state.tables[rng.choice(rels)]
    roll = rng.random()
    if roll < 0.25 and rel.properties:
        return DropProperty(rel.table_id, rng.choice(rel.properties).property_id)
    if roll < 0.42:
        return build_add_property(rel.table_id, b.fresh("p"), rng.choice(TYPES))
    if roll < 0.62:
        a, c = rng.choice(nodes), rng.choice(nodes)
        return AddConnection(rel.table_id, Connection(a, c))
    if roll < 0.70 and len(rel.connections) > 1:
        return DropConnection(rel.table_id, rng.choice(rel.connections))
    if roll < 0.80 and rel.properties:
        return RenameProperty(rel.table_id, rng.choice(rel.properties).property_id, b.fresh("q"))
    if roll < 0.88:
        tid = rng.choice(rels + nodes)
        return RenameTable(tid, b.fresh(state.tables[tid].name.rstrip("0123456789") or "T"))
    node = state.tables[rng.choice(nodes)]
    others = [p for p in node.properties if p.property_id != node.primary_key]
    if roll < 0.94 and others:
        return DropProperty(node.table_id, rng.choice(others).property_id)
    return build_add_property(node.table_id, b.fresh("n"), rng.choice(TYPES))


def rel_history(seed: int, changes: int = 10) -> tuple[list[Event], list[int]]:
    """(events, batch ends): the base is the first batch; ``ends[i]`` is the number of
    events applied after batch i."""
    b = _Builder(seed)
    ids = {}
    for name in "ABCD":
        ev = b.add(build_node_table(name, [("id", "INT64"), ("x", "STRING")], "id"))
        assert ev is not None
        ids[name] = ev.id
    for name, pairs in (("R", [("A", "B")]), ("S", [("B", "C"), ("C", "D")])):
        props = [(f"{name.lower()}{i}", b.rng.choice(TYPES)) for i in range(b.rng.randint(1, 4))]
        ev = b.add(build_rel_table(name, [(ids[x], ids[y]) for x, y in pairs], props))
        assert ev is not None
    ends = [len(b.events)]
    tries = 0
    while len(b.events) - ends[0] < changes and tries < changes * 20:
        tries += 1
        change = _change(b)
        if change is not None:
            b.add(change)
    i = ends[0]
    while i < len(b.events):
        i = min(len(b.events), i + b.rng.randint(1, 4))
        ends.append(i)
    return b.events, ends


def states_at(events: list[Event], ends: list[int]) -> list[SchemaState]:
    """The state after each batch."""
    state, out, done = empty_state(), [], 0
    for end in ends:
        for ev in events[done:end]:
            result = apply(state, ev)
            assert isinstance(result, Applied), result
            state = result.state
        out.append(state)
        done = end
    return out
