"""The duplicate scan prunes what no later event can need (duplicates.py's module doc):
creations and sync points below the watermark, and the vector clocks of Merges every
lane descends from. Pruning changes nothing the scan decides: a scan that prunes
often agrees, event by event, with one that keeps every Merge and with one that
prunes nothing; its retained memory stays bounded on a long merged log; and its
saved state (a snapshot's) goes on as the live scan does."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.encoding.proved_line import prove_line
from schemalog.history import duplicates
from schemalog.history.duplicates import DuplicateScanner
from schemalog.history.merge import line_checksum, merge_events
from schemalog.log.effective import _duplicates
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Event, Merge, build_node_table, new_event
from schemalog.synth.generator import DEFAULT_MIX, fast_record, generate
from schemalog.synth.replicas import synth_replicas
from strategies import forked_histories


class _KeepsMerges(DuplicateScanner):
    """The scan as it was before Merges were pruned: every Merge's vector clock stays."""

    def _prune_merges(self, mark: list[int]) -> None:
        pass


def _lockstep(
    events: Sequence[Event],
    every: int,
    monkeypatch: pytest.MonkeyPatch,
    prune_after: Sequence[Event] = (),
) -> None:
    """Scan ``events`` three ways and compare after every event: pruning every ``every``
    placements (Merges too) and after each of ``prune_after``, the same keeping every
    Merge, and pruning nothing."""
    scans: list[DuplicateScanner] = []
    for cls, prune_every in (
        (DuplicateScanner, every),
        (_KeepsMerges, every),
        (DuplicateScanner, 10**9),
    ):
        monkeypatch.setattr(duplicates, "_PRUNE_EVERY", prune_every)
        scans.append(cls())
    pruned, kept, whole = scans
    merges = 0
    for event in events:
        # the module global is read at each prune: give each scan its own
        for scan, prune_every in zip(scans, (every, every, 10**9), strict=True):
            monkeypatch.setattr(duplicates, "_PRUNE_EVERY", prune_every)
            scan.visit(event)
        if event in prune_after:
            pruned._prune()
            kept._prune()
        merges += isinstance(event.change, Merge)
        assert pruned.exact == kept.exact, event.id
        clock = pruned.vector_clock(event.id, event.origin)
        assert clock == kept.vector_clock(event.id, event.origin), event.id
        if pruned.exact and whole.exact:
            assert clock == whole.vector_clock(event.id, event.origin), event.id
    assert (pruned.duplicates, pruned.table_alias, pruned.prop_alias) == (
        kept.duplicates,
        kept.table_alias,
        kept.prop_alias,
    )
    if pruned.exact:
        assert (pruned.duplicates, pruned.table_alias, pruned.prop_alias) == _duplicates(
            list(events)
        )
        assert len(pruned._merge_vcs) <= len(kept._merge_vcs) <= merges


def _merge_heavy(n: int, origins: int, seed: int, merge_weight: float = 40) -> list[Event]:
    mix = dict(DEFAULT_MIX, merge=merge_weight)
    return list(generate(n, origins, seed, mix=mix))


