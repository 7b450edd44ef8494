"""Two writers on one log, one with a stale view: the concurrent write meets the
other's change, merge's analysis finds the conflict, the writer's strategy
resolves it with a Merge event appended under its fencing token, and every
handle converges to the same schema and reports the conflict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from schemalog import SchemaLog
from schemalog.history.merge import merge_events, replay_merged
from schemalog.log.concurrent_writes import ConcurrentWriteFailed, UnknownConflict, append_on_view
from schemalog.log.replay import replay
from schemalog.log.store import FencedOut, MemoryStore
from schemalog.model.events import Event, Merge, RenameTable, Tag, new_event


def fixed_clock(start: int):
    wall = [start]

    def now() -> int:
        wall[0] += 1000
        return wall[0]

    return now


def two_writers(store, strategy="lww", **options) -> tuple[SchemaLog, SchemaLog]:
    """``a`` and ``b`` share ``store``; both have seen Person and City; b's clock runs later."""
    a = SchemaLog(store, origin="a", now_ms=fixed_clock(1_700_000_000_000), strategy=strategy)
    a.create_node_table("Person", [("id", "INT64"), ("name", "STRING")], "id")
    a.create_node_table("City", [("id", "INT64"), ("zip", "STRING")], "id")
    b = SchemaLog(store, origin="b", now_ms=fixed_clock(1_700_000_100_000), strategy=strategy)
    assert b.state_hash == a.state_hash
    return a, b


def merges(log: SchemaLog) -> list[Event]:
    return [e for e in log.events() if isinstance(e.change, Merge)]


def names(log: SchemaLog) -> list[str]:
    return sorted(t.name for t in log.tables())


def test_a_stale_rename_meets_the_other_rename_and_lww_resolves_it_for_both() -> None:
    a, b = two_writers(MemoryStore())
    theirs = b.rename_table("City", "Village")  # b's clock is later: lww picks it
    assert isinstance(theirs, Event) and b.last_write and not b.last_write.concurrent
    # a has not refreshed: its view still says City
    assert "City" in names(a)
    mine = a.rename_table("City", "Town")
    assert isinstance(mine, Event)
    assert mine.parents == theirs.parents  # made on the heads a had seen
    written = a.last_write
    assert written is not None and written.unseen == 1
    [report] = written.conflicts
    assert report.conflict.kind == "rename-rename"
    assert set(report.conflict.ids) == {mine.id, theirs.id}
    assert report.winner == theirs.id and report.losers == (mine.id,) and report.new
    [merge] = written.resolutions
    assert merge.parents == tuple(sorted((mine.id, theirs.id)))
    assert merges(a) == [merge] and a.position == 5  # 2 creations, 2 renames, the Merge
    # both handles: the same schema, the same conflict report
    b.refresh()
    assert names(a) == names(b) == ["Person", "Village"]
    assert a.state_hash == b.state_hash
    for log in (a, b):
        [seen] = log.conflicts()
        assert (seen.winner, seen.resolved_by, seen.new) == (theirs.id, merge.id, False)
    # the log replays as merge's reference replay of the same set of events
    reference = replay_merged(list(a.events()))
    assert reference.state_hash == a.state_hash
    assert a.verify().ok


def test_the_winner_does_not_depend_on_who_appended_first() -> None:
    # b renames on a stale view this time; lww still picks b (the later clock)
    a, b = two_writers(MemoryStore())
    a.rename_table("City", "Town")
    b.rename_table("City", "Village")
    a.refresh()
    assert names(a) == names(b) == ["Person", "Village"]
    assert [r.winner for r in a.conflicts()] == [b.last_write.events[0].id]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("strategy", "person"),
    [("drop-wins", ["id"]), ("rename-wins", ["id", "full_name"])],
)
def test_one_drops_a_property_the_other_renames(strategy: str, person: list[str]) -> None:
    a, b = two_writers(MemoryStore(), strategy)
    b.drop_property("Person", "name")
    a.rename_property("Person", "name", "full_name")  # stale: a still sees Person.name
    [report] = a.last_write.conflicts  # type: ignore[union-attr]
    assert report.conflict.kind == "rename-drop"
    b.refresh()
    assert a.state_hash == b.state_hash
    assert [p.name for p in b.table("Person").properties] == person
    assert len(merges(b)) == 1


