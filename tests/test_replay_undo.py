"""A failed batch leaves exactly the committed state: replay's undo log (log/replay/batches.py).

A batch changes the working state in place (``schema.working_copy``: its maps,
and on the fused path ``TableDraft``s); every write logs what it overwrote, a
commit only clears the log and a rollback undoes it, the last write first. So
a write that forgets to log, or an undo that sets back too little, leaves a
failed batch's change in the state a replay hands out.

Each test makes changes in a batch and then fails it: a corrupt line (a stop
under "stop") or a crash injected right after a record was applied in place.
The report must equal, in state, state hash, position, head, heads and
applied count, a replay that ended at the commit; and right after the
rollback the working state itself (drafts with their name indexes, SERIAL
counts and frozen tables, the names and references maps) must be that state,
with nothing left in the undo log. Both paths: the fused one (draft handlers)
and the staged one (``schema.apply`` on the working state).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemalog.log.replay.batches as batches
import schemalog.log.replay.pipeline as pipeline
from schemalog.encoding.codec import decode_record
from schemalog.log.effective import EffectivePlan, plan_of_chunks
from schemalog.log.replay import ReplayReport, replay, resume
from schemalog.model import schema, schema_drafts
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    CommentOnTable,
    DropConnection,
    DropProperty,
    DropTable,
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
from schemalog.model.names import catalog_key
from schemalog.model.parts import Connection
from schemalog.model.schema import SchemaState, TableState, persistent
from schemalog.model.schema_drafts import TableDraft
from schemalog.synth.generator import fast_record, generate
from test_replay import chain, chunks, ticking_clock

Lines = list[bytes]


# ------------------------------------------------------------------ logs


class _Writer:
    """One writer's events, each naming the one before as its parent."""

    def __init__(self) -> None:
        self.clock = ticking_clock("w")
        self.events: list[Any] = []

    def __call__(self, change: Any) -> str:
        parents = [self.events[-1].id] if self.events else []
        event = new_event(self.clock, "ws", parents, change)
        self.events.append(event)
        return event.id


def _every_change() -> Lines:
    """A one-writer log that makes every kind of in-place change, most of them twice.

    Creations and SORTED BY go the staged way even on the fused path: SORTED BY
    puts a table back as a ``TableState`` (thawed again by the next change), a
    rel creation reads its ends (freezing their drafts mid-batch), and a table
    created in a batch is changed and dropped in it.
    """
    ev = _Writer()
    a = ev(build_node_table("A", [("id", "INT64"), ("a1", "STRING"), ("a2", "INT32")], "id"))
    b = ev(build_node_table("B", [("id", "INT64"), ("b1", "STRING")], "id"))
    d = ev(build_node_table("D", [("id", "INT64"), ("n", "SERIAL"), ("d1", "STRING")], "id"))
    r = ev(build_rel_table("R", [(a, b)], [("r1", "STRING")]))
    s = ev(build_rel_table("S", [(b, a)]))
    e = ev(build_node_table("E", [("id", "INT64"), ("e1", "STRING")], "id"))
    ev(CommentOnTable(d, "drafted early"))  # D is a draft at later commits
    x = ev(build_add_property(a, "x", "STRING"))
    ev(build_add_property(b, "y", "INT64"))
    ev(CommentOnTable(a, "first"))
    ev(DropProperty(a, f"{a}/p1"))  # a1: a middle column
    ev(RenameProperty(a, f"{a}/p2", "A2"))  # same catalog key as a2
    ev(RenameProperty(b, f"{b}/p1", "bee"))
    ev(RenameTable(b, "Bee"))
    ev(RenameTable(e, "e"))  # same catalog key
    ev(CommentOnTable(r, "rel"))
    ev(AddConnection(r, Connection(b, a)))
    ev(AddConnection(r, Connection(a, a)))
    ev(DropConnection(r, Connection(a, b)))
    ev(SetSortedBy(a, (SortKey(f"{a}/p2", "DESC"), SortKey(f"{x}/p0", "ASC"))))
    ev(build_add_property(a, "z", "DOUBLE"))  # thaws A again after SORTED BY
    ev(DropProperty(a, f"{a}/p2"))  # a sort key: the keys shrink
    t = ev(build_rel_table("T", [(a, e)]))  # reads A's and E's drafts
    ev(AddConnection(t, Connection(b, e)))
    ev(DropProperty(d, f"{d}/p1"))  # the SERIAL one: the table can be renamed now
    ev(RenameTable(d, "D2"))
    ev(Tag("v1"))
    ev(DropTable(s))  # a rel: its ends lose a reference
    ev(CommentOnTable(a, "second"))
    f = ev(build_node_table("F", [("id", "STRING")], "id"))
    ev(build_add_property(f, "f1", "STRING"))  # a table created in the batch, thawed
    ev(RenameTable(f, "F1"))
    ev(DropTable(f))
    ev(build_node_table("F", [("id", "INT64")], "id"))  # the name again
    ev(DropTable(t))
    ev(DropTable(e))  # a node, no longer referenced
    ev(RenameProperty(b, f"{b}/p1", "b1"))  # back to its first name
    ev(DropConnection(r, Connection(a, a)))
    ev(build_add_property(a, "late", "STRING"))  # to a draft of an earlier batch
    ev(Tag("v2"))
    return chain(ev.events)