@pytest.mark.parametrize("every", [2, 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_scan_of_generated_logs_is_the_unpruned_scan(
    every: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _merge_heavy(3000, 3, seed)
    _lockstep(events, every, monkeypatch)
    # the comparison means something: Merges were pruned, the scan stayed exact
    monkeypatch.setattr(duplicates, "_PRUNE_EVERY", every)
    scan = DuplicateScanner()
    for event in events:
        scan.visit(event)
    merges = sum(isinstance(e.change, Merge) for e in events)
    assert scan.exact and merges > 500 and len(scan._merge_vcs) < merges // 10


@pytest.mark.parametrize("every", [2, 8])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(history=forked_histories(), strategy=st.sampled_from(["fww", "lww"]))
def test_pruned_scan_of_merged_forks_is_the_unpruned_scan(
    every: int, history: tuple[list[Event], list[Event], list[Event]], strategy: str
) -> None:
    prefix, a, b = history
    events = list(merge_events([prefix + a, prefix + b], strategy).events)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _lockstep(events, every, monkeypatch)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 4), st.floats(0, 0.8), st.sampled_from([2, 8]))
def test_pruned_scan_of_merged_replicas_is_the_unpruned_scan(
    seed: int, replicas: int, rate: float, every: int
) -> None:
    events = list(merge_events(synth_replicas(replicas, 10, 20, seed, conflict_rate=rate)).events)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _lockstep(events, every, monkeypatch)


def _peaks(scan: DuplicateScanner, events: Sequence[Event], parts: int) -> list[int]:
    """The most memory tracemalloc counted after an event of each of ``parts`` equal parts
    of ``events`` (nothing else allocated on the way: the peaks are a preallocated list)."""
    peaks = [0] * parts
    size = -(-len(events) // parts)
    for i, event in enumerate(events):
        scan.visit(event)
        now = tracemalloc.get_traced_memory()[0]
        if now > peaks[i // size]:
            peaks[i // size] = now
    return peaks


def test_retained_memory_of_the_scan_stays_bounded_on_a_long_merged_log() -> None:
    events = _merge_heavy(24_000, 3, 7)
    merges = sum(isinstance(e.change, Merge) for e in events)
    assert merges > 5000
    scan = DuplicateScanner()
    tracemalloc.start()
    try:
        _, early, late = _peaks(scan, events, 3)
    finally:
        tracemalloc.stop()
    assert scan.exact
    # Between prunes the index holds up to ~2,000 creations, in every third alike;
    # kept Merges would add ~240 bytes each (a list of 3 clocks, its slot in a growing dict).
    assert late - early < 32 * 1024, (early, late)


@pytest.mark.parametrize("log", ["replicas", "generated"])
def test_a_saved_scan_goes_on_as_the_live_one(log: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """to_obj/from_obj halfway (tuple entries, anchored Merges) and the scan goes on alike."""
    monkeypatch.setattr(duplicates, "_PRUNE_EVERY", 16)
    if log == "replicas":
        events = list(merge_events(synth_replicas(3, 30, 60, 11, conflict_rate=0.5)).events)
    else:
        events = _merge_heavy(1500, 3, 3)
    half = len(events) // 2
    live = DuplicateScanner()
    for event in events[:half]:
        live.visit(event)
    saved = DuplicateScanner.from_obj(live.to_obj())
    assert saved.to_obj() == live.to_obj()
    for event in events[half:]:
        live.visit(event)
        saved.visit(event)
        assert saved.vector_clock(event.id, event.origin) == live.vector_clock(
            event.id, event.origin
        )
    assert saved.exact and live.exact
    # (their saved forms may differ in a sync point's own entry, which a lookup overwrites)
    assert saved.to_obj()["index"] == live.to_obj()["index"]
    assert (live.duplicates, live.table_alias, live.prop_alias) == _duplicates(events)


def _writer(*origins: str) -> Callable[[str, list[Event], Any], Event]:
    """``event(origin, parents, change)``: one new event of ``origin``, a millisecond on."""
    wall = [1_700_000_000_000]
    clocks = {o: HybridLogicalClock(o, lambda: wall[0]) for o in origins}

    def event(origin: str, parents: list[Event], change: Any) -> Event:
        wall[0] += 1
        return new_event(clocks[origin], "ws", [p.id for p in parents], change)

    return event


def _table(name: str) -> Any:
    return build_node_table(name, [("id", "INT64", None)], "id")


def test_a_pruned_merge_above_the_watermark_of_its_origin_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Merge of a's, anchored on b and pruned there, would read as an event of a's lane
    between a1 and a2 (where x is): b3 would seem to descend from x. It is kept instead."""
    event = _writer("a", "b")

    a1 = event("a", [], _table("A1"))
    b1 = event("b", [a1], _table("B1"))
    x = event("a", [a1], _table("T"))
    m = event("a", [a1, b1], Merge())  # not after x: a Merge is on no lane
    b2 = event("b", [m], _table("B2"))  # anchors m on b
    a2 = event("a", [x, b2], _table("A2"))  # every lane descends from b2: m can go
    b3 = event("b", [b2, m], _table("T"))  # concurrent with x: a duplicate of it
    events = [a1, b1, x, m, b2, a2, b3]
    assert _duplicates(events)[0] == {b3.id: x.id}
    _lockstep(events, 10**9, monkeypatch, prune_after=[a2])


def test_a_pruned_merge_of_an_origin_without_a_lane_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resolution's origin writes after its Merge was pruned: a3 naming the Merge again
    must not read it as an event of that origin's new lane (whose clock covers b2's Q)."""
    event = _writer("a", "b", "merge-x")

    a1 = event("a", [], _table("A1"))
    b1 = event("b", [a1], _table("B1"))
    r = event("merge-x", [a1, b1], Merge())
    a2 = event("a", [r], _table("A2"))  # anchors r on a
    b2 = event("b", [a2], _table("Q"))  # every lane descends from a2: r can go
    z = event("merge-x", [b2], _table("Z"))  # a new lane, after r
    a3 = event("a", [a2, r], _table("Q"))  # concurrent with b2's Q: a duplicate of it
    events = [a1, b1, r, a2, b2, z, a3]
    assert _duplicates(events)[0] == {a3.id: b2.id}
    _lockstep(events, 10**9, monkeypatch, prune_after=[b2])


def test_a_merge_no_lane_event_names_yet_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolution every lane has seen the parents of is still a head: b2 builds on it
    alone, and only its vector clock says that b2 follows b1 (no fork)."""
    event = _writer("a", "b", "merge-x")

    a1 = event("a", [], _table("A1"))
    b1 = event("b", [a1], _table("B1"))
    a2 = event("a", [b1], _table("A2"))
    r = event("merge-x", [a1, b1], Merge())  # every lane has seen a1 and b1 (W)
    b2 = event("b", [r], _table("B2"))
    _lockstep([a1, b1, a2, r, b2], 10**9, monkeypatch, prune_after=[r])


def _lines(events: Sequence[Event]) -> list[bytes]:
    out: list[bytes] = []
    prev: str | None = None
    for event in events:
        out.append(fast_record(event, prev))
        prev = line_checksum(out[-1])
    return out


@pytest.mark.parametrize("every", [2, 1024])
@pytest.mark.parametrize("log", ["generated", "replicas"])
def test_the_fused_paths_visits_scan_as_the_events_do(
    log: str, every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``visit_fields`` (replay's fused path: own-lane creations placed inline, entries
    as tuples until a key repeats) agrees with ``visit`` event by event."""
    monkeypatch.setattr(duplicates, "_PRUNE_EVERY", every)
    if log == "generated":
        events = _merge_heavy(3000, 3, 5, merge_weight=4)
    else:
        events = list(merge_events(synth_replicas(3, 40, 80, 2, conflict_rate=0.6)).events)
    by_event, by_fields = DuplicateScanner(), DuplicateScanner()
    proved = 0
    for event, line in zip(events, _lines(events), strict=True):
        by_event.visit(event)
        facts = prove_line(line)
        if facts is None:  # creations (and anything else the fused path leaves): staged
            by_fields.visit(event)
        else:
            kind, fields, eid, origin, clock, parents = facts[:6]
            by_fields.visit_fields(eid, origin, parents, clock, kind, fields, line)
            proved += 1
        assert by_fields.vector_clock(event.id, event.origin) == by_event.vector_clock(
            event.id, event.origin
        )
    assert proved > len(events) // 2 and by_fields.exact == by_event.exact
    # (replicas' origins start late: pruning every 2 placements leaves a new origin
    # that may be concurrent with pruned creations, and both scans say so alike)
    assert by_event.exact or (log, every) == ("replicas", 2)
    found = (by_fields.duplicates, by_fields.table_alias, by_fields.prop_alias)
    assert found == (by_event.duplicates, by_event.table_alias, by_event.prop_alias)
    if by_event.exact:
        assert found == _duplicates(events)
        assert by_fields.to_obj()["index"] == by_event.to_obj()["index"]
