"""The streaming duplicate scan (duplicates.py) decides exactly what merge's whole-set
analysis decides (conflicts._analyze_facts), from events and from raw lines, and gives
up (``exact`` False) where its method cannot decide."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.history import duplicates
from schemalog.history.duplicates import DuplicateScanner
from schemalog.history.merge import STRATEGIES, Plan, merge_events
from schemalog.log.effective import EffectivePlan, _duplicates, _visit_line
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Event, build_node_table, new_event
from schemalog.synth.replicas import synth_replicas
from strategies import forked_histories

History = tuple[list[Event], list[Event], list[Event]]


def _scan(events: list[Event]) -> DuplicateScanner:
    scanner = DuplicateScanner()
    for event in events:
        scanner.visit(event)
    return scanner


def _scan_lines(lines: list[bytes]) -> DuplicateScanner:
    scanner = DuplicateScanner()
    for line in lines:
        _visit_line(scanner, line)
    return scanner


def _same(scanner: DuplicateScanner, events: list[Event]) -> None:
    assert scanner.exact
    expected = _duplicates(events)
    assert (scanner.duplicates, scanner.table_alias, scanner.prop_alias) == expected


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(history=forked_histories())
def test_scan_of_merged_forks_is_merge_analysis(strategy: str, history: History) -> None:
    prefix, a, b = history
    result = merge_events([prefix + a, prefix + b], strategy)
    events = list(result.events)
    _same(_scan(events), events)
    _same(_scan_lines(result.lines()), events)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 4), st.floats(0, 0.8))
def test_scan_of_merged_replicas_is_merge_analysis(seed: int, replicas: int, rate: float) -> None:
    logs = synth_replicas(replicas, 10, 20, seed, conflict_rate=rate)
    result = merge_events(logs, "lww")
    events = list(result.events)
    _same(_scan(events), events)
    _same(_scan_lines(result.lines()), events)


def _clocks(*origins: str) -> tuple[list[int], dict[str, HybridLogicalClock]]:
    wall = [1_700_000_000_000]
    return wall, {o: HybridLogicalClock(o, lambda: wall[0]) for o in origins}


def test_three_concurrent_copies_alias_to_the_earliest() -> None:
    wall, c = _clocks("a", "b", "c")
    spec = build_node_table("T", [("id", "INT64", None)], "id")
    events = []
    for origin in ("b", "a", "c"):  # log order b, a, c; lanes in that order too
        wall[0] += 5
        events.append(new_event(c[origin], "ws", [], spec))
    scanner = _scan(events)
    _same(scanner, events)
    first = events[0].id
    assert scanner.duplicates == {events[1].id: first, events[2].id: first}


def test_recreated_after_drop_in_one_lane_is_no_duplicate() -> None:
    from schemalog.model.events import DropTable

    wall, c = _clocks("a")
    spec = build_node_table("T", [("id", "INT64", None)], "id")
    one = new_event(c["a"], "ws", [], spec)
    wall[0] += 1
    drop = new_event(c["a"], "ws", [one.id], DropTable(one.change.table_id))  # type: ignore[union-attr]
    wall[0] += 1
    two = new_event(c["a"], "ws", [drop.id], spec)
    scanner = _scan([one, drop, two])
    _same(scanner, [one, drop, two])
    assert scanner.duplicates == {}


def test_forked_origin_is_not_decided() -> None:
    wall, c = _clocks("a")
    spec = build_node_table("T", [("id", "INT64", None)], "id")
    root = new_event(c["a"], "ws", [], spec)
    wall[0] += 1
    left = new_event(c["a"], "ws", [root.id], build_node_table("L", [("id", "INT64", None)], "id"))
    wall[0] += 1
    right = new_event(c["a"], "ws", [root.id], build_node_table("R", [("id", "INT64", None)], "id"))
    scanner = _scan([root, left, right])
    assert not scanner.exact  # "a" is not a chain: right does not descend from left


def test_stream_falls_back_to_merge_analysis() -> None:
    wall, c = _clocks("a", "b")
    spec = build_node_table("T", [("id", "INT64", None)], "id")
    root = new_event(c["a"], "ws", [], build_node_table("R", [("id", "INT64", None)], "id"))
    wall[0] += 1
    left = new_event(c["a"], "ws", [root.id], spec)
    wall[0] += 1
    fork = new_event(c["a"], "ws", [root.id], build_node_table("F", [("id", "INT64", None)], "id"))
    wall[0] += 1
    other = new_event(c["b"], "ws", [root.id], spec)
    events = [root, left, fork, other]
    stream = EffectivePlan(Plan({}, {}, {}, {})).stream(lambda: events)
    for event in events:
        stream.step(event)
    assert stream.scanner is None and not stream.inexact  # fell back, exactly
    assert stream.duplicates == _duplicates(events)[0] == {other.id: left.id}
    one_shot = EffectivePlan(Plan({}, {}, {}, {})).stream(None)
    for event in events:
        one_shot.step(event)
    assert one_shot.inexact


def test_pruned_creations_and_a_late_stale_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicates, "_PRUNE_EVERY", 4)
    wall, c = _clocks("a", "late")
    events: list[Event] = []
    for i in range(12):
        wall[0] += 1
        parents = [events[-1].id] if events else []
        spec = build_node_table(f"T{i}", [("id", "INT64", None)], "id")
        events.append(new_event(c["a"], "ws", parents, spec))
    scanner = _scan(events)
    assert scanner.exact and scanner._size < 12  # creations every lane descends from: gone
    wall[0] += 1
    late = new_event(c["late"], "ws", [], build_node_table("T0", [("id", "INT64", None)], "id"))
    scanner.visit(late)
    assert not scanner.exact  # concurrent with pruned T0: only the whole analysis can say
    assert _duplicates([*events, late])[0] == {late.id: events[0].id}


def test_raw_lines_of_a_log_scan_like_its_events() -> None:
    logs = synth_replicas(3, 20, 40, 5, conflict_rate=0.5)
    result = merge_events(logs, "fww")
    events = list(result.events)
    a, b = _scan(events), _scan_lines(result.lines())
    assert (a.duplicates, a.table_alias, a.prop_alias) == (
        b.duplicates,
        b.table_alias,
        b.prop_alias,
    )