def _generated(n: int, origins: int, seed: int) -> Lines:
    out: Lines = []
    prev = None
    for event in generate(n, origins=origins, seed=seed):
        line = fast_record(event, prev)
        prev = json.loads(line)["checksum"]
        out.append(line)
    return out


def _corrupted(lines: Lines, k: int) -> Lines:
    """Record ``k`` with one byte of its event changed: its checksum no longer matches."""
    line = lines[k]
    i = line.index(b'"event":') + 20
    return [*lines[:k], line[:i] + bytes([line[i] ^ 0x01]) + line[i + 1 :], *lines[k + 1 :]]


def _store(lines: Lines) -> list[Any]:
    return list(chunks(lines, 1 << 22))


def _plan(lines: Lines) -> EffectivePlan:
    return plan_of_chunks(lambda: _store(lines))


# ------------------------------------------------------------------ failures


@contextmanager
def _crash_after(lines: Lines, k: int, fused: bool, m: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Record ``k`` is applied (in place) and then its batch crashes; yields a list
    that grows by one per draft handler call (the fused path was taken)."""
    event = decode_record(lines[k], k).event  # type: ignore[union-attr]
    drafted: list[int] = []
    real_apply = schema.apply

    def apply(state: Any, ev: Any) -> Any:
        result = real_apply(state, ev)
        if ev.id == event.id:
            raise RuntimeError("crash after apply")
        return result

    m.setattr(batches, "apply", apply)
    if fused:  # the fused path's test (fused_possible) sees the stage's apply unchanged
        m.setattr(schema, "apply", apply)
        victim = _fields(event.change)
        for kind, real in list(schema_drafts.DRAFT_HANDLERS.items()):

            def handler(state: Any, *fields: Any, real: Any = real, kind: str = kind) -> Any:
                result = real(state, *fields)  # a Refusal goes on to the staged path
                drafted.append(len(drafted))
                if kind == event.kind and fields == victim:
                    raise RuntimeError("crash after apply")
                return result

            m.setitem(schema_drafts.DRAFT_HANDLERS, kind, handler)
    yield drafted


def _fields(change: Any) -> tuple[Any, ...]:
    """A change's fields as the fused path hands them to its draft handler."""
    return tuple(getattr(change, f.name) for f in dataclasses.fields(change))


def _fields_unique(lines: Lines) -> None:
    """The crash finds its record by its change's fields: they must not repeat."""
    seen = set()
    for k, line in enumerate(lines):
        change = decode_record(line, k).event.change  # type: ignore[union-attr]
        fields = (type(change), *_fields(change))
        assert fields not in seen, k
        seen.add(fields)


# ------------------------------------------------------------------ the checks


def _table_of(draft: TableDraft) -> TableState:
    """The draft's table, built from its fields (not from its frozen cache)."""
    return TableState(
        draft.table_id,
        draft.kind,
        draft.name,
        tuple(draft.props.values()),
        draft.primary_key,
        draft.connections,
        draft.multiplicity,
        draft.comment,
        draft.sorted_by,
    )


def _check_working(run: batches.Batches, expected: SchemaState) -> None:
    """Right after a rollback: the working state is ``expected``, drafts and all."""
    assert not run.undo
    state = run.state
    for value in dict.values(state.tables):
        if type(value) is TableDraft:
            props = value.props
            assert value.keys == {catalog_key(p.name): p for p in props.values()}
            assert value.serial == sum(1 for p in props.values() if p.type == "SERIAL")
            if value.frozen is not None:  # a frozen cache of the committed table
                assert value.frozen == _table_of(value)
            assert _table_of(value) == expected.tables.get(value.table_id)
    assert dict(state.names) == dict(expected.names.items())
    assert dict(state.referenced_by) == dict(expected.referenced_by.items())
    assert persistent(state) == expected
    assert persistent(run.c_state) == expected


def _entries(state: SchemaState) -> tuple[dict[Any, Any], ...]:
    """The working maps' entries as they are (drafts not frozen)."""
    return tuple(dict(dict.items(m)) for m in (state.tables, state.names, state.referenced_by))


def _committed(lines: Lines, good: int, plan: EffectivePlan) -> ReplayReport:
    return replay(_store(lines[:good]), plan=plan)


def _assert_rolled_back(
    lines: Lines,
    failed: ReplayReport,
    k: int,
    good: int,
    plan: EffectivePlan,
    rolled_back: list[tuple[batches.Batches, Any]],
) -> None:
    assert failed.stopped is not None and failed.stopped.position == k, failed.stopped
    assert failed.position == good
    expected = _committed(lines, good, plan)
    assert failed.state == expected.state
    assert failed.state_hash == expected.state_hash
    assert (failed.head, failed.heads, failed.applied) == (
        expected.head,
        expected.heads,
        expected.applied,
    )
    assert len(rolled_back) == 1
    assert rolled_back[0][1] is None, rolled_back[0][1]  # the working state's check


def _failing_replay(
    lines: Lines,
    k: int,
    how: str,
    fused: bool,
    batch: int,
    plan: EffectivePlan,
    m: pytest.MonkeyPatch,
) -> tuple[ReplayReport, list[tuple[batches.Batches, Any]], list[int]]:
    """Replay ``lines`` failing at record ``k`` (``how``: "corrupt" or "crash")."""
    good = (k // batch) * batch
    expected = _committed(lines, good, plan).state
    rolled_back: list[tuple[batches.Batches, Any]] = []
    real_init, real_commit = batches.Batches.__init__, batches.Batches.commit
    real_rollback = batches.Batches.rollback
    at_commit: dict[int, tuple[dict[Any, Any], ...]] = {}

    def init(self: batches.Batches, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        at_commit[id(self)] = _entries(self.state)

    def commit(self: batches.Batches) -> None:
        real_commit(self)
        at_commit[id(self)] = _entries(self.state)

    def rollback(self: batches.Batches) -> None:
        real_rollback(self)
        try:
            _check_working(self, expected)
            # every map entry is the very object of the commit (drafts changed back in place)
            after, before = _entries(self.state), at_commit[id(self)]
            assert [d.keys() for d in after] == [d.keys() for d in before]
            assert all(x[key] is y[key] for x, y in zip(after, before, strict=True) for key in x)
        except AssertionError as exc:  # reported by the test, not swallowed by replay
            rolled_back.append((self, exc))
        else:
            rolled_back.append((self, None))

    m.setattr(batches.Batches, "__init__", init)
    m.setattr(batches.Batches, "commit", commit)
    m.setattr(batches.Batches, "rollback", rollback)
    if not fused:
        m.setattr(pipeline, "fused_possible", lambda tracer: False)
    drafted: list[int] = []
    if how == "corrupt":
        report = replay(_store(_corrupted(lines, k)), batch_events=batch, plan=plan)
    else:
        with _crash_after(lines, k, fused, m) as drafted:
            report = replay(_store(lines), batch_events=batch, plan=plan)
    return report, rolled_back, drafted


# ------------------------------------------------------------------ tests


def test_the_log_makes_every_kind_of_change() -> None:
    lines = _every_change()
    kinds = {decode_record(line, k).event.kind for k, line in enumerate(lines)}  # type: ignore[union-attr]
    every = {cls.KIND for cls in schema._HANDLERS if cls.__name__ != "Merge"}  # type: ignore[attr-defined]
    assert kinds == every
    full = replay(_store(lines))
    assert full.ok and full.applied == len(lines)
    _fields_unique(lines)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "staged"])
@pytest.mark.parametrize("how", ["corrupt", "crash"])
def test_a_failed_batch_after_every_kind_of_change_leaves_the_commit(
    fused: bool, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every record of ``_every_change`` fails once in batches of 40 (one batch: all of
    it is undone), 9 and 4 (commits in between)."""
    lines = _every_change()
    plan = _plan(lines)
    drafted_any = False
    for batch in (40, 9, 4):
        for k in range(len(lines)):
            with monkeypatch.context() as m:
                report, rolled_back, drafted = _failing_replay(lines, k, how, fused, batch, plan, m)
            drafted_any = drafted_any or bool(drafted)
            _assert_rolled_back(lines, report, k, (k // batch) * batch, plan, rolled_back)
            assert report.stopped is not None
            assert report.stopped.kind == ("corrupt" if how == "corrupt" else "crash")
            resumed = resume(_store(lines), report, batch_events=batch)
            assert resumed.ok and resumed.position == len(lines)
    if fused and how == "crash":
        assert drafted_any  # the draft handlers did the changes


def test_a_failed_batch_of_a_generated_log_with_merges_leaves_the_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = _generated(300, 3, 7)
    kinds = {decode_record(line, k).event.kind for k, line in enumerate(lines)}  # type: ignore[union-attr]
    assert "merge" in kinds
    plan = _plan(lines)
    for k in range(3, len(lines), 7):
        for fused in (True, False):
            with monkeypatch.context() as m:
                report, rolled_back, _ = _failing_replay(lines, k, "corrupt", fused, 32, plan, m)
            _assert_rolled_back(lines, report, k, (k // 32) * 32, plan, rolled_back)


_LOGS: dict[tuple[int, int, int], Lines] = {}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    n=st.integers(20, 160),
    origins=st.integers(1, 3),
    seed=st.integers(0, 50),
    batch=st.integers(1, 64),
    where=st.floats(0, 1, exclude_max=True),
    how=st.sampled_from(["corrupt", "crash"]),
    fused=st.booleans(),
)
def test_a_crash_at_a_random_position_of_a_generated_log_leaves_the_commit(
    n: int,
    origins: int,
    seed: int,
    batch: int,
    where: float,
    how: str,
    fused: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = (n, origins, seed)
    if key not in _LOGS:
        _LOGS[key] = _generated(n, origins, seed)
    lines = _LOGS[key]
    k = int(where * n)
    if how == "crash" and fused:
        try:
            _fields_unique(lines)
        except AssertionError:
            how = "corrupt"  # the crash could not tell the record from an earlier one
    plan = _plan(lines)
    with monkeypatch.context() as m:
        report, rolled_back, _ = _failing_replay(lines, k, how, fused, batch, plan, m)
    if report.stopped is None or report.stopped.position != k:
        # the record at k was not applied (a skip: a concurrent rejection, a loser)
        assert how == "crash"
        return
    _assert_rolled_back(lines, report, k, (k // batch) * batch, plan, rolled_back)


def test_a_commit_copies_nothing_and_a_batch_logs_what_it_overwrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The committed state is the working one (no copy per commit); the log holds the
    open batch's writes only."""
    lines = _every_change()
    seen: list[int] = []
    real_commit = batches.Batches.commit

    def commit(self: batches.Batches) -> None:
        before = self.state
        seen.append(len(self.undo))
        real_commit(self)
        assert self.c_state is before and not self.undo

    monkeypatch.setattr(batches.Batches, "commit", commit)
    report = replay(_store(lines), batch_events=8)
    assert report.ok and report.batches == len(seen)
    assert all(n > 0 for n in seen[:-1])


def test_the_committed_state_is_not_asked_for_inside_a_batch() -> None:
    run = batches.Batches(schema.empty_state(), 0, None, set(), set(), "stop", 4, None, None)
    assert run.c_state == schema.empty_state()
    change = build_node_table("A", [("id", "INT64")], "id")
    event = new_event(HybridLogicalClock("w", lambda: 1_700_000_000_000), "ws", [], change)
    applied = schema.apply(run.state, event)
    assert isinstance(applied, schema.Applied)
    run.state = applied.state
    with pytest.raises(AssertionError):
        run.c_state  # noqa: B018
    run.rollback()
    assert run.c_state == schema.empty_state() and not run.state.tables
    assert run.state.tables.get(event.id) is None


def test_drafts_need_an_undo_log() -> None:
    with pytest.raises(TypeError, match="undo log"):
        schema_drafts.with_drafts(schema.working_copy(schema.empty_state()))
    state = schema_drafts.with_drafts(schema.working_copy(schema.empty_state(), schema.UndoLog()))
    assert type(state.tables) is schema_drafts.DraftTables


def _draft_ops() -> dict[str, Any]:
    """Each kind of draft change, on a table that is a draft at the commit."""
    return {
        "add_property": lambda t, a, r: build_add_property(a, "new", "STRING"),
        "drop_property": lambda t, a, r: DropProperty(a, f"{a}/p1"),
        "rename_property": lambda t, a, r: RenameProperty(a, f"{a}/p1", "renamed"),
        "rename_table": lambda t, a, r: RenameTable(a, "A2"),
        "comment_on_table": lambda t, a, r: CommentOnTable(a, "now"),
        "add_connection": lambda t, a, r: AddConnection(r, Connection(t, a)),
        "drop_connection": lambda t, a, r: DropConnection(r, Connection(a, t)),
        "set_sorted_by": lambda t, a, r: SetSortedBy(a, (SortKey(f"{a}/p1", "ASC"),)),
    }


@pytest.mark.parametrize("op", sorted(_draft_ops()))
def test_a_draft_frozen_after_its_change_and_then_a_stop_leaves_the_commit(
    op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change of a draft, then a rejected event that reads the table (the staged path
    freezes the draft to decide): the stop must take the frozen table back too."""
    ev = _Writer()
    t = ev(build_node_table("T", [("id", "INT64")], "id"))
    a = ev(build_node_table("A", [("id", "INT64"), ("a1", "STRING")], "id"))
    r = ev(build_rel_table("R", [(a, t), (t, t)], [("r1", "STRING")]))
    ev(SetSortedBy(a, (SortKey(f"{a}/p1", "DESC"),)))  # dropping a1 changes the keys
    ev(CommentOnTable(a, "drafted"))  # fused: A and R are drafts at the commit
    ev(CommentOnTable(r, "drafted"))
    committed = len(ev.events)
    change = _draft_ops()[op](t, a, r)
    target = a if op not in ("add_connection", "drop_connection") else r
    ev(change)
    ev(build_add_property(target, "id" if target == a else "r1", "STRING"))  # name taken
    ev(Tag("after"))
    lines = chain(ev.events)
    plan = _plan(lines)
    expected = _committed(lines, committed, plan).state
    seen: list[Any] = []
    real_rollback = batches.Batches.rollback

    def rollback(self: batches.Batches) -> None:
        real_rollback(self)
        seen.append(self)

    monkeypatch.setattr(batches.Batches, "rollback", rollback)
    report = replay(_store(lines), batch_events=committed, plan=plan)
    assert report.stopped is not None and report.stopped.kind == "rejected"
    assert report.stopped.position == committed + 1
    assert report.position == committed
    assert report.state == expected
    draft = dict.get(seen[0].state.tables, target)
    assert type(draft) is TableDraft  # the draft of the commit, back in its place
    assert draft.frozen is None or draft.frozen == _table_of(draft)
    _check_working(seen[0], expected)
