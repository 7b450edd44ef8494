"""The low-memory merge: its compact lanes and its hot-key filter against the event-level merge.

merge_records.py keeps per-event facts as integers and runs the exact
conflict analysis only over elements several lanes touch (merge_lanes.py).
These tests hold it to the event-level merge (merge.merge_logs) where the
shortcuts could go wrong: clocks rebuilt from snapshots on histories with
forks, joins and resolution events; a duplicate table the analysis aliases
while each copy is touched by one lane only; tables and parents named before
their event was read; histories of many origins.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.encoding.codec import encode_record
from schemalog.history.conflicts import _facts, lane_clocks
from schemalog.history.merge import decode_log, merge_events, merge_logs
from schemalog.history.merge_lanes import NO_LANE, Lanes
from schemalog.history.merge_records import merge_record_logs
from schemalog.history.ordering import causal_order
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    CommentOnTable,
    DropTable,
    Event,
    Merge,
    build_add_property,
    new_event,
)
from schemalog.model.schema import empty_state
from schemalog.synth.replicas import synth_replicas
from test_merge_replays import RESOLVING, _Branch, _node_def, adversarial_logs

STRATS = ["reject", *RESOLVING]


def _lines(events: Sequence[Event]) -> list[bytes]:
    out, prev = [], None
    for event in events:
        line = encode_record(event, prev)
        prev = line[13:87].decode("ascii")
        out.append(line)
    return out


def _same(logs: Sequence[Sequence[Event]], strategy: str) -> bytes:
    lines = [_lines(log) for log in logs]
    ref = merge_logs([decode_log(x) for x in lines], strategy)
    fast = merge_record_logs(lines, strategy)
    assert [r.to_obj() for r in fast.conflicts] == [r.to_obj() for r in ref.conflicts]
    data = fast.to_bytes()
    assert data == ref.to_bytes()
    return data


def _joined(logs: list[list[Event]], wall: int) -> list[list[Event]]:
    """Each origin merges everything, writes a join (parents: every head), then goes on."""
    merged = merge_events(logs, "lww").events
    children = {p for e in merged for p in e.parents}
    heads = sorted(e.id for e in merged if e.id not in children)
    out = []
    for i, log in enumerate(logs):
        origin = log[-1].origin
        clock = HybridLogicalClock(origin, lambda i=i: wall + i)
        for e in merged:
            clock.observe(e.hlc, check_drift=False)
        table = next(e.id for e in merged if e.kind == "create_node_table")
        join = new_event(clock, "ws", heads, CommentOnTable(table, f"join {i}"))
        after = new_event(clock, "ws", [join.id], CommentOnTable(table, f"after {i}"))
        out.append([*merged, join, after])
    return out


def _check_lanes(events: Sequence[Event]) -> None:
    ordered = causal_order(events)
    facts = _facts(ordered)
    handle = {e.id: i for i, e in enumerate(ordered)}
    origins: dict[str, int] = {}
    merges = {i for i, e in enumerate(ordered) if isinstance(e.change, Merge)}
    lanes = Lanes(
        len(ordered),
        [origins.setdefault(e.origin, len(origins)) for e in ordered],
        lambda h: [handle[p] for p in ordered[h].parents],
        merges,
        lambda h: [],
        1,
    )
    expected = {
        h: (lane, pos, list(vc)) for _, h, lane, pos, vc in lane_clocks(range(len(ordered)), facts)
    }
    for h in range(len(ordered)):
        if h in merges:
            assert lanes.lane[h] == NO_LANE
            continue
        lane, pos, vc = expected[h]
        got = lanes.vc(h)
        width = max(len(vc), len(got))
        assert (lanes.lane[h], lanes.pos[h]) == (lane, pos), ordered[h].id
        assert got + [0] * (width - len(got)) == vc + [0] * (width - len(vc)), ordered[h].id


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(adversarial_logs(max_steps=16))
def test_lanes_give_the_clocks_lane_clocks_gives(logs: list[list[Event]]) -> None:
    wall = max(e.hlc.wall_ms for log in logs for e in log) + 10
    joined = _joined(logs, wall)
    union = {e.id: e for log in joined for e in log}
    resolved = merge_events(joined, "lww").events  # resolution events: merges, no lane
    _check_lanes([*union.values(), *resolved])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(adversarial_logs(max_steps=20), st.sampled_from(STRATS))
def test_low_memory_merge_equals_the_event_merge_after_joins(
    logs: list[list[Event]], strategy: str
) -> None:
    _same(logs, strategy)
    wall = max(e.hlc.wall_ms for log in logs for e in log) + 10
    _same(_joined(logs, wall), strategy)


def test_an_aliased_table_touched_by_one_lane_per_copy_still_conflicts() -> None:
    """Two origins create table X identically (the later copy is an alias of the
    first); one drops its X, the other adds a property to its own X. Each table
    id is touched by one lane only: only the alias makes them one element, and
    the change-on-dropped conflict must still be found."""
    wall = [1_700_000_000_000]
    root = _Branch("o0", wall, [], empty_state())
    root.write(_node_def("Base", 0))
    a = _Branch("o1", wall, root.events, root.state)
    b = _Branch("o2", wall, root.events, root.state)
    wall[0] += 5
    assert a.write(_node_def("X", 0))
    wall[0] += 5
    assert b.write(_node_def("X", 0))
    wall[0] += 5
    assert a.write(DropTable(a.events[-1].id))
    wall[0] += 5
    assert b.write(build_add_property(b.events[-1].id, "y", "INT64"))
    for strategy in STRATS:
        lines = [_lines(a.events), _lines(b.events)]
        ref = merge_logs([decode_log(x) for x in lines], strategy)
        assert [c.conflict.kind for c in ref.conflicts] == ["change-on-dropped"]
        _same([a.events, b.events], strategy)


def test_tables_and_parents_named_before_their_event_is_read() -> None:
    """A log whose events name a parent and a table that only a later input holds
    (the union is closed; each log alone is not)."""
    logs = synth_replicas(2, 4, 12, 21, conflict_rate=0.3)
    prefix = 4
    shared = logs[0][:prefix]
    tail0 = logs[0][prefix:]
    for strategy in STRATS:
        _same([tail0, shared, logs[1]], strategy)
        _same([logs[1][prefix:], tail0, shared], strategy)


def test_many_origins_and_wide_clocks() -> None:
    """Five replicas, every strategy, each input order: more lanes than two."""
    logs = synth_replicas(5, 6, 40, 8, conflict_rate=0.4)
    for strategy in STRATS:
        data = _same(logs, strategy)
        for perm in itertools.islice(itertools.permutations(logs), 4):
            assert merge_record_logs([_lines(x) for x in perm], strategy).to_bytes() == data
