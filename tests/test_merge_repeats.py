"""A change made again after its writer saw it left out is a duplicate (history/holders.py).

Whether an event goes with a loser is decided on the state, so on the order concurrent
events replay in: a writer whose store replayed an event X before a concurrent event
that X needed saw X left out with its loser and made the same change again (Y, which
descends from X). In the merged log's causal order that concurrent event comes first,
X applies, and Y is rejected though its writer saw every decision. Y then repeats X: it
is a duplicate, and its ids name what X made. Each test builds such a store log by hand
(the clocks put the concurrent event first in causal order, the store holds it after X)
and holds both orders, both replays, both replay paths, a resume after every record
and the versions walk to a clean replay under every strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from schemalog.history.merge import merge_events, replay_merged, resolution_event
from schemalog.log.replay import replay
from schemalog.log.store.port import RawChunk
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddProperty,
    CommentOnTable,
    CreateNodeTable,
    DropProperty,
    DropTable,
    Event,
    RenameProperty,
    RenameTable,
    build_add_property,
    build_rel_table,
    new_event,
)
from test_codec import encode_log
from test_merge_holders import _resumed_replays_agree
from test_merge_replays import RESOLVING, _node_def, _problems, assert_replays_and_applies
from test_replay_fused import assert_same

WALL = 1_700_000_000_000


class _Writers:
    """Events stamped at chosen wall times (so causal order is chosen) with chosen parents."""

    def __init__(self) -> None:
        self.wall = [WALL]
        self.clocks: dict[str, HybridLogicalClock] = {}

    def make(self, origin: str, at: int, parents: Sequence[Event], change: Any) -> Event:
        clock = self.clocks.setdefault(origin, HybridLogicalClock(origin, lambda: self.wall[0]))
        self.wall[0] = WALL + at
        return new_event(clock, "ws", [p.id for p in parents], change)


def _decided(events: Sequence[Event], winners: Sequence[Event]) -> list[Event]:
    """The resolutions of the open conflicts among ``events`` (a winner named for each)."""
    open_ = merge_events([events], "reject").unresolved
    ids = {w.id for w in winners}
    out = []
    for r in open_:
        (winner,) = set(r.conflict.ids) & ids
        out.append(resolution_event(r.conflict, winner))
    return out


def _store_replays_cleanly(store: Sequence[Event], left_out: Event, made_again: Event) -> None:
    """In the store's order ``left_out`` goes with its loser and ``made_again`` applies."""
    report = replay([RawChunk(0, encode_log(list(store)), 0)])
    assert _problems(report) == [] and report.ok
    kinds = {s.event_id: s.kind for s in report.skipped}
    assert kinds.get(left_out.id) == "with-loser" and made_again.id not in kinds


