"""Who is whose duplicate, decided alike by merge's analysis, the streaming scan
(pruned or not, resumed from its saved form) and both replays.

The rules (conflicts.py, merge.takes_over): an event is not the duplicate of a
twin when it descends from that twin or from a duplicate of it (its writer saw
the change made and made it again: it undid it in between), and two drops of a
FROM/TO pair are no twins when an add of the pair is in one's past and in no form
in the other's (they remove different makings of it); a duplicate drop or
connection change records every concurrent identical twin, and a copy of a lost
change takes its place only when none of its twins applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from schemalog.history import duplicates
from schemalog.history.duplicates import DuplicateScanner
from schemalog.history.merge import merge_events, replay_merged
from schemalog.log.effective import _analysis
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    CommentOnTable,
    Connection,
    DropConnection,
    DropProperty,
    Event,
    RenameProperty,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.schema import empty_state
from strategies import forked_histories
from test_merge_replays import RESOLVING, _Branch, adversarial_logs, assert_replays_and_applies


def _writer() -> Callable[[str, list[Event], Any], Event]:
    """``event(origin, parents, change)``: one new event of ``origin``, 10 ms on."""
    wall = [1_700_000_000_000]
    clocks: dict[str, HybridLogicalClock] = {}

    def event(origin: str, parents: list[Event], change: Any) -> Event:
        wall[0] += 10
        clock = clocks.setdefault(origin, HybridLogicalClock(origin, lambda: wall[0]))
        return new_event(clock, "ws", [p.id for p in parents], change)

    return event


def _applies(events: list[Event]) -> None:
    """Each origin's events apply on its writer's view (its ancestors, merged): a writer
    could have made them."""
    by_id = {e.id: e for e in events}
    for origin in {e.origin for e in events}:
        seen = {e.id for e in events if e.origin == origin}
        todo = list(seen)
        while todo:
            for p in by_id[todo.pop()].parents:
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        view = replay_merged([e for e in events if e.id in seen])
        assert not [r for _, r in view.skipped if r.startswith("rejected")], origin


def _redo_after_the_first_copy() -> tuple[list[Event], dict[str, Event]]:
    """b adds T.x first; a, concurrently, adds T.x (a duplicate of b's); b drops x and
    adds it again: b's new x descends from b's first copy, the one a's duplicates."""
    event = _writer()
    root = event("r", [], build_node_table("T", [("id", "INT64", None)], "id"))
    table = root.change.table_id  # type: ignore[attr-defined]
    bx1 = event("b", [root], build_add_property(table, "x", "INT64"))
    ax = event("a", [root], build_add_property(table, "x", "INT64"))
    prop = bx1.change.property.property_id  # type: ignore[attr-defined]
    bdrop = event("b", [bx1], DropProperty(table, prop))
    bx2 = event("b", [bdrop], build_add_property(table, "x", "INT64"))
    new = bx2.change.property.property_id  # type: ignore[attr-defined]
    brename = event("b", [bx2], RenameProperty(table, new, "y"))
    events = [root, bx1, ax, bdrop, bx2, brename]
    _applies(events)
    return events, {"bx1": bx1, "ax": ax, "bx2": bx2}


def test_a_change_made_again_is_no_duplicate_when_its_first_copy_was_its_own() -> None:
    """The twin the new x would match (a's) is itself the duplicate: b's new x descends
    from the first of the pair, so it is no duplicate (the rule looks at the pair, not
    only at duplicates of the twin)."""
    events, e = _redo_after_the_first_copy()
    found = _analysis(events)
    assert found.duplicates == {e["ax"].id: e["bx1"].id}
    scan = DuplicateScanner()
    for event in events:
        scan.visit(event)
    assert scan.exact and scan.duplicates == found.duplicates
    for strategy in [*RESOLVING, "reject"]:
        report = assert_replays_and_applies(merge_events([events], strategy), engine=False)
        (t,) = report.state.tables.values()
        assert [p.name for p in t.properties] == ["id", "y"]


def test_a_pruned_first_copy_still_counts() -> None:
    """a has seen b's first copy (which duplicates a's x) and goes on; the scan prunes
    b's copy (every lane descends from it) but keeps a's x (b has not seen it). b's new
    x must still not match a's x: the twin it descends from is gone from the index,
    so the scan tells it by the ids (``covers``), not by what the index holds."""
    event = _writer()
    root = event("a", [], build_node_table("T", [("id", "INT64", None)], "id"))
    table = root.change.table_id  # type: ignore[attr-defined]
    b_first = event("b", [root], CommentOnTable(table, "b"))  # (b has a lane)
    ax = event("a", [root], build_add_property(table, "x", "INT64"))
    bx1 = event("b", [b_first], build_add_property(table, "x", "INT64"))
    join = event("a", [ax, bx1], CommentOnTable(table, "seen"))
    prop = bx1.change.property.property_id  # type: ignore[attr-defined]
    bdrop = event("b", [bx1], DropProperty(table, prop))
    bx2 = event("b", [bdrop], build_add_property(table, "x", "INT64"))
    new = bx2.change.property.property_id  # type: ignore[attr-defined]
    rename = event("b", [bx2], RenameProperty(table, new, "y"))
    events = [root, b_first, ax, bx1, join, bdrop, bx2, rename]
    _applies(events)
    scan = DuplicateScanner()
    for ev in events:
        if ev is bx2:  # the case: b's first copy pruned, a's x kept
            scan._prune()
            held = {
                entry.event_id
                for group in scan._index.values()
                for slot in duplicates.lanes_of(("pn",), group).values()
                for entry in slot.entries
            }
            assert ax.id in held and bx1.id not in held
        scan.visit(ev)
    assert scan.exact
    assert scan.duplicates == _analysis(events).duplicates == {bx1.id: ax.id}
    report = assert_replays_and_applies(merge_events([events], "lww"), engine=False)
    (t,) = report.state.tables.values()
    assert [p.name for p in t.properties] == ["id", "y"]


def _assert_resumed_scans_agree(events: list[Event], whole: Any) -> None:
    """A scan saved after any event and resumed finds ``whole``'s duplicates and twins."""
    for cut in range(len(events) + 1):
        live = DuplicateScanner()
        for event in events[:cut]:
            live.visit(event)
        saved = DuplicateScanner.from_obj(live.to_obj())
        for event in events[cut:]:
            saved.visit(event)
        assert (saved.duplicates, saved.twins) == (whole.duplicates, whole.twins), cut


def _tables_with_a_pair(
    event: Callable[[str, list[Event], Any], Event],
) -> tuple[tuple[Event, Event, Event], str, str, Connection]:
    """a makes node tables T and S and rel table R (T -> T): the events, T's id, R's
    id and the pair T -> S (not yet added)."""
    t = event("a", [], build_node_table("T", [("id", "INT64", None)], "id"))
    table = t.change.table_id  # type: ignore[attr-defined]
    s = event("a", [t], build_node_table("S", [("id", "INT64", None)], "id"))
    other = s.change.table_id  # type: ignore[attr-defined]
    r = event("a", [s], build_rel_table("R", [(table, table)]))
    rel = r.change.table_id  # type: ignore[attr-defined]
    pair = Connection(table, other)
    return (t, s, r), table, rel, pair


def _a_pair_dropped_again() -> tuple[list[Event], dict[str, Event]]:
    """a and b drop the pair T -> S of R concurrently (b's a duplicate of a's); b adds it
    back, a sees b's add (so every lane descends from it: the scan prunes it), and b
    drops the pair again and adds it once more. b's second drop removes the pair b
    re-added, not the one a dropped: it is no duplicate of a's."""
    event = _writer()
    (t, s, r), table, rel, pair = _tables_with_a_pair(event)
    add = event("a", [r], AddConnection(rel, pair))
    b_first = event("b", [add], CommentOnTable(table, "b"))  # (b has a lane)
    a_drop = event("a", [add], DropConnection(rel, pair))
    b_drop = event("b", [b_first], DropConnection(rel, pair))
    b_add = event("b", [b_drop], AddConnection(rel, pair))
    join = event("a", [a_drop, b_add], CommentOnTable(table, "seen"))
    b_again = event("b", [b_add], DropConnection(rel, pair))
    b_last = event("b", [b_again], AddConnection(rel, pair))
    events = [t, s, r, add, b_first, a_drop, b_drop, b_add, join, b_again, b_last]
    _applies(events)
    names = ("a_drop", "b_drop", "b_add", "b_again", "b_last")
    return events, dict(zip(names, events[5:8] + events[9:], strict=True))


def _scan(events: list[Event], prune_before: str | None = None, save: bool = False) -> Any:
    """The scan of ``events``, pruned (and saved and resumed: ``save``) before the event
    ``prune_before``."""
    scan = DuplicateScanner()
    for event in events:
        if event.id == prune_before:
            scan._prune()
            if save:
                scan = DuplicateScanner.from_obj(scan.to_obj())
        scan.visit(event)
    return scan


def test_a_pair_dropped_again_after_it_was_re_added_is_no_duplicate() -> None:
    """The analysis, the scan (whole, pruned so that b's re-add is gone from its index
    while a's drop stays, and resumed from its saved form there) and both replays
    decide alike: b's first drop duplicates a's, its second is its own."""
    events, e = _a_pair_dropped_again()
    found = _analysis(events)
    assert found.duplicates == {e["b_drop"].id: e["a_drop"].id}
    assert found.twins == {}
    for save in (False, True):
        scan = _scan(events, e["b_again"].id, save)
        assert scan.exact and (scan.duplicates, scan.twins) == (found.duplicates, found.twins)
    pruned = _scan(events[: events.index(e["b_again"])])
    pruned._prune()  # the case: b's re-add gone from the index, a's drop held
    held = {
        entry.event_id
        for flat, group in pruned._index.items()
        for slot in duplicates.lanes_of(flat, group).values()
        for entry in slot.entries
    }
    assert e["a_drop"].id in held and e["b_add"].id not in held
    assert [*pruned._pruned_adds.values()] == [[events[3].id, e["b_add"].id]]
    _assert_resumed_scans_agree(events, found)
    for strategy in [*RESOLVING, "reject"]:
        report = assert_replays_and_applies(merge_events([events], strategy), engine=False)
        assert [(s.kind, s.event_id) for s in report.skipped] == [("duplicate", e["b_drop"].id)]
        (rel,) = [t for t in report.state.tables.values() if t.name == "R"]
        assert len(rel.connections) == 2


def _pair_drops(case: str) -> tuple[list[Event], list[Event], dict[str, str], dict[str, Any]]:
    """Drops of the pair T -> S of R in two more shapes (the events, the drops, the
    duplicates and twins expected). "copies": a and b add the pair concurrently (b's
    add a duplicate of a's) and each drops its own: one making, so b's drop is a
    duplicate of a's. "first-re-made": b drops the pair, re-adds and drops it again,
    all in the log before a's concurrent drop: a's drop duplicates b's first drop
    only, not b's second (which removed b's re-add), so it has no other twin."""
    event = _writer()
    (t, s, r), table, rel, pair = _tables_with_a_pair(event)
    if case == "copies":
        b_first = event("b", [r], CommentOnTable(table, "b"))
        a_add = event("a", [r], AddConnection(rel, pair))
        b_add = event("b", [b_first], AddConnection(rel, pair))
        a_drop = event("a", [a_add], DropConnection(rel, pair))
        b_drop = event("b", [b_add], DropConnection(rel, pair))
        events = [t, s, r, b_first, a_add, b_add, a_drop, b_drop]
        return events, [a_drop, b_drop], {b_add.id: a_add.id, b_drop.id: a_drop.id}, {}
    add = event("a", [r], AddConnection(rel, pair))
    b_first = event("b", [add], CommentOnTable(table, "b"))
    b_drop = event("b", [b_first], DropConnection(rel, pair))
    b_add = event("b", [b_drop], AddConnection(rel, pair))
    b_again = event("b", [b_add], DropConnection(rel, pair))
    b_last = event("b", [b_again], AddConnection(rel, pair))
    a_drop = event("a", [add], DropConnection(rel, pair))
    events = [t, s, r, add, b_first, b_drop, b_add, b_again, b_last, a_drop]
    return events, [b_drop, b_again, a_drop], {a_drop.id: b_drop.id}, {}


@pytest.mark.parametrize("case", ["copies", "first-re-made"])
def test_drops_of_one_making_of_a_pair_are_twins_and_only_they(case: str) -> None:
    """Which making a drop removes is told by the adds of the pair in its past, copies
    of one add counting as one (else "copies" applies both drops) and either drop's
    past counting (else a's drop in "first-re-made" is b's second drop's twin too)."""
    events, _drops, dups, twins = _pair_drops(case)
    _applies(events)
    found = _analysis(events)
    assert (found.duplicates, found.twins) == (dups, twins)
    for every in (1, 1024):
        saved, duplicates._PRUNE_EVERY = duplicates._PRUNE_EVERY, every
        try:
            scan = _scan(events)
        finally:
            duplicates._PRUNE_EVERY = saved
        assert scan.exact or every == 1  # (b's lane begins after a prune: the fall back)
        if scan.exact:
            assert (scan.duplicates, scan.twins) == (dups, twins), every
    for strategy in [*RESOLVING, "reject"]:
        assert_replays_and_applies(merge_events([events], strategy), engine=False)


def _three_copies_of_a_lost_drop(b_goes_on: bool = False) -> list[Event]:
    """a drops T.v, b renames it and wins; c (after the decision) drops T.v again; b and
    d (who forked from b after the rename), stale, drop T.v concurrently: each is a twin
    of a's lost drop, of c's and of the other's."""
    a, b, wall, table = _two_sides_of("a", "b")
    prop = f"{table}/p1"
    wall[0] += 10
    assert a.write(DropProperty(table, prop))
    wall[0] += 10
    assert b.write(RenameProperty(table, prop, "w"))
    d = _Branch("d", wall, b.events, b.state)
    decided = merge_events([a.events, b.events], "rename-wins")
    c = _Branch("c", wall, list(decided.events), replay_merged(decided.events).state)
    for branch in (c, b, d):
        wall[0] += 10
        assert branch.write(DropProperty(table, prop))
    if b_goes_on:  # stale b builds on its drop, a copy of the lost one
        wall[0] += 10
        assert b.write(CommentOnTable(table, "after"))
    return list(merge_events([a.events, b.events, c.events, d.events], "rename-wins").events)


def _two_sides_of(first: str, second: str) -> tuple[_Branch, _Branch, list[int], str]:
    wall = [1_700_000_000_000]
    root = _Branch(first, wall, [], empty_state())
    root.write(build_node_table("T", [("id", "INT64", None), ("v", "INT64", None)], "id"))
    table = root.events[0].change.table_id  # type: ignore[attr-defined]
    return root, _Branch(second, wall, root.events, root.state), wall, table


def test_every_twin_of_a_copy_is_recorded_and_none_takes_a_made_drops_place() -> None:
    events = _three_copies_of_a_lost_drop()
    drops = [e for e in events if isinstance(e.change, DropProperty)]
    lost, c_drop, b_drop, d_drop = drops
    found = _analysis(events)
    assert found.duplicates == {b_drop.id: lost.id, d_drop.id: lost.id}
    assert found.twins == {b_drop.id: (c_drop.id,), d_drop.id: (c_drop.id, b_drop.id)}
    scan = DuplicateScanner()
    for event in events:
        scan.visit(event)
    assert (scan.duplicates, scan.twins) == (found.duplicates, found.twins)
    result = merge_events([events], "rename-wins")
    report = assert_replays_and_applies(result, engine=False)
    assert sorted((s.kind, s.event_id) for s in report.skipped) == sorted(
        [("loser", lost.id), ("duplicate", b_drop.id), ("duplicate", d_drop.id)]
    )


def test_a_drop_made_after_its_twin_lost_is_a_duplicate_in_log_order() -> None:
    """Found by a store fuzz of this rule (its first form excluded drops too). a renames
    T.v, b drops it concurrently and loses (rename-wins); a, after the decision, drops
    T.v; c, stale (it saw a's rename only), drops T.v too, later by its clock but
    appended first. In log order c's drop is a copy of b's lost drop and takes its
    place; a's drop, which descends from b's lost drop, is then a duplicate of c's (a
    drop that saw its twin lose is no undo: it must not be kept apart, else it is
    applied twice). In causal order a's drop applies and c's stays a duplicate; both
    replays are clean and agree."""
    from schemalog.encoding.codec import encode_record
    from schemalog.history.merge import line_checksum, resolution_event

    a, b, wall, table = _two_sides_of("a", "b")
    prop = f"{table}/p1"
    wall[0] += 10
    assert a.write(RenameProperty(table, prop, "y"))
    c = _Branch("c", wall, a.events, a.state)
    wall[0] += 10
    assert b.write(DropProperty(table, prop))
    (conflict,) = merge_events([a.events, b.events], "reject").unresolved
    decision = resolution_event(conflict.conflict, a.events[-1].id)
    wall[0] += 10
    a_drop = new_event(a.clock, "ws", [decision.id], DropProperty(table, prop))
    c.clock.observe(a_drop.hlc)
    wall[0] += 10
    assert c.write(DropProperty(table, prop))
    log = [*a.events, b.events[-1], decision, c.events[-1], a_drop]  # c's appended first
    assert c.events[-1].hlc > a_drop.hlc
    # the analysis (a replay's fall back) in log order decides as the scan
    assert _analysis(log).duplicates == {
        c.events[-1].id: b.events[-1].id,
        a_drop.id: c.events[-1].id,
    }
    lines, prev = [], None
    for e in log:
        line = encode_record(e, prev)
        prev = line_checksum(line)
        lines.append(line + b"\n")
    from test_merge_replays import _problems, _replay_lines

    report = _replay_lines(b"".join(lines))
    assert _problems(report) == [] and report.ok
    assert [(s.kind, s.event_id) for s in report.skipped] == [
        ("loser", b.events[-1].id),
        ("duplicate", a_drop.id),
    ]
    reference = replay_merged(log)
    assert [r for _, r in reference.skipped if r.startswith("rejected")] == []
    assert reference.state_hash == report.state_hash
    (t,) = report.state.tables.values()
    assert [p.name for p in t.properties] == ["id"]


def test_the_parents_path_counts_copies_found_after_it_was_first_asked() -> None:
    """``goes_with`` reads the log's parents at the first rejection that saw a loser and
    its winner, while the scan goes on: copies of a loser found later must still share
    its fate. Asked at every event from the first (before any copy is found), the
    stream's parents path decides as ``merge._goes_with``; b's comment after its
    stale copy of a's lost drop goes with that loser."""
    from schemalog.history.merge import _goes_with, resolution_plan
    from schemalog.log.effective import plan_of_events

    events = _three_copies_of_a_lost_drop(b_goes_on=True)
    plan = resolution_plan(events)
    parents = {e.id: e.parents for e in events}
    stream = plan_of_events(events).stream(lambda: events)
    took_over: set[str] = set()
    went: dict[str, str | None] = {}
    for event in events:
        _, why = stream.step(event)
        if why is None and event.id in plan.duplicates:
            took_over.add(event.id)
        went[event.id] = stream._goes_with_parents(event)
        assert went[event.id] == _goes_with(event.id, plan, parents, took_over), event.id
    comment = events[-1]
    assert isinstance(comment.change, CommentOnTable) and comment.origin == "b"
    (lost,) = plan.losers
    assert went[comment.id] == lost


@pytest.mark.parametrize("case", ["redo", "copies"])
def test_a_saved_scan_decides_as_the_whole_one(case: str) -> None:
    """A scan saved (a snapshot's) after any event and resumed finds the same duplicates
    and twins: the pairs its rule needs (``_copies``) come back from the saved
    duplicates, the twins are saved."""
    events = _redo_after_the_first_copy()[0] if case == "redo" else _three_copies_of_a_lost_drop()
    whole = DuplicateScanner()
    for event in events:
        whole.visit(event)
    _assert_resumed_scans_agree(events, whole)


_FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@_FUZZ
@given(adversarial_logs())
def test_scan_twins_are_merge_analysis_twins(logs: list[list[Event]]) -> None:
    """On adversarial merged logs (pruning often) the scan and the analysis agree on
    duplicates and twins; replay and ``replay_merged`` agree on the state (asserted by
    the merge replay tests)."""
    events = list(merge_events(logs, "lww").events)
    found = _analysis(events)
    for every in (1, 1024):
        saved, duplicates._PRUNE_EVERY = duplicates._PRUNE_EVERY, every
        try:
            scan = DuplicateScanner()
            for event in events:
                scan.visit(event)
        finally:
            duplicates._PRUNE_EVERY = saved
        if scan.exact:
            assert (scan.duplicates, scan.twins) == (found.duplicates, found.twins)


@_FUZZ
@given(forked_histories())
def test_scan_twins_of_merged_forks_are_merge_analysis_twins(history: Any) -> None:
    prefix, a, b = history
    events = list(merge_events([prefix + a, prefix + b], "lww").events)
    scan = DuplicateScanner()
    for event in events:
        scan.visit(event)
    if scan.exact:
        found = _analysis(events)
        assert (scan.duplicates, scan.twins) == (found.duplicates, found.twins)
