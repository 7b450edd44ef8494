"""A log that is one chain so far skips the duplicate scan (log/replay/resolve.LazyScan).

The scan is left out while every record names the one before it; a log that
then leaves the chain must still get every duplicate the scan finds, and
every replay must report what the replay with the scan from its start
reports (state, skips, the scan it hands to snapshots).
"""

from __future__ import annotations

from typing import Any

import pytest

import schemalog.log.replay.pipeline as pipeline
from schemalog.history import duplicates
from schemalog.history.duplicates import DuplicateScanner
from schemalog.log.concurrent_writes import catch_up
from schemalog.log.replay import replay
from schemalog.log.store import MemoryStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Event, build_add_property, build_node_table, new_event


def _store(events: list[Event]) -> MemoryStore:
    store = MemoryStore()
    store.append(events, expected=None)
    return store


def _chain(n: int, wall: list[int], clock: HybridLogicalClock) -> list[Event]:
    events: list[Event] = []
    for i in range(n):
        wall[0] += 1
        parents = [events[-1].id] if events else []
        spec = build_node_table(f"T{i}", [("id", "INT64", None)], "id")
        events.append(new_event(clock, "ws", parents, spec))
    return events


def _left_the_chain(n: int) -> list[Event]:
    """``n`` chained creations by "a", then "b" creating T3 again, concurrently, and using it."""
    wall = [1_700_000_000_000]
    a = HybridLogicalClock("a", lambda: wall[0])
    b = HybridLogicalClock("b", lambda: wall[0])
    events = _chain(n, wall, a)
    wall[0] += 1
    twin = new_event(b, "ws", [], build_node_table("T3", [("id", "INT64", None)], "id"))
    wall[0] += 1
    table_id = twin.change.table_id  # type: ignore[union-attr]
    use = new_event(b, "ws", [twin.id], build_add_property(table_id, "extra", "STRING"))
    return [*events, twin, use]


def _both(store: MemoryStore, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Any:
    lazy = replay(store, **options)
    with monkeypatch.context() as m:
        m.setattr(pipeline, "LazyScan", lambda *args: None)  # the scan from the start
        eager = replay(store, **options)
    return lazy, eager


@pytest.mark.parametrize("prune_every", [1024, 4])
@pytest.mark.parametrize("batch_events", [1, 7, 1024])
def test_a_log_that_leaves_the_chain_still_gets_its_duplicates(
    prune_every: int, batch_events: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duplicates, "_PRUNE_EVERY", prune_every)
    events = _left_the_chain(30)
    lazy, eager = _both(_store(events), monkeypatch, batch_events=batch_events)
    assert lazy == eager
    assert lazy.ok and [(s.kind, s.event_id) for s in lazy.skipped] == [
        ("duplicate", events[-2].id)
    ]
    # the later use of the duplicate's table id was applied to the first creation's
    first = lazy.state.tables[events[3].change.table_id]  # type: ignore[union-attr]
    assert [p.name for p in first.properties] == ["id", "extra"]
    # (pruned every 4: the stream fell back to merge's analysis, and hands out no scan)
    assert (lazy.scanner is None) == (eager.scanner is None) == (prune_every == 4)
    if lazy.scanner is not None and eager.scanner is not None:
        assert lazy.scanner.to_obj() == eager.scanner.to_obj()


def test_one_chain_visits_nothing_and_still_hands_out_its_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = _left_the_chain(50)
    store = _store(events[:50])
    visited: list[str] = []
    real_visit, real_fields = DuplicateScanner.visit, DuplicateScanner.visit_fields

    def counting(self: DuplicateScanner, event: Event) -> None:
        visited.append(event.id)
        real_visit(self, event)

    def counting_fields(self: DuplicateScanner, event_id: str, *facts: Any) -> None:
        visited.append(event_id)  # (the fused path visits what it proved by its fields)
        real_fields(self, event_id, *facts)

    monkeypatch.setattr(DuplicateScanner, "visit", counting)
    monkeypatch.setattr(DuplicateScanner, "visit_fields", counting_fields)
    lazy = replay(store)
    assert visited == []  # one chain: the scan was left out
    with monkeypatch.context() as m:
        m.setattr(pipeline, "LazyScan", lambda *args: None)
        eager = replay(store)
    assert len(visited) == 50
    assert lazy == eager
    assert lazy.scanner is not None and eager.scanner is not None
    assert lazy.scanner.to_obj() == eager.scanner.to_obj()
    # a view caught up from the scan it handed out finds the duplicate appended later
    store.append(events[50:], expected=store.head().checksum)
    caught = catch_up(store, lazy)
    whole = replay(store)
    assert caught.state_hash == whole.state_hash and caught.skipped == whole.skipped
    assert [s.kind for s in whole.skipped] == ["duplicate"]