def test_reject_leaves_the_conflict_open_until_a_person_resolves_it(tmp_path: Path) -> None:
    path = tmp_path / "schema.ndjson"
    a = SchemaLog.open(path, create=True, origin="a", now_ms=fixed_clock(1_700_000_000_000))
    a.create_node_table("City", [("id", "INT64")], "id")
    b = SchemaLog.open(path, origin="b", now_ms=fixed_clock(1_700_000_100_000))
    b.rename_table("City", "Village")
    town = a.rename_table("City", "Town")
    assert isinstance(town, Event)
    [open_conflict] = a.last_write.conflicts  # type: ignore[union-attr]
    assert open_conflict.winner is None and a.last_write.resolutions == ()  # type: ignore[union-attr]
    assert merges(a) == []
    b.refresh()
    assert a.state_hash == b.state_hash  # one log, one replay: converged, conflict open
    assert [r.winner for r in b.conflicts()] == [None]
    with pytest.raises(UnknownConflict, match="no conflict 'nope' in the log"):
        b.resolve("nope", town.id)
    # a person picks a's Town: the Merge event records it; every handle follows
    merge = b.resolve(open_conflict.conflict.key, town.id)
    assert b.resolve(open_conflict.conflict.key, town.id) == merge  # idempotent
    assert names(b) == ["Town"]
    a.refresh()
    assert names(a) == ["Town"] and a.state_hash == b.state_hash
    reopened = SchemaLog.open(path, create=False)
    assert names(reopened) == ["Town"]
    assert [(r.winner, r.resolved_by) for r in reopened.conflicts()] == [(town.id, merge.id)]
    assert reopened.verify().ok


def test_a_stale_change_that_does_not_conflict_just_joins_the_log() -> None:
    a, b = two_writers(MemoryStore())
    b.add_property("City", "name", "STRING")
    a.comment("City", "where people live")
    assert a.last_write.unseen == 1 and a.last_write.conflicts == ()  # type: ignore[union-attr]
    b.refresh()
    assert a.state_hash == b.state_hash and merges(a) == []
    city = a.table("City")
    assert [p.name for p in city.properties] == ["id", "zip", "name"]
    assert city.comment == "where people live"


def test_a_stale_change_on_a_dropped_table_is_decided_by_the_strategy() -> None:
    a, b = two_writers(MemoryStore(), "drop-wins")
    b.drop_table("City")
    a.add_property("City", "name", "STRING")  # a never saw the drop
    [report] = a.last_write.conflicts  # type: ignore[union-attr]
    assert report.conflict.kind == "change-on-dropped"
    b.refresh()
    assert names(a) == names(b) == ["Person"]
    assert a.state_hash == b.state_hash


def test_the_merge_is_appended_under_the_writers_fencing_token() -> None:
    store = MemoryStore()
    a, b = two_writers(store)
    b.fencing_token = 7
    b.rename_table("City", "Village")
    a.fencing_token = 6  # a's lease was taken over: its concurrent write is fenced out
    with pytest.raises(FencedOut):
        a.rename_table("City", "Town")
    assert len(store) == 3
    a.fencing_token = 8
    a.rename_table("City", "Town")
    assert store.newest_fencing_token == 8 and len(merges(a)) == 1


class MovingStore(MemoryStore):
    """A store another writer keeps appending to, ``times`` times, right after each read."""

    def __init__(self) -> None:
        super().__init__()
        self.intrude: list[Event] = []

    def read(self, after: str | None = None, limit: int = 1000):  # type: ignore[no-untyped-def]
        page = super().read(after, limit)
        if not page.records and self.intrude:
            event = self.intrude.pop(0)
            MemoryStore.append(self, [event], expected=self.head().checksum)
        return page


def intruders(store: MovingStore, c: SchemaLog, changes: Sequence[object]) -> list[Event]:
    """Events of writer ``c``, chained on its view, queued to land during others' reads."""
    parents: tuple[str, ...] = c.view.heads
    out = []
    for change in changes:
        event = new_event(c.clock, c.workspace, parents, change)  # type: ignore[arg-type]
        store.intrude.append(event)
        out.append(event)
        parents = (event.id,)
    return out


