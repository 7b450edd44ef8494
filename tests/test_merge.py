"""Merge: algebra over generated histories, each conflict kind, each strategy, partition heal."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemalog.encoding.codec import encode_record
from schemalog.errors import ChainBroken
from schemalog.history.merge import (
    BadResolution,
    Conflict,
    ForkedEvent,
    MissingParents,
    find_conflicts,
    merge_events,
    replay_merged,
)
from schemalog.history.replica import PrefixRewritten, Replica
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    CommentOnTable,
    Connection,
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
    SetSortedBy,
    SortKey,
    Tag,
    build_add_property,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.schema import table_by_name
from schemalog.synth.replicas import synth_replicas

STRATS = ["reject", "lww", "fww", "drop-wins", "rename-wins"]


def _hash(events: tuple[Event, ...] | list[Event]) -> str:
    return replay_merged(events).state_hash


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32),
    st.integers(2, 3),
    st.sampled_from(STRATS),
    st.floats(0.0, 0.6),
)
def test_merge_is_commutative_associative_idempotent(
    seed: int, replicas: int, strategy: str, rate: float
) -> None:
    logs = [*synth_replicas(3, 6, 10, seed, conflict_rate=rate)[:replicas], []]
    a, b, c = logs[0], logs[1], logs[2] if replicas == 3 else logs[1][:4]
    whole = merge_events([a, b, c], strategy)
    data = whole.to_bytes()
    for perm in itertools.permutations([a, b, c]):
        assert merge_events(list(perm), strategy).to_bytes() == data
    ab = merge_events([a, b], strategy).events
    bc = merge_events([b, c], strategy).events
    assert merge_events([ab, c], strategy).to_bytes() == data
    assert merge_events([a, bc], strategy).to_bytes() == data
    again = merge_events([whole.events, a, b, c], strategy)
    assert again.to_bytes() == data and again.added == ()
    assert _hash(merge_events([ab, c], strategy).events) == _hash(whole.events)
    if strategy != "reject":
        assert whole.unresolved == ()


# ---------------------------------------------------------------- hand-made scenarios


class World:
    """A shared prefix (tables Person, City, LivesIn) and two partitioned writers."""

    def __init__(self) -> None:
        self.walls = {"a": [1_000_000], "b": [1_000_000]}
        self.clocks = {o: HybridLogicalClock(o, lambda o=o: self.walls[o][0]) for o in "ab"}  # type: ignore[misc]
        self.heads: dict[str, str | None] = {"a": None, "b": None}
        self.prefix: list[Event] = []
        person = self._emit(
            "a", build_node_table("Person", [("id", "INT64"), ("age", "INT64")], "id")
        )
        city = self._emit("a", build_node_table("City", [("id", "INT64")], "id"))
        lives = self._emit("a", build_rel_table("LivesIn", [(person.id, city.id)]))
        self.person, self.city, self.lives = person.id, city.id, lives.id
        self.age = f"{person.id}/p1"
        self.prefix = [person, city, lives]
        self.clocks["b"].observe(lives.hlc)
        self.heads["b"] = lives.id
        self.branch: dict[str, list[Event]] = {"a": [], "b": []}

    def _emit(self, origin: str, change: object) -> Event:
        self.walls[origin][0] += 10
        head = self.heads[origin]
        event = new_event(self.clocks[origin], "ws", [head] if head else [], change)  # type: ignore[arg-type]
        self.heads[origin] = event.id
        return event

    def on(self, origin: str, change: object) -> Event:
        event = self._emit(origin, change)
        self.branch[origin].append(event)
        return event

    def logs(self) -> list[list[Event]]:
        return [self.prefix + self.branch["a"], self.prefix + self.branch["b"]]


def _kinds(w: World) -> list[str]:
    return [c.kind for c in find_conflicts(itertools.chain(*w.logs()))]


def test_rename_rename() -> None:
    w = World()
    w.on("a", RenameTable(w.person, "Human"))
    w.on("b", RenameTable(w.person, "People"))
    assert _kinds(w) == ["rename-rename"]


def test_same_rename_on_both_sides_is_no_conflict() -> None:
    w = World()
    w.on("a", RenameTable(w.person, "Human"))
    w.on("b", RenameTable(w.person, "Human"))
    assert _kinds(w) == []
    assert table_by_name(replay_merged(merge_events(w.logs()).events).state, "Human")


def test_rename_drop_of_property() -> None:
    w = World()
    w.on("a", RenameProperty(w.person, w.age, "years"))
    w.on("b", DropProperty(w.person, w.age))
    assert _kinds(w) == ["rename-drop"]


def test_sorted_by_on_a_property_the_other_side_dropped() -> None:
    w = World()
    w.on("a", SetSortedBy(w.person, (SortKey(w.age, "DESC"),)))
    w.on("b", DropProperty(w.person, w.age))
    assert _kinds(w) == ["change-on-dropped"]
    # each resolution replays: the drop winning skips the SORTED BY, and vice versa
    for strategy in ("drop-wins", "lww", "fww"):
        merged = merge_events(w.logs(), strategy=strategy)
        replayed = replay_merged(merged.events)
        assert not any("rejected" in why for _, why in replayed.skipped), strategy


def test_concurrent_sorted_by_on_other_properties_is_no_conflict() -> None:
    w = World()
    w.on("a", SetSortedBy(w.person, (SortKey(w.age, "DESC"),)))
    w.on("b", SetSortedBy(w.person, (SortKey(w.person + "/p0", "ASC"),)))
    w.on("b", RenameProperty(w.person, w.age, "years"))
    assert _kinds(w) == []
    state = replay_merged(merge_events(w.logs()).events).state
    assert state.tables[w.person].sorted_by  # the later one in causal order wins


def test_rename_to_a_name_the_other_side_created() -> None:
    w = World()
    w.on("a", RenameTable(w.city, "Town"))
    w.on("b", build_node_table("Town", [("id", "STRING")], "id"))
    assert _kinds(w) == ["rename-to-created-name"]


def test_property_added_twice_with_different_types() -> None:
    w = World()
    w.on("a", build_add_property(w.person, "email", "STRING"))
    w.on("b", build_add_property(w.person, "email", "INT64"))
    assert _kinds(w) == ["property-add-mismatch"]


def test_property_added_twice_with_different_defaults() -> None:
    w = World()
    w.on("a", build_add_property(w.person, "n", "INT64", 1))
    w.on("b", build_add_property(w.person, "n", "INT64", 2))
    assert _kinds(w) == ["property-add-mismatch"]


def test_change_to_a_table_the_other_side_dropped() -> None:
    w2 = World()
    # drop an unreferenced table on one side, comment it on the other
    dog = w2.on("a", build_node_table("Dog", [("id", "INT64")], "id"))
    w2.prefix.append(dog)
    w2.branch["a"].clear()
    w2.clocks["b"].observe(dog.hlc)
    w2.heads["b"] = dog.id
    w2.on("a", DropTable(dog.id))
    w2.on("b", CommentOnTable(dog.id, "good boy"))
    assert _kinds(w2) == ["change-on-dropped"]


def test_two_creations_with_different_definitions() -> None:
    w = World()
    w.on("a", build_node_table("Dog", [("id", "INT64")], "id"))
    w.on("b", build_node_table("Dog", [("id", "STRING")], "id"))
    assert _kinds(w) == ["create-create-mismatch"]


def test_two_renames_to_one_name_clash() -> None:
    w = World()
    w.on("a", RenameTable(w.person, "X"))
    w.on("b", RenameTable(w.city, "X"))
    assert _kinds(w) == ["name-clash"]


def test_identical_creations_are_one_table_and_changes_follow_the_alias() -> None:
    w = World()
    w.on("a", build_node_table("Dog", [("id", "INT64"), ("n", "STRING")], "id"))
    dog_b = w.on("b", build_node_table("Dog", [("id", "INT64"), ("n", "STRING")], "id"))
    w.on("b", build_add_property(dog_b.id, "bark", "BOOLEAN"))
    w.on("b", RenameProperty(dog_b.id, f"{dog_b.id}/p1", "name"))
    assert _kinds(w) == []
    replay = replay_merged(merge_events(w.logs()).events)
    dog = table_by_name(replay.state, "Dog")
    assert dog is not None and [p.name for p in dog.properties] == ["id", "name", "bark"]
    assert [reason.split(" ")[0] for _, reason in replay.skipped] == ["duplicate"]


def test_compatible_concurrent_changes_merge_cleanly() -> None:
    w = World()
    w.on("a", build_add_property(w.person, "email", "STRING"))
    w.on("b", build_add_property(w.city, "zip", "STRING"))
    w.on("a", RenameTable(w.person, "Human"))  # rename cascades into LivesIn
    w.on("b", AddConnection(w.lives, Connection(w.person, w.person)))
    w.on("b", Tag("v2"))
    result = merge_events(w.logs(), "reject")
    assert result.conflicts == () and result.added == ()
    replay = replay_merged(result.events)
    assert replay.skipped == ()
    assert table_by_name(replay.state, "Human") is not None


# ---------------------------------------------------------------- strategies


def _rename_vs_drop() -> tuple[World, Event, Event]:
    w = World()
    dog = w.on("a", build_node_table("Dog", [("id", "INT64")], "id"))
    w.prefix.append(dog)
    w.branch["a"].clear()
    w.clocks["b"].observe(dog.hlc)
    w.heads["b"] = dog.id
    rename = w.on("a", RenameTable(dog.id, "Hound"))
    w.walls["b"][0] += 100  # the drop is later
    drop = w.on("b", DropTable(dog.id))
    return w, rename, drop


@pytest.mark.parametrize(
    ("strategy", "expect"),
    [("lww", "drop"), ("fww", "rename"), ("drop-wins", "drop"), ("rename-wins", "rename")],
)
def test_strategy_picks_the_winner_and_replay_skips_the_loser(strategy: str, expect: str) -> None:
    w, rename, drop = _rename_vs_drop()
    result = merge_events(w.logs(), strategy)
    (report,) = result.conflicts
    winner = drop if expect == "drop" else rename
    loser = rename if expect == "drop" else drop
    assert report.winner == winner.id and report.losers == (loser.id,)
    (merge_event,) = result.added
    assert set(merge_event.parents) == {rename.id, drop.id}
    state = replay_merged(result.events).state
    assert (table_by_name(state, "Hound") is not None) == (expect == "rename")
    # a second replica resolving the same conflict the same way: byte-identical
    assert merge_events(list(reversed(w.logs())), strategy).to_bytes() == result.to_bytes()


def test_reject_records_no_winner() -> None:
    w, _, _ = _rename_vs_drop()
    result = merge_events(w.logs(), "reject")
    assert len(result.unresolved) == 1 and result.added == ()
    # resolving later with lww adds exactly the resolution event
    later = merge_events([result.events], "lww")
    assert len(later.added) == 1 and later.unresolved == ()


def test_callable_strategy_and_per_kind() -> None:
    w, rename, _drop = _rename_vs_drop()
    seen: list[Conflict] = []

    def policy(conflict: Conflict) -> str:
        seen.append(conflict)
        return rename.id

    result = merge_events(w.logs(), "lww", per_kind={"rename-drop": policy})
    assert result.conflicts[0].winner == rename.id and seen[0].kind == "rename-drop"
    with pytest.raises(BadResolution):
        merge_events(w.logs(), lambda c: "nobody@1.0")


def test_two_replicas_resolving_differently_converge_on_the_later_resolution() -> None:
    w, rename, drop = _rename_vs_drop()
    r1 = merge_events(w.logs(), "lww")
    r2 = merge_events(w.logs(), "fww")
    both = merge_events([r1.events, r2.events], "reject")
    assert merge_events([r2.events, r1.events], "reject").to_bytes() == both.to_bytes()
    assert len([e for e in both.events if e.kind == "merge"]) == 2
    (report,) = both.conflicts
    assert report.winner in (rename.id, drop.id)


def test_descendant_of_a_loser_is_kept_when_still_applicable() -> None:
    w, rename, _drop = _rename_vs_drop()
    w.on("a", build_add_property(rename.change.table_id, "x", "INT64"))  # type: ignore[union-attr]
    w.on("a", build_add_property(w.person, "y", "INT64"))
    result = merge_events(w.logs(), "lww")
    replay = replay_merged(result.events)
    reasons = dict(replay.skipped)
    assert reasons[rename.id].startswith("loser of rename-drop")
    # the add_property on the dropped table no longer applies; the one on Person does
    person = replay.state.tables[w.person]
    assert "y" in [p.name for p in person.properties]


# ---------------------------------------------------------------- partitions


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_three_partitions_heal_in_every_order(order: tuple[int, ...]) -> None:
    logs = synth_replicas(3, 8, 12, seed=11, conflict_rate=0.4)
    reference = merge_events(logs, "lww")
    reps = [Replica(f"r{i}", log, "lww") for i, log in enumerate(logs)]
    x, y, z = (reps[i] for i in order)
    x.exchange(y)
    y.exchange(z)
    z.exchange(x)
    for rep in reps:
        assert b"".join(line + b"\n" for line in rep.lines) == reference.to_bytes()
    before = reps[0].lines[:]
    reps[0].exchange(reps[1])  # re-delivery changes nothing
    assert reps[0].lines == before


def test_pairwise_sequences_converge() -> None:
    logs = synth_replicas(3, 8, 12, seed=12, conflict_rate=0.4)
    reference = merge_events(logs, "rename-wins").to_bytes()
    for pairs in itertools.permutations([(0, 1), (1, 2), (0, 2)]):
        reps = [Replica(f"r{i}", log, "rename-wins") for i, log in enumerate(logs)]
        for _ in range(2):
            for i, j in pairs:
                reps[i].exchange(reps[j])
        assert all(b"".join(ln + b"\n" for ln in r.lines) == reference for r in reps)


def _lines(events: list[Event]) -> list[bytes]:
    out, prev = [], None
    for e in events:
        line = encode_record(e, prev)
        out.append(line)
        prev = line[13 : line.index(b'"', 13)].decode()
    return out


def test_forked_prefix_is_refused() -> None:
    logs = synth_replicas(2, 5, 4, seed=13)
    ours = Replica("r1", logs[0])
    forged = list(logs[1])
    forged[2] = (
        replace(forged[2], change=Tag("rewritten"))
        if forged[2].kind
        not in (
            "create_node_table",
            "create_rel_table",
            "add_property",
        )
        else replace(forged[2], parents=())
    )
    with pytest.raises(ForkedEvent) as info:
        ours.receive("r2", _lines(forged))
    assert info.value.event_id == forged[2].id


def test_rewritten_history_after_an_exchange_is_refused() -> None:
    logs = synth_replicas(2, 5, 4, seed=14)
    a, b = Replica("a", logs[0]), Replica("b", logs[1])
    a.exchange(b)
    # b "forgets" its newest events and rewrites its log
    with pytest.raises(PrefixRewritten):
        a.receive("b", _lines(list(b.events[:-2])))


def test_tampered_log_and_missing_parents_are_refused() -> None:
    logs = synth_replicas(1, 6, 0, seed=15)
    lines = _lines(logs[0])
    with pytest.raises(ChainBroken):
        Replica("a").receive("b", [lines[0], lines[2]])
    with pytest.raises(MissingParents):
        merge_events([logs[0][3:]])
