"""A duplicate of a creation that is left out takes its place (history/holders.py).

Two concurrent identical creations are one creation made twice: the later is a
duplicate whose ids alias the first's. When the first copy is left out -- a loser
of a conflict of its own, or rejected on a losing side (``with-loser``) -- the
first later copy that is not takes its place: it applies with its own ids, and
every copy's ids then name it. Both replays (``replay_merged`` and the effective
stream, fused and staged) decide alike, and so does a replay resumed at any
record (it is handed the creations left out before its start).
"""

from __future__ import annotations

from typing import Any

import pytest

from schemalog.history.merge import merge_events, replay_merged
from schemalog.log.effective import plan_of_chunks
from schemalog.log.replay import replay, resume
from schemalog.log.store.port import RawChunk
from schemalog.model.events import CommentOnTable, DropTable, Event, RenameTable, new_event
from schemalog.model.events import build_add_property as add_property
from test_merge_replays import RESOLVING, _Branch, _node_def, assert_replays_and_applies
from test_replay_fused import assert_same


def _resumed_replays_agree(lines: list[bytes], whole: Any) -> None:
    """A replay stopped after any record and resumed ends as the whole replay."""
    raw = [RawChunk(0, lines, sum(len(x) + 1 for x in lines))]
    plan = plan_of_chunks(lambda: raw)
    for cut in range(1, len(lines)):
        half = replay([RawChunk(0, lines[:cut], 0)], plan=plan, batch_events=1)
        assert half.stopped is None
        again = resume(raw, half, plan=plan)
        assert (again.state_hash, again.ok) == (whole.state_hash, True), cut


def _lost_first_copy() -> tuple[list[list[Event]], dict[str, Event]]:
    """a and b make node table N concurrently (b's a duplicate of a's); c renames A to N
    between them. Under ``lww`` a's N loses to c's rename and b's N beats it: b's N
    takes the place of a's. a then adds x to its own N, and b comments on its N."""
    wall = [1_700_000_000_000]
    root = _Branch("r", wall, [], _empty())
    assert root.write(_node_def("A", 0))
    a, b, c = (_Branch(o, wall, root.events, root.state) for o in "abc")
    steps: list[tuple[_Branch, Any]] = [
        (a, lambda: _node_def("N", 0)),
        (c, lambda: RenameTable(root.events[0].id, "N")),
        (b, lambda: _node_def("N", 0)),
        (a, lambda: add_property(a.events[-1].id, "x", "INT64")),
        (b, lambda: CommentOnTable(b.events[-1].id, "b's")),
    ]
    for branch, change in steps:
        wall[0] += 10
        assert branch.write(change())
    events = {"a_n": a.events[1], "b_n": b.events[1], "a_x": a.events[2], "c": c.events[1]}
    return [a.events, b.events, c.events], events


def _empty() -> Any:
    from schemalog.model.schema import empty_state

    return empty_state()


def test_a_duplicate_of_a_lost_creation_takes_its_place() -> None:
    logs, e = _lost_first_copy()
    result = merge_events(logs, "lww")
    losers = {r.losers[0] for r in result.conflicts}
    assert losers == {e["a_n"].id, e["c"].id}
    report = assert_replays_and_applies(result)
    assert [(s.kind, s.event_id) for s in report.skipped] == [
        ("loser", e["a_n"].id),
        ("loser", e["c"].id),
    ]
    n = report.state.tables[e["b_n"].id]  # b's ids: b's N holds the place
    assert n.name == "N" and n.comment == "b's"
    assert [p.name for p in n.properties] == ["id", "v", "x"]  # a's x, on a's ids, lands
    assert e["a_n"].id not in report.state.tables
    lines = result.lines()
    _resumed_replays_agree(lines, report)
    for strategy in RESOLVING:  # (whichever copy loses, the merge replays cleanly)
        assert_replays_and_applies(merge_events(logs, strategy), engine=False)


def test_a_duplicate_of_a_lost_creation_takes_its_place_in_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs, _ = _lost_first_copy()
    assert_same(merge_events(logs, "lww").lines(), monkeypatch, "lost first copy")


def _first_copy_left_out_with_a_loser() -> tuple[list[list[Event]], dict[str, Event]]:
    """a drops table M and makes a new M; b comments on the old M; c renames the old M
    to K, makes M too (a duplicate of a's new M) and comments on it. Under ``lww`` a's
    drop loses (to b's comment and c's rename), so a's new M is rejected (name-taken:
    the old M still holds the name) and left out with it; c's M, after c's rename freed
    the name, takes its place."""
    wall = [1_700_000_000_000]
    root = _Branch("r", wall, [], _empty())
    assert root.write(_node_def("M", 0))
    old = root.events[0].id
    a, b, c = (_Branch(o, wall, root.events, root.state) for o in "abc")
    steps: list[tuple[_Branch, Any]] = [
        (a, lambda: DropTable(old)),
        (a, lambda: _node_def("M", 1)),
        (b, lambda: CommentOnTable(old, "b's")),
        (c, lambda: RenameTable(old, "K")),
        (c, lambda: _node_def("M", 1)),
        (c, lambda: CommentOnTable(c.events[-1].id, "c's")),
    ]
    for branch, change in steps:
        wall[0] += 10
        assert branch.write(change())
    events = {"a_drop": a.events[1], "a_m": a.events[2], "c_m": c.events[2]}
    return [a.events, b.events, c.events], events


