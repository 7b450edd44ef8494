"""Synthetic partitioned replicas: a shared prefix, then concurrent, partly conflicting branches.

``synth_replicas(replicas, prefix_events, branch_events, seed)`` returns one
event list per replica (its log: the common prefix, then its own branch).
Every list is applicable on its own (each event passes ``schema.apply`` after
the ones before it); across replicas the branches are concurrent and, with
probability ``conflict_rate`` per event, touch an element another replica may
touch too: rename or drop a prefix table, rename or drop a prefix property,
add a property named ``shared`` (type drawn per replica), create a table
named ``Common`` (definition drawn per replica), rename to ``Renamed``.
Deterministic for a seed (``random.Random``), no clock reads.

``write_replicas(out_dir, logs)`` writes ``r1.ndjson .. rR.ndjson`` (hash
chained records). Pure core except that one writer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from schemalog.encoding.codec import encode_record
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    Change,
    CommentOnTable,
    Connection,
    CreateNodeTable,
    CreateRelTable,
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.events import ChangeBuilder as _Builder
from schemalog.model.schema import NODE, REL, Applied, SchemaState, apply, empty_state

__all__ = ["synth_replicas", "write_replicas"]

_TYPES = ("INT64", "STRING", "DOUBLE", "DATE", "BOOLEAN")
START_MS = 1_700_000_000_000


class _Replica:
    def __init__(self, origin: str, wall: list[int]) -> None:
        self.wall = wall
        self.clock = HybridLogicalClock(origin, lambda: self.wall[0])
        self.state = empty_state()
        self.head: str | None = None
        self.events: list[Event] = []
        self.ids: list[str] = []


def _fresh(rng: random.Random, state: SchemaState, stem: str) -> str:
    while True:
        name = f"{stem}{rng.randrange(1_000_000)}"
        if name.lower() not in state.names:
            return name


def _change(
    rng: random.Random, state: SchemaState, ids: list[str], hot: bool, tag: str
) -> Change | _Builder:
    # ``ids``: live table ids in creation order (kept by _step; sorting the state
    # every step would make generation quadratic). Sample a few, not all.
    if len(ids) <= 8:
        picks = ids
    else:
        picks = [*(ids[:4] if hot else ()), *(rng.choice(ids) for _ in range(8))]
    tables = [state.tables[t] for t in dict.fromkeys(picks)]
    nodes = [t for t in tables if t.kind == NODE]
    rels = [t for t in tables if t.kind == REL]
    if hot and tables:
        table = tables[rng.randrange(min(len(tables), 4))]  # the oldest tables
        roll = rng.randrange(7)
        taken = {p.name.lower() for p in table.properties}
        if roll == 0:
            return RenameTable(table.table_id, _fresh(rng, state, f"Hot{tag}_"))
        if roll == 1 and not state.referenced_by.get(table.table_id):
            return DropTable(table.table_id)
        if roll == 2 and "shared" not in taken:
            return build_add_property(table.table_id, "shared", rng.choice(_TYPES[:2]))
        if roll == 3 and "common" not in state.names:
            return build_node_table("Common", [("id", rng.choice(("INT64", "STRING")))], "id")
        if roll == 4 and "renamed" not in state.names:
            return RenameTable(table.table_id, "Renamed")
        others = [p for p in table.properties if p.property_id != table.primary_key]
        if roll == 5 and others:
            prop = others[0]
            return RenameProperty(table.table_id, prop.property_id, f"{prop.name}_{tag}")
        if roll == 6 and others:
            return DropProperty(table.table_id, others[0].property_id)
    roll = rng.randrange(10)
    if roll < 2 or not nodes:
        props = [("id", "INT64"), ("name", "STRING")]
        return build_node_table(_fresh(rng, state, "N"), props, "id")
    if roll == 2:
        a, b = rng.choice(nodes), rng.choice(nodes)
        return build_rel_table(_fresh(rng, state, "R"), [(a.table_id, b.table_id)])
    table = rng.choice(tables)
    taken = {p.name.lower() for p in table.properties}
    if roll in (3, 4, 5):
        name = f"p{rng.randrange(1_000_000)}"
        if name not in taken:
            return build_add_property(table.table_id, name, rng.choice(_TYPES))
    if roll == 6:
        return RenameTable(table.table_id, _fresh(rng, state, "T"))
    if roll == 7 and rels:
        rel = rng.choice(rels)
        conn = Connection(rng.choice(nodes).table_id, rng.choice(nodes).table_id)
        if conn not in rel.connections:
            return AddConnection(rel.table_id, conn)
    return CommentOnTable(table.table_id, f"c{rng.randrange(1000)}")


def _step(rng: random.Random, rep: _Replica, hot: bool, tag: str, workspace: str) -> None:
    for _ in range(20):
        change = _change(rng, rep.state, rep.ids, hot, tag)
        parents = [rep.head] if rep.head else []
        event = new_event(rep.clock, workspace, parents, change)
        result = apply(rep.state, event)
        if isinstance(result, Applied):
            rep.state = result.state
            rep.head = event.id
            if isinstance(event.change, CreateNodeTable | CreateRelTable):
                rep.ids.append(event.id)
            elif isinstance(event.change, DropTable):
                rep.ids.remove(event.change.table_id)
            rep.events.append(event)
            return
        hot = False  # an inapplicable hot change: draw an ordinary one
    raise AssertionError("could not draw an applicable change")  # pragma: no cover


def synth_replicas(
    replicas: int,
    prefix_events: int,
    branch_events: int,
    seed: int = 0,
    *,
    conflict_rate: float = 0.2,
    workspace: str = "ws",
    start_ms: int = START_MS,
) -> list[list[Event]]:
    """R replica logs sharing ``prefix_events`` events, each with ``branch_events`` of its own."""
    if replicas < 1:
        raise ValueError("replicas must be >= 1")
    rng = random.Random(seed)
    wall = [start_ms]
    reps = [_Replica(f"r{i + 1}", [start_ms]) for i in range(replicas)]
    # Prefix: written by r1 with the others' clocks observing it (they synced).
    writer = reps[0]
    for _ in range(prefix_events):
        wall[0] += rng.randrange(1, 2_000)
        writer.wall[0] = wall[0]
        _step(rng, writer, False, "p", workspace)
    prefix = list(writer.events)
    for rep in reps[1:]:
        rep.state, rep.head, rep.events = writer.state, writer.head, list(prefix)
        rep.ids = list(writer.ids)
        if writer.head is not None:
            rep.wall[0] = wall[0]
            rep.clock.observe(writer.clock.last)  # type: ignore[arg-type]
    # Branches: interleaved in time, each replica on its own (partitioned).
    budget = {id(r): branch_events for r in reps}
    while any(budget.values()):
        rep = rng.choice([r for r in reps if budget[id(r)]])
        wall[0] += rng.randrange(0, 1_500)
        rep.wall[0] = wall[0] + rng.randrange(-3_000, 3_000)  # skewed, can jump back
        _step(rng, rep, rng.random() < conflict_rate, rep.clock.origin, workspace)
        budget[id(rep)] -= 1
    return [r.events for r in reps]


def write_replicas(out_dir: str | Path, logs: Sequence[Sequence[Event]]) -> list[Path]:
    """Write ``r1.ndjson .. rR.ndjson`` into ``out_dir`` (created); returns the paths."""
    out = Path(out_dir)
    out.mkdir(exist_ok=True)  # the folder itself, never its parents
    paths = []
    for i, events in enumerate(logs, start=1):
        path = out / f"r{i}.ndjson"
        prev: str | None = None
        with open(path, "wb") as fh:
            for event in events:
                line = encode_record(event, prev)
                fh.write(line + b"\n")
                prev = _checksum_of(line)
        paths.append(path)
    return paths


def _checksum_of(line: bytes) -> str:
    # encode_record's line starts with {"checksum":"<sum>" -- the canonical form.
    return line[13 : line.index(b'"', 13)].decode("ascii")
