"""The effective stream of a merged log: replay, chunked replay, versions and the CLI agree
with merge.replay_merged (losers out, duplicates out and aliased)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.analysis.versions import iter_versions
from schemalog.cli import main
from schemalog.encoding.codec import state_hash
from schemalog.history.merge import STRATEGIES, merge_events, replay_merged
from schemalog.log.effective import plan_of_chunks, plan_of_events
from schemalog.log.replay import replay, resume
from schemalog.log.store import MemoryStore
from schemalog.model.events import Event
from schemalog.model.schema import table_by_name
from schemalog.synth.replicas import synth_replicas, write_replicas
from strategies import forked_histories
from test_replay import chunks

History = tuple[list[Event], list[Event], list[Event]]


def _merged(history: History, strategy: str) -> tuple[list[bytes], tuple[Event, ...]]:
    prefix, a, b = history
    result = merge_events([prefix + a, prefix + b], strategy)
    return result.lines(), result.events


def _check(lines: list[bytes], events: tuple[Event, ...]) -> None:
    expected = replay_merged(events)
    store = MemoryStore()
    if events:
        store.append(list(events), expected=None)
    report = replay(store)
    assert report.stopped is None, report.stopped
    assert report.state_hash == expected.state_hash
    skipped = {s.event_id for s in report.skipped}
    assert skipped == {eid for eid, _ in expected.skipped}
    for s in report.skipped:
        assert s.kind in ("loser", "duplicate", "with-loser", "concurrent")
    # chunked (a re-iterable list of chunks), small budgets, small batches
    longest = max((len(x) + 1 for x in lines), default=1)
    for budget in (longest, 2 * longest + 7):
        chunked = replay(list(chunks(lines, budget)), batch_events=3)
        assert chunked.state_hash == expected.state_hash
    # resume from a checkpoint halfway gives the same state
    # (the checkpoint is of the whole log's effective stream: its plan, not a prefix's)
    plan = plan_of_chunks(lambda: chunks(lines, longest))
    half = replay(list(chunks(lines, longest))[: len(lines) // 2], batch_events=2, plan=plan)
    whole = resume(chunks(lines, longest), half, plan=plan)
    if half.stopped is None:
        assert whole.state_hash == expected.state_hash
    # versions (compat, metrics) walk the same effective stream
    last = None
    for item in iter_versions(list(events), frozenset()):
        last = item
    assert last is not None and state_hash(last.state) == expected.state_hash


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(history=forked_histories())
def test_replay_of_merged_log_is_replay_merged(strategy: str, history: History) -> None:
    lines, events = _merged(history, strategy)
    _check(lines, events)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 3), st.sampled_from(STRATEGIES), st.floats(0, 0.7))
def test_synth_replicas_merged(seed: int, replicas: int, strategy: str, rate: float) -> None:
    logs = synth_replicas(replicas, 12, 15, seed, conflict_rate=rate)
    result = merge_events(logs, strategy)
    _check(result.lines(), result.events)


def test_losers_and_duplicates_reported_not_failures() -> None:
    logs = synth_replicas(2, 10, 20, 7, conflict_rate=0.6)
    result = merge_events(logs, "lww")
    assert result.conflicts
    store = MemoryStore()
    store.append(list(result.events), expected=None)
    report = replay(store)
    kinds = {s.kind for s in report.skipped}
    assert "loser" in kinds
    assert report.ok == all(s.kind in ("loser", "duplicate") for s in report.skipped)
    plan = plan_of_events(list(result.events))
    assert set(plan.plan.losers) <= {s.event_id for s in report.skipped}


def test_one_shot_source_has_no_plan() -> None:
    logs = synth_replicas(2, 5, 10, 3, conflict_rate=0.6)
    result = merge_events(logs, "lww")
    assert plan_of_events(iter(result.events)).merged is False
    assert plan_of_events(list(result.events)).merged


def test_versions_see_winner_name() -> None:
    from schemalog.model.clock import HybridLogicalClock
    from schemalog.model.events import RenameTable, build_node_table, new_event

    wall = [1_700_000_000_000]
    ca = HybridLogicalClock("a", lambda: wall[0])
    cb = HybridLogicalClock("b", lambda: wall[0])
    create = new_event(ca, "ws", [], build_node_table("Person", [("id", "INT64", None)], "id"))
    tid = create.change.table_id  # type: ignore[union-attr]
    wall[0] += 10
    ra = new_event(ca, "ws", [create.id], RenameTable(tid, "Human"))
    wall[0] += 10
    rb = new_event(cb, "ws", [create.id], RenameTable(tid, "Being"))
    for strategy, name in (("fww", "Human"), ("lww", "Being")):
        result = merge_events([[create, ra], [create, rb]], strategy)
        events = list(result.events)
        ref = replay_merged(events).state
        assert table_by_name(ref, name) is not None
        last = None
        for item in iter_versions(events, frozenset()):
            last = item
        assert last is not None and table_by_name(last.state, name) is not None
        from schemalog.analysis.compat import check_history

        check_history(events, "BACKWARD")  # runs on the effective stream without error


def test_cli_merge_then_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = synth_replicas(2, 10, 25, 11, conflict_rate=0.5)
    write_replicas(tmp_path, logs)
    out = tmp_path / "m.ndjson"
    code = main(
        [
            "merge",
            str(tmp_path / "r1.ndjson"),
            str(tmp_path / "r2.ndjson"),
            "-o",
            str(out),
            "--strategy",
            "lww",
        ]
    )
    assert code in (0, 1)
    capsys.readouterr()
    main(["replay", str(out), "--json"])
    obj = json.loads(capsys.readouterr().out)
    expected = replay_merged(merge_events(logs, "lww").events)
    assert obj["state_hash"] == expected.state_hash