def test_a_duplicate_of_a_creation_left_out_with_a_loser_takes_its_place() -> None:
    logs, e = _first_copy_left_out_with_a_loser()
    result = merge_events(logs, "lww")
    assert {r.losers[0] for r in result.conflicts} == {e["a_drop"].id}
    report = assert_replays_and_applies(result)
    assert [(s.kind, s.event_id) for s in report.skipped] == [
        ("loser", e["a_drop"].id),
        ("with-loser", e["a_m"].id),
    ]
    assert report.holders is not None and report.holders.left_out == {e["a_m"].id}
    m = report.state.tables[e["c_m"].id]
    assert (m.name, m.comment) == ("M", "c's")
    assert sorted(t.name for t in report.state.tables.values()) == ["K", "M"]
    reference = replay_merged(result.events)
    assert [r for _, r in reference.skipped if r.startswith("with loser")] == [
        r for i, r in reference.skipped if i == e["a_m"].id
    ]
    _resumed_replays_agree(result.lines(), report)
    for strategy in RESOLVING:
        assert_replays_and_applies(merge_events(logs, strategy), engine=False)


def test_a_crash_after_a_copy_took_a_place_rolls_it_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that took a place and then crashed is rolled back: the report hands out
    the Holders of the last commit (a's M left out, no place taken), and the resumed
    replay takes the place again and ends as the whole replay."""
    import schemalog.log.replay.batches as batches

    logs, e = _first_copy_left_out_with_a_loser()
    lines = merge_events(logs, "lww").lines()
    whole = replay([RawChunk(0, lines, 0)])
    victim = logs[2][-1].id  # c's comment, after c's M took the place in the same batch
    real = batches.apply

    def crashing(state: Any, event: Event) -> Any:
        if event.id == victim:
            raise RuntimeError("boom")
        return real(state, event)

    with monkeypatch.context() as m:
        m.setattr(batches, "apply", crashing)
        # records 0-4 (a's M left out at 2) commit; c's M (7) and the crash (8) do not
        crashed = replay([RawChunk(0, lines, 0)], batch_events=5)
    assert crashed.stopped is not None and crashed.stopped.kind == "crash"
    assert [x.id for x in merge_events(logs, "lww").events].index(victim) == 8
    assert crashed.position == 5 and crashed.holders is not None
    assert (crashed.holders.left_out, crashed.holders.taken) == ({e["a_m"].id}, {})
    again = resume([RawChunk(0, lines, 0)], crashed)
    assert (again.state_hash, again.ok) == (whole.state_hash, True)
    assert again.holders is not None and again.holders.taken == {e["a_m"].id: e["c_m"].id}


@pytest.mark.parametrize("case", ["lost", "left-out"])
def test_a_replay_whose_scan_falls_back_takes_the_place_alike(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pruned after every record, the scan cannot tell the later origins' ancestry and
    the stream falls back to merge's analysis (duplicates and twins of the whole log):
    the place is taken alike."""
    from schemalog.history import duplicates
    from schemalog.history.duplicates import DuplicateScanner

    make = _lost_first_copy if case == "lost" else _first_copy_left_out_with_a_loser
    result = merge_events(make()[0], "lww")
    lines = result.lines()
    whole = replay([RawChunk(0, lines, 0)])
    monkeypatch.setattr(duplicates, "_PRUNE_EVERY", 1)
    scan = DuplicateScanner()
    for event in result.events:
        scan.visit(event)
    assert not scan.exact  # (the fall back is what this test exercises)
    again = replay([RawChunk(0, lines, 0)])
    assert (again.state_hash, again.ok) == (whole.state_hash, True)
    assert [(s.kind, s.event_id) for s in again.skipped] == [
        (s.kind, s.event_id) for s in whole.skipped
    ]


def test_versions_walk_takes_the_place_as_replay() -> None:
    """The versions walk (compat, metrics) applies the same effective stream."""
    from schemalog.analysis.versions import iter_versions
    from schemalog.encoding.codec import state_hash

    for make in (_lost_first_copy, _first_copy_left_out_with_a_loser):
        result = merge_events(make()[0], "lww")
        *_, last = iter_versions(list(result.events), frozenset())
        assert state_hash(last.state) == replay_merged(result.events).state_hash


def test_a_duplicate_of_a_creation_left_out_with_a_loser_in_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs, _ = _first_copy_left_out_with_a_loser()
    assert_same(merge_events(logs, "lww").lines(), monkeypatch, "left out with a loser")


def _a_twin_outside_the_group() -> tuple[list[Event], dict[str, Event]]:
    """b adds A.y; c drops A; e comments on A: b's y loses to c's drop, which loses to
    e's comment (A stays). a, after those decisions, adds A.y again (it descends from
    b's lost y: no copy of it); f, concurrent with all of them, adds A.y too: f's y is
    a duplicate of b's (the first twin) and a twin of a's. a's y applies, so f's y
    does not take the lost one's place: it stays a duplicate."""
    from schemalog.history.merge import resolution_event

    wall = [1_700_000_000_000]
    root = _Branch("r", wall, [], _empty())
    assert root.write(_node_def("A", 0))
    table = root.events[0].id
    b, c, e, f = (_Branch(o, wall, root.events, root.state) for o in "bcef")
    for branch, change in (
        (b, add_property(table, "y", "INT64")),
        (c, DropTable(table)),
        (e, CommentOnTable(table, "e's")),
    ):
        wall[0] += 10
        assert branch.write(change)
    seen = merge_events([b.events, c.events, e.events], "reject")
    decisions = [
        resolution_event(
            r.conflict,
            e.events[-1].id
            if r.conflict.first.id == c.events[-1].id and r.conflict.second.id == e.events[-1].id
            else c.events[-1].id,
        )
        for r in seen.unresolved
    ]
    decided = merge_events([seen.events, decisions], "reject")
    assert not decided.unresolved
    a = _Branch("a", wall, list(decided.events), replay_merged(decided.events).state)
    heads = {x.id for x in decided.events} - {p for x in decided.events for p in x.parents}
    wall[0] += 10
    a.events.append(new_event(a.clock, "ws", sorted(heads), add_property(table, "y", "INT64")))
    wall[0] += 10
    assert f.write(add_property(table, "y", "INT64"))
    opened = merge_events([a.events, f.events], "reject")
    (last,) = opened.unresolved  # c's drop against f's y: the drop loses, as before
    assert last.conflict.first.id == c.events[-1].id
    done = merge_events([opened.events, [resolution_event(last.conflict, f.events[-1].id)]])
    assert not done.unresolved
    names = {"b_y": b.events[-1], "a_y": a.events[-1], "f_y": f.events[-1]}
    return list(done.events), names


def test_a_copy_stays_a_duplicate_when_a_twin_outside_its_group_applies() -> None:
    from schemalog.history.duplicates import DuplicateScanner
    from schemalog.log.effective import _analysis

    events, e = _a_twin_outside_the_group()
    found = _analysis(events)
    assert found.duplicates == {e["f_y"].id: e["b_y"].id}
    assert found.twins == {e["f_y"].id: (e["a_y"].id,)}
    scan = DuplicateScanner()
    for event in events:
        scan.visit(event)
    assert scan.exact and (scan.duplicates, scan.twins) == (found.duplicates, found.twins)
    report = assert_replays_and_applies(merge_events([events]))
    assert ("duplicate", e["f_y"].id) in [(s.kind, s.event_id) for s in report.skipped]
    (table,) = report.state.tables.values()
    assert [p.property_id for p in table.properties][-1] == f"{e['a_y'].id}/p0"


def test_a_twin_that_is_a_copy_blocks_only_if_it_holds_its_own_groups_place() -> None:
    """The twin check (holders.py) on its own: E, a copy of the lost F, has one twin T
    outside its group, itself a copy of G. T applied only if it took G's place; while
    G holds it, T never applied and E takes F's place; once T holds G's place, E stays
    a duplicate. (No log was built for it: the rule's branch, on the maps a replay hands
    it.)"""
    from schemalog.history.holders import Holders

    wall = [1_700_000_000_000]
    made = {}
    for origin in ("f", "g", "t", "e"):
        wall[0] += 10
        branch = _Branch(origin, wall, [], _empty())
        assert branch.write(_node_def("N", 0))
        made[origin] = branch.events[0]
    f, g, t, e = (made[o] for o in "fgte")
    duplicates = {e.id: f.id, t.id: g.id}
    twins = {e.id: (t.id,)}
    losers = {f.id: "create-create:N"}

    held_by_g = Holders()
    assert held_by_g.takes_place(e, duplicates, twins, losers, {}, {})
    assert held_by_g.taken == {f.id: e.id}

    held_by_t = Holders()
    held_by_t.taken[g.id] = t.id  # T took G's place: it applied
    assert not held_by_t.takes_place(e, duplicates, twins, losers, {}, {})
    assert held_by_t.taken == {g.id: t.id}