def _merged_replays_cleanly(
    store: Sequence[Event], made: Event, made_again: Event, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """In causal order ``made`` applies and ``made_again`` is its duplicate, in every way
    a merged log is replayed; the merge under every strategy replays cleanly."""
    result = merge_events([store])
    assert result.unresolved == () and result.added == ()
    report = assert_replays_and_applies(result)
    (skip,) = [s for s in report.skipped if s.event_id == made_again.id]
    assert (skip.kind, skip.reason.split(":")[0]) == ("duplicate", f"makes {made.id} again")
    assert made.id not in {s.event_id for s in report.skipped}
    reference = replay_merged(result.events)
    (why,) = [r for i, r in reference.skipped if i == made_again.id]
    assert why.startswith(f"duplicate: makes {made.id} again")
    _resumed_replays_agree(result.lines(), report)
    assert_same(result.lines(), monkeypatch, "made again")
    from schemalog.analysis.versions import iter_versions
    from schemalog.encoding.codec import state_hash

    *_, last = iter_versions(list(result.events), frozenset())
    assert state_hash(last.state) == report.state_hash
    for strategy in [*RESOLVING, "reject"]:
        assert_replays_and_applies(merge_events([store], strategy), engine=False)
    return report


def _n_left_out_then_made(definition: int) -> tuple[_Writers, list[Event], Event, Event]:
    """The first test's store up to c's N (made with ``_node_def("N", definition)``): the
    writers, the store, a's N and c's N."""
    w = _Writers()
    root = w.make("r", 0, [], _node_def("N", 0))
    rename = w.make("a", 10, [root], RenameTable(root.id, "K"))
    drop = w.make("b", 15, [root], DropTable(root.id))
    a_n = w.make("a", 20, [rename], _node_def("N", 0))
    (keep_drop,) = _decided([root, rename, drop], [drop])
    c_n = w.make("c", 30, [a_n, keep_drop], _node_def("N", definition))
    return w, [root, rename, a_n, drop, keep_drop, c_n], a_n, c_n


def test_a_table_made_again_after_it_was_left_out_is_a_duplicate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """r makes node table N; a renames it to K and makes a new N; b drops the old N
    (earlier in causal order than a's new N); a person keeps b's drop. In the store a's
    N came before b's drop (the old N held the name): rejected, left out with a's lost
    rename. c, who saw that, makes N again and comments on it. In causal order a's N
    applies; c's N is a's made again, and c's comment and rename land on a's N."""
    w, store, a_n, c_n = _n_left_out_then_made(0)
    comment = w.make("c", 40, [c_n], CommentOnTable(c_n.id, "c's"))
    rename_v = w.make("c", 50, [comment], RenameProperty(c_n.id, f"{c_n.id}/p1", "w"))
    store += [comment, rename_v]
    _store_replays_cleanly(store, a_n, c_n)
    report = _merged_replays_cleanly(store, a_n, c_n, monkeypatch)
    (n,) = report.state.tables.values()
    assert (n.table_id, n.name, n.comment) == (a_n.id, "N", "c's")
    assert [(p.property_id, p.name) for p in n.properties] == [
        (f"{a_n.id}/p0", "id"),
        (f"{a_n.id}/p1", "w"),
    ]


def test_a_drop_made_again_after_it_was_left_out_is_a_duplicate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """r makes A, B and rel C (A -> B). a drops C, then A; b comments on C, then drops
    it (earlier in causal order than a's drops); a person keeps b's comment. In the
    store a's drop of A came before b's drop of C (C still referenced A): rejected,
    left out with a's lost drop of C. c, who saw that, drops A again. In causal order
    b's drop of C comes first and a's drop of A applies; c's drop is a's made again."""
    w = _Writers()
    a_table = w.make("r", 0, [], _node_def("A", 0))
    b_table = w.make("r", 1, [a_table], _node_def("B", 0))
    rel = w.make("r", 2, [b_table], build_rel_table("C", [(a_table.id, b_table.id)]))
    a_drop_c = w.make("a", 20, [rel], DropTable(rel.id))
    a_drop_a = w.make("a", 25, [a_drop_c], DropTable(a_table.id))
    b_comment = w.make("b", 10, [rel], CommentOnTable(rel.id, "b's"))
    b_drop_c = w.make("b", 15, [b_comment], DropTable(rel.id))
    (keep_comment,) = _decided([a_table, b_table, rel, a_drop_c, b_comment], [b_comment])
    c_drop_a = w.make("c", 30, [a_drop_a, keep_comment, b_drop_c], DropTable(a_table.id))
    store = [a_table, b_table, rel, a_drop_c, a_drop_a, b_comment, keep_comment, b_drop_c]
    store.append(c_drop_a)
    _store_replays_cleanly(store, a_drop_a, c_drop_a)
    report = _merged_replays_cleanly(store, a_drop_a, c_drop_a, monkeypatch)
    assert [t.name for t in report.state.tables.values()] == ["B"]


def test_a_property_made_again_after_it_was_left_out_is_a_duplicate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """r makes T with property v; a drops v and adds a new v; b renames v to w (earlier
    in causal order than a's new v); a person keeps b's rename. In the store a's new v
    came before b's rename (the old v held the name): rejected, left out with a's lost
    drop. c, who saw that, adds v again and renames it to u. In causal order a's v
    applies; c's v is a's made again, and c's rename lands on a's v."""
    w = _Writers()
    table = w.make("r", 0, [], _node_def("T", 0))
    old = f"{table.id}/p1"
    a_drop = w.make("a", 10, [table], DropProperty(table.id, old))
    b_rename = w.make("b", 15, [table], RenameProperty(table.id, old, "w"))
    a_v = w.make("a", 20, [a_drop], build_add_property(table.id, "v", "INT64"))
    (keep_rename,) = _decided([table, a_drop, b_rename], [b_rename])
    c_v = w.make("c", 30, [a_v, keep_rename], build_add_property(table.id, "v", "INT64"))
    c_rename = w.make("c", 40, [c_v], RenameProperty(table.id, f"{c_v.id}/p0", "u"))
    store = [table, a_drop, a_v, b_rename, keep_rename, c_v, c_rename]
    _store_replays_cleanly(store, a_v, c_v)
    report = _merged_replays_cleanly(store, a_v, c_v, monkeypatch)
    (t,) = report.state.tables.values()
    assert [(p.property_id, p.name) for p in t.properties] == [
        (f"{table.id}/p0", "id"),
        (old, "w"),
        (f"{a_v.id}/p0", "u"),
    ]


def test_the_rule_asks_for_the_identical_change_in_the_events_own_past() -> None:
    """``Holders.repeats`` on its own (the maps a replay hands it): a change is made again
    only when the identical change is in the event's past (``descends``) and what it made
    is unchanged. (In a log, an identical change before an event and not in its past is
    concurrent with it, so a duplicate already: these branches guard forged logs, and
    a table or property changed since.)"""
    from dataclasses import replace

    from schemalog.history.holders import Holders
    from schemalog.model.schema import Applied, SchemaState, apply, empty_state

    def applied(state: SchemaState, event: Event) -> SchemaState:
        result = apply(state, event)
        assert isinstance(result, Applied)
        return result.state

    def past(*ids: str) -> Any:
        return lambda x: x in ids

    def before(*ids: str) -> Any:
        return lambda: list(ids)

    w = _Writers()
    first = w.make("a", 10, [], _node_def("N", 0))
    state = applied(empty_state(), first)
    again = w.make("c", 20, [first], _node_def("N", 0)).change
    assert isinstance(again, CreateNodeTable)
    assert Holders().repeats(again, "name-taken", state, past(), before()) is None
    assert Holders().repeats(again, "table-exists", state, past(first.id), before()) is None
    other = w.make("c", 21, [first], _node_def("N", 1)).change  # (v is a STRING)
    assert Holders().repeats(other, "name-taken", state, past(first.id), before()) is None
    commented = applied(state, w.make("a", 22, [first], CommentOnTable(first.id, "x")))
    assert Holders().repeats(again, "name-taken", commented, past(first.id), before()) is None
    folded = replace(again, name="n")  # (the same catalog key, another name as made)
    assert Holders().repeats(folded, "name-taken", state, past(first.id), before()) is None
    holders = Holders()
    assert holders.repeats(again, "name-taken", state, past(first.id), before()) == first.id
    assert holders.table == {again.table_id: first.id}
    assert holders.prop == {f"{again.table_id}/p{i}": f"{first.id}/p{i}" for i in (0, 1)}

    x = w.make("a", 30, [first], build_add_property(first.id, "x", "INT64"))
    with_x = applied(state, x)
    x_again = w.make("c", 31, [x], build_add_property(first.id, "x", "INT64")).change
    x_other = w.make("c", 32, [x], build_add_property(first.id, "x", "STRING")).change
    assert isinstance(x_again, AddProperty)
    rule = "property-name-taken"
    assert Holders().repeats(x_other, rule, with_x, past(x.id), before()) is None
    assert Holders().repeats(x_again, rule, with_x, past(), before()) is None
    holders = Holders()
    assert holders.repeats(x_again, rule, with_x, past(x.id), before()) == x.id
    assert holders.prop == {x_again.property.property_id: f"{x.id}/p0"}

    drop = w.make("a", 40, [first], DropTable(first.id))
    drop_again = w.make("c", 41, [drop], DropTable(first.id)).change
    gone = empty_state()
    assert Holders().repeats(drop_again, "unknown-table", gone, past(), before(drop.id)) is None
    assert Holders().repeats(drop_again, "unknown-table", gone, past(drop.id), before()) is None
    holders = Holders()
    assert holders.repeats(drop_again, "unknown-table", gone, past(drop.id), before(drop.id)) == (
        drop.id
    )
    assert not holders.table and not holders.prop  # (a drop names nothing made)


@pytest.mark.xfail(
    strict=True,
    reason="known limit: the rule covers the same change made again; a writer who answers "
    "an event left out in its log's order with another change (here N with another "
    "definition) is still rejected in causal order (name-taken). Deciding with-loser on "
    "each event's own causal past would cover it, at the cost of that past's state",
)
def test_a_table_made_otherwise_after_it_was_left_out() -> None:
    """The first test's store, but c makes N with a STRING v: no change made again."""
    _, store, a_n, c_n = _n_left_out_then_made(1)
    _store_replays_cleanly(store, a_n, c_n)
    assert_replays_and_applies(merge_events([store]), engine=False)