def test_a_log_that_moves_during_the_analysis_is_analysed_again() -> None:
    store = MovingStore()
    a, b = two_writers(store)
    c = SchemaLog(store, origin="c", now_ms=fixed_clock(1_700_000_200_000))
    city = c.table("City").table_id
    # b renames first (a's fast path fails), then c renames twice, landing while a reads
    b.rename_table("City", "Village")
    intruders(store, c, [RenameTable(city, "City0"), RenameTable(city, "City1")])
    mine = a.rename_table("City", "Town")
    assert isinstance(mine, Event)
    written = a.last_write
    assert written is not None and written.unseen == 3
    assert [r.conflict.kind for r in written.conflicts] == ["rename-rename"] * 3
    b.refresh()
    assert a.state_hash == b.state_hash
    # lww: c's clock is the latest, so its last rename stands
    assert names(b) == ["City1", "Person"]


def test_a_log_that_never_stops_moving_fails_with_the_facts() -> None:
    store = MovingStore()
    a, b = two_writers(store)
    c = SchemaLog(store, origin="c", now_ms=fixed_clock(1_700_000_200_000))
    b.tag("moved")  # a's view is stale
    intruders(store, c, [Tag(f"t{i}") for i in range(3)])
    with pytest.raises(ConcurrentWriteFailed, match="the log moved under each of 2 attempts"):
        append_on_view(
            store,
            a.view,
            [new_event(a.clock, "default", a.view.heads, Tag("x"))],
            "lww",
            attempts=2,
        )


def test_the_live_path_and_an_offline_merge_of_the_same_events_agree() -> None:
    a, b = two_writers(MemoryStore())
    base = list(a.events())
    theirs = b.rename_table("City", "Village")
    mine = a.rename_table("City", "Town")
    assert isinstance(mine, Event) and isinstance(theirs, Event)
    offline = merge_events([[*base, mine], [*base, theirs]], "lww")
    assert offline.added == a.last_write.resolutions  # type: ignore[union-attr]
    assert replay_merged(offline.events).state_hash == a.state_hash


def test_an_unknown_strategy_is_refused_when_the_log_is_opened() -> None:
    with pytest.raises(ValueError, match="strategy must be one of"):
        SchemaLog.in_memory(strategy="newest")


def test_a_writer_whose_own_drop_was_a_duplicate_replays_cleanly() -> None:
    """Found by a fuzz of stale writers (session 8). b's stale drop of T repeats a's:
    a duplicate, left out of b's view, so b's next event does not name it and b's
    lane forks; the duplicate scan cannot go on and replay falls back to merge's
    analysis (``EffectiveStream._fall_back``). Then a's creation of N loses to b's
    (lww), and a's property on its own N must go with that loser, as in
    ``replay_merged``: it was a ``concurrent`` rejection when the fall back left
    nothing to tell ancestry by."""
    store = MemoryStore()
    a = SchemaLog(store, origin="a", now_ms=fixed_clock(1_700_000_000_000), strategy="lww")
    a.create_node_table("T", [("id", "INT64")], "id")
    b = SchemaLog(store, origin="b", now_ms=fixed_clock(1_700_000_100_000), strategy="lww")
    a.drop_table("T")
    dropped = b.drop_table("T")  # stale: a duplicate of a's drop
    assert isinstance(dropped, Event) and dropped.id not in b.view.heads
    b.tag("after")  # stamped on b's view's heads: not on b's own drop
    lost = a.create_node_table("N", [("id", "INT64")], "id")
    added = a.add_property("N", "x", "INT64")
    won = b.create_node_table("N", [("id", "INT64"), ("v", "STRING")], "id")  # stale, later
    assert isinstance(lost, Event) and isinstance(added, Event) and isinstance(won, Event)
    report = replay(store)
    assert [(s.kind, s.event_id) for s in report.skipped] == [
        ("duplicate", dropped.id),
        ("loser", lost.id),
        ("with-loser", added.id),
    ]
    assert report.ok
    reference = replay_merged(list(a.events()))
    assert reference.state_hash == report.state_hash
    assert [r for _, r in reference.skipped if r.startswith("rejected")] == []
