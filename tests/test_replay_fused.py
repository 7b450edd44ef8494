"""Replay's fused path (log/replay/fused.py) decides exactly what the staged path decides.

Every log here is replayed twice, fused and staged (``pipeline.fused_possible``
forced off), under both policies, in small chunks and batches, and from a
checkpoint; the reports must be equal in every field (state, position, head,
applied, skips with their reasons, breaks, stop, heads, batches, warnings),
the quarantined lines, the crash's type and message, the duplicate scan a
report hands on, and the strict watch's verdict. The logs: generated ones of
one and three writers (and creation-heavy ones), merged replicas with losers
and duplicates, a log breaking each rule of the flat kinds and of creations, and every
damage of tests/test_replay.py's kind applied at many positions: a flipped
byte, a lost, repeated, swapped or foreign line, a record re-linked and
re-hashed, a change re-pointed at an unknown table and re-hashed (a refusal
after the fused path proved the record), a trailing newline, a space.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemalog.log.replay.pipeline as pipeline
from schemalog.encoding.codec import _record_bytes, canonical_bytes, record_checksum
from schemalog.history.merge import STRATEGIES, merge_events
from schemalog.log.replay import ReplayReport, replay, resume
from schemalog.log.replay import fused as fused_stage
from schemalog.log.replay.strict import StrictWatch
from schemalog.log.store.port import RawChunk
from schemalog.model import schema, schema_drafts
from schemalog.synth.generator import fast_record, generate
from schemalog.synth.replicas import synth_replicas
from strategies import forked_histories
from test_replay import chunks, ticking_clock

Lines = list[bytes]


def _generated(n: int, origins: int, seed: int, **options: Any) -> Lines:
    out: Lines = []
    prev = None
    for event in generate(n, origins=origins, seed=seed, **options):
        line = fast_record(event, prev)
        prev = json.loads(line)["checksum"]
        out.append(line)
    return out


def _merged(replicas: int, seed: int, rate: float, strategy: str) -> Lines:
    logs = synth_replicas(replicas, 15, 40, seed, conflict_rate=rate)
    return merge_events(logs, strategy).lines()


def _rehash(lines: Lines, start: int) -> Lines:
    """``lines`` with the records from ``start`` on re-linked into a valid chain."""
    out = list(lines[:start])
    prev = json.loads(out[-1])["checksum"] if out else None
    for line in lines[start:]:
        obj = json.loads(line)
        data = canonical_bytes(obj["event"])
        sum_ = record_checksum(prev, data)
        out.append(_record_bytes(sum_, data, prev))
        prev = sum_
    return out


def _relinked(lines: Lines, k: int) -> Lines:
    """Record ``k`` names a wrong prev (the record before the previous), re-hashed from there."""
    obj = json.loads(lines[k])
    data = canonical_bytes(obj["event"])
    prev = json.loads(lines[k - 2])["checksum"] if k >= 2 else None
    out = list(lines)
    out[k] = _record_bytes(record_checksum(prev, data), data, prev)
    return out[: k + 1] + _rehash(out, k + 1)[k + 1 :]


def _repointed(lines: Lines, k: int) -> Lines | None:
    """Record ``k``'s change names an unknown table (the record stays valid), re-hashed."""
    obj = json.loads(lines[k])
    change = obj["event"]["change"]
    if "table_id" not in change or change.get("kind", "").startswith("create"):
        return None
    change["table_id"] = "nobody@1700000000000.0"
    out = list(lines)
    out[k] = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return _rehash(out, k)


def _damages(lines: Lines, seed: int) -> list[tuple[str, Lines]]:
    rng = random.Random(seed)
    n = len(lines)
    picks = sorted({rng.randrange(1, n - 1) for _ in range(4)} | {1, n // 2, n - 2})
    out: list[tuple[str, Lines]] = []
    for k in picks:
        line = lines[k]
        i = rng.randrange(100, len(line) - 20)
        flipped = line[:i] + bytes([line[i] ^ 0x01]) + line[i + 1 :]
        out.append((f"flip@{k}", [*lines[:k], flipped, *lines[k + 1 :]]))
        out.append((f"lost@{k}", [*lines[:k], *lines[k + 1 :]]))
        out.append((f"twice@{k}", [*lines[: k + 1], line, *lines[k + 1 :]]))
        out.append((f"swap@{k}", [*lines[:k], lines[k + 1], line, *lines[k + 2 :]]))
        out.append((f"garbage@{k}", [*lines[:k], b'{"not":"a record"}', *lines[k + 1 :]]))
        out.append((f"newline@{k}", [*lines[:k], line + b"\n", *lines[k + 1 :]]))
        out.append((f"space@{k}", [*lines[:k], line.replace(b'":', b'": ', 1), *lines[k + 1 :]]))
        out.append((f"relinked@{k}", _relinked(lines, k)))
        repointed = _repointed(lines, k)
        if repointed is not None:
            out.append((f"repointed@{k}", repointed))
    out.append(("truncated", lines[: n // 3]))
    return out


def _store(lines: Lines) -> list[RawChunk]:
    """A re-readable source of the raw lines (a damaged log: no store would append it)."""
    return list(chunks(lines, 1 << 22))


def _scan_facts(report: ReplayReport) -> Any:
    scanner = report.scanner
    if scanner is None:
        return None
    return (scanner.duplicates, scanner.table_alias, scanner.prop_alias, scanner.exact)


def _run(fused: bool, call: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        if not fused:
            m.setattr(pipeline, "fused_possible", lambda tracer: False)
        return call()


def _replays(source: Any, **options: Any) -> Callable[[], Any]:
    def call() -> Any:
        quarantined: list[tuple[Any, bytes]] = []
        strict = StrictWatch()
        report = replay(
            source() if callable(source) else source,
            quarantine=lambda s, line: quarantined.append((s, line)),
            strict=strict,
            **options,
        )
        error = None if report.error is None else (type(report.error), str(report.error))
        # the watch's verdict (StrictWatch.clean without the store's own facts); how far
        # it read past a stop differs: the staged path decodes a window ahead
        watch = (
            not strict.doubt
            and strict.anchored
            and report.stopped is None
            and not report.breaks
            and report.position == strict.position,
            strict.format,
        )
        return report, quarantined, error, _scan_facts(report), watch

    return call


def assert_same(lines: Lines, monkeypatch: pytest.MonkeyPatch, label: str = "") -> None:
    """Both paths on ``lines``: a store, chunks, small batches, both policies, a resume."""
    longest = max((len(x) + 1 for x in lines), default=1)
    for policy in ("stop", "skip"):
        sources: list[tuple[str, Any, dict[str, Any]]] = [
            ("store", lambda: _store(lines), {}),
            ("chunks", lambda: list(chunks(lines, 3 * longest)), {"batch_events": 5}),
            ("one-shot", lambda: chunks(lines, 2 * longest), {"batch_events": 3}),
        ]
        for name, source, options in sources:
            call = _replays(source, on_corrupt=policy, **options)
            fused, staged = _run(True, call, monkeypatch), _run(False, call, monkeypatch)
            assert fused == staged, f"{label} {policy} {name}"
        # a resume from a checkpoint halfway, both ways
        half = replay(list(chunks(lines, longest))[: len(lines) // 2], on_corrupt=policy)

        def resumed(half: ReplayReport = half, policy: str = policy) -> Any:
            r = resume(_store(lines), half, on_corrupt=policy, batch_events=4)
            return r, _scan_facts(r)

        fused_r, staged_r = _run(True, resumed, monkeypatch), _run(False, resumed, monkeypatch)
        assert fused_r == staged_r, f"{label} {policy} resume"


@pytest.mark.parametrize(("origins", "seed"), [(1, 3), (3, 5), (3, 11)])
def test_generated_logs_and_their_damages(
    origins: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _generated(400, origins, seed)
    assert_same(lines, monkeypatch, "sound")
    for label, damaged in _damages(lines, seed):
        assert_same(damaged, monkeypatch, label)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_merged_replicas_with_losers_and_duplicates(
    strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: set[str] = set()
    for seed in range(6):
        lines = _merged(3, seed, 0.5, strategy)
        report = replay(_store(lines))
        seen.update(s.kind for s in report.skipped)
        assert_same(lines, monkeypatch, f"merged seed {seed}")
        for label, damaged in _damages(lines, seed)[:12]:
            assert_same(damaged, monkeypatch, f"merged seed {seed} {label}")
    if strategy != "reject":
        assert "loser" in seen  # the logs did exercise the effective stream


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(history=forked_histories(), strategy=st.sampled_from(STRATEGIES))
def test_forked_histories_merged(
    history: Any, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix, a, b = history
    lines = merge_events([prefix + a, prefix + b], strategy).lines()
    if lines:
        assert_same(lines, monkeypatch, strategy)


def test_a_crash_in_the_fused_path_rolls_back_like_the_staged_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handler that raises (a bug, not bad input) is a crash at its record, both paths."""
    lines = _generated(300, 3, 7)
    renames = [i for i, line in enumerate(lines) if b'"kind":"rename_property"' in line]
    victim = next(i for i in renames if i > 100)
    victim_id = json.loads(lines[victim])["event"]["id"]
    real_apply = schema.apply
    real_handler = schema_drafts.DRAFT_HANDLERS["rename_property"]
    change = json.loads(lines[victim])["event"]["change"]
    victim_fields = (change["table_id"], change["property_id"], change["new_name"])

    def crashing_handler(state: Any, *fields: Any) -> Any:
        if fields == victim_fields:
            raise RuntimeError("boom")
        return real_handler(state, *fields)

    def crashing_apply(state: Any, event: Any) -> Any:
        if event.id == victim_id:
            raise RuntimeError("boom")
        return real_apply(state, event)

    with monkeypatch.context() as m:
        m.setitem(schema_drafts.DRAFT_HANDLERS, "rename_property", crashing_handler)
        fused = replay(_store(lines), batch_events=16)
    assert fused_stage.fused_possible(None)
    import schemalog.log.replay.batches as batches

    with monkeypatch.context() as m:
        m.setattr(batches, "apply", crashing_apply)
        staged = replay(_store(lines), batch_events=16)
    assert fused.stopped is not None and fused.stopped.kind == "crash"
    assert fused.stopped.position == victim
    assert fused == staged
    assert (type(fused.error), str(fused.error)) == (type(staged.error), str(staged.error))


def test_the_fused_path_takes_every_sound_record_of_a_flat_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a sound log only creations and SORTED BY go the staged way (a fused path that
    proves nothing would still pass the equality tests above)."""
    lines = _generated(600, 3, 13)
    taken: list[int] = []
    real = fused_stage.Fused.staged

    def counted(self: fused_stage.Fused, lines_: Lines, i: int, pos: int) -> None:
        taken.append(pos)
        real(self, lines_, i, pos)

    monkeypatch.setattr(fused_stage.Fused, "staged", counted)
    monkeypatch.setattr(fused_stage.Fused, "after_visit", None)  # a sound log never needs it
    report = replay(_store(lines))
    assert report.ok and report.position == len(lines)
    flat = fused_stage.FUSED_KINDS
    not_flat = [
        i for i, line in enumerate(lines) if json.loads(line)["event"]["change"]["kind"] not in flat
    ]
    assert taken == not_flat
    assert len(not_flat) < len(lines) // 5


class _OneWriter:
    """One writer's events, each after the last good one: ``good`` events chain, a
    ``bad`` one (a rule breaker) is left out of the chain and noted in ``breakers``."""

    def __init__(self) -> None:
        self.clock = ticking_clock("w")
        self.events: list[Any] = []
        self.breakers: list[str] = []
        self.last: list[str] = []

    def good(self, change: Any) -> Any:
        from schemalog.model.events import new_event

        event = new_event(self.clock, "ws", self.last, change)
        self.events.append(event)
        self.last[:] = [event.id]
        return event

    def bad(self, change: Any) -> None:
        from schemalog.model.events import new_event

        event = new_event(self.clock, "ws", self.last, change)
        self.events.append(event)
        self.breakers.append(event.id)


def _rule_breakers() -> tuple[list[Any], list[str]]:
    """A one-writer log where each rule of the flat kinds is broken once.

    Every breaking event names the last good event as its parent (so its writer saw
    the state it is applied to: a genuine rejection, not a concurrent one), between
    good changes of every flat kind. Returns the events and the breakers' ids.
    """
    from schemalog.model.events import (
        AddConnection,
        CommentOnTable,
        DropConnection,
        DropProperty,
        DropTable,
        RenameProperty,
        RenameTable,
        Tag,
        build_add_property,
        build_node_table,
        build_rel_table,
    )
    from schemalog.model.parts import Connection

    writer = _OneWriter()
    events, breakers, good, bad = writer.events, writer.breakers, writer.good, writer.bad

    s = good(build_node_table("S", [("id", "SERIAL"), ("x", "STRING")], "id")).id
    a = good(build_node_table("A", [("id", "INT64")], "id")).id
    b = good(build_node_table("B", [("id", "INT64"), ("name", "STRING")], "id")).id
    r = good(build_rel_table("R", [(a, b)])).id
    c = good(build_node_table("C", [("id", "INT64")], "id")).id
    unknown = "w@1600000000000.0"
    bad(build_add_property(unknown, "p", "STRING"))
    bad(build_add_property(b, "NAME", "STRING"))  # name taken (any case)
    bad(build_add_property(b, "_id", "STRING"))  # reserved by Kuzu
    bad(build_add_property(b, "n", "SERIAL"))
    good(build_add_property(b, "extra", "INT32"))
    bad(DropProperty(b, f"{a}/p7"))
    bad(DropProperty(b, f"{b}/p0"))  # the primary key
    bad(RenameProperty(s, f"{s}/p0", "ident"))  # SERIAL
    bad(RenameProperty(b, f"{b}/p1", "ID"))  # taken
    bad(RenameProperty(b, f"{b}/p1", "_LABEL"))  # reserved
    good(RenameProperty(b, f"{b}/p1", "title"))
    bad(RenameTable(s, "S2"))  # has SERIAL
    bad(RenameTable(b, "a"))  # taken
    good(RenameTable(c, "C2"))
    bad(CommentOnTable(unknown, "x"))
    good(CommentOnTable(b, "bees"))
    bad(AddConnection(b, Connection(a, b)))  # not a rel table
    bad(AddConnection(r, Connection(a, b)))  # exists
    bad(AddConnection(r, Connection(a, unknown)))
    bad(AddConnection(r, Connection(a, r)))  # a rel endpoint
    bad(DropConnection(r, Connection(b, a)))  # no such pair
    bad(DropConnection(r, Connection(a, b)))  # the last pair
    good(AddConnection(r, Connection(b, a)))
    good(DropConnection(r, Connection(a, b)))
    bad(DropTable(a))  # referenced by R (B -> A)
    bad(DropTable(unknown))
    good(DropTable(c))
    good(Tag("v1"))
    good(build_add_property(s, "y", "STRING"))
    return events, breakers


def test_every_rule_of_the_flat_kinds_refuses_the_same_on_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from schemalog.log.store import MemoryStore

    events, breakers = _rule_breakers()
    store = MemoryStore()
    store.append(events, expected=None)
    lines = store.raw_lines()
    assert_same(lines, monkeypatch, "rules")
    report = replay(_store(lines), on_corrupt="skip")
    # each breaker is left out for the rule it breaks ("concurrent" once the log's
    # forks sent the duplicate scan to the whole-log analysis, which found one)
    refused = {s.event_id: s.reason for s in report.skipped if s.kind in ("rejected", "concurrent")}
    assert sorted(refused) == sorted(breakers)
    rules = {reason.split("(")[1].split(")")[0] for reason in refused.values()}
    assert rules == {
        "unknown-table",
        "property-name-taken",
        "reserved-property-name",
        "serial-add",
        "unknown-property",
        "primary-key-drop",
        "serial-rename",
        "name-taken",
        "not-rel-table",
        "connection-exists",
        "rel-endpoint-missing",
        "rel-endpoint-not-node",
        "unknown-connection",
        "last-connection",
        "table-referenced",
    }


# Mostly creations, and what frees or takes their names and ends (renames, drops)
_CREATION_HEAVY = {
    "create_node_table": 8,
    "create_rel_table": 8,
    "drop_table": 4,
    "rename_table": 3,
    "add_property": 3,
    "add_connection": 2,
    "drop_connection": 1,
    "merge": 1,
    "tag": 1,
}


def _staged_positions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The positions the fused path leaves to the staged path from now on."""
    taken: list[int] = []
    real = fused_stage.Fused.staged

    def counted(self: fused_stage.Fused, lines_: Lines, i: int, pos: int) -> None:
        taken.append(pos)
        real(self, lines_, i, pos)

    monkeypatch.setattr(fused_stage.Fused, "staged", counted)
    return taken


@pytest.mark.parametrize(("origins", "seed"), [(1, 17), (3, 19)])
def test_creation_heavy_logs_and_their_damages(
    origins: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _generated(300, origins, seed, mix=_CREATION_HEAVY)
    creations = [i for i, line in enumerate(lines) if b'"kind":"create_' in line]
    assert len(creations) > len(lines) // 3
    with monkeypatch.context() as m:  # (not vacuous: the fused path takes the creations)
        taken = _staged_positions(m)
        assert replay(_store(lines)).ok and taken == []
    assert_same(lines, monkeypatch, "sound")
    for label, damaged in _damages(lines, seed):
        assert_same(damaged, monkeypatch, label)


def _creation_breakers() -> tuple[Lines, list[str]]:
    """A one-writer log where each rule of the creations is broken once, between good
    creations of every shape; the lines and the breakers' ids (as ``_rule_breakers``)."""
    from schemalog.log.store import MemoryStore
    from schemalog.model.events import DropTable, RenameTable, build_node_table, build_rel_table

    writer = _OneWriter()
    events, breakers, bad = writer.events, writer.breakers, writer.bad

    def good(change: Any) -> str:
        return writer.good(change).id

    a = good(build_node_table("A", [("id", "INT64")], "id"))
    b = good(build_node_table("B", [("id", "SERIAL"), ("x", "STRING")], "id"))
    r = good(build_rel_table("R", [(a, b)]))
    unknown = "w@1600000000000.0"
    # (each breaker's name is created by no later event: breakers are concurrent with
    # what follows them, and two concurrent creations of one name are duplicates)
    bad(build_node_table("b", [("id", "INT64")], "id"))  # name taken (any case)
    bad(build_rel_table("a", [(a, b)]))  # a node table's name
    bad(build_node_table("N", [("id", "INT64"), ("_ID", "STRING")], "id"))  # reserved
    bad(build_rel_table("R1", [(a, b)], [("_label", "INT64")]))
    bad(build_rel_table("R2", [(a, unknown)]))
    bad(build_rel_table("R3", [(r, a)]))  # a rel table as an end
    c = good(build_node_table("C", [("id", "STRING")], "id"))
    good(DropTable(c))
    bad(build_rel_table("R4", [(a, c)]))  # a dropped table
    c2 = good(build_node_table("C", [("id", "UUID"), ("_x", "INT64")], "id"))  # name free
    r5 = good(build_rel_table("R5", [(a, a), (a, b)], [("x", "STRING")], "ONE_ONE"))
    good(RenameTable(r5, "R5b"))  # (its repeat below: only its id is taken)
    good(build_rel_table("R6", [(b, a)], [("w", "DOUBLE"), ("s", "SERIAL")], "MANY_ONE"))
    good(build_rel_table("R7", [(b, b)], (), "ONE_MANY"))
    good(RenameTable(c2, "C2"))
    good(build_node_table("C", [("id", "INT64")], "id"))  # the name a rename freed
    good(build_node_table("表", [("名前", "STRING")], "名前"))
    good(build_node_table("Ä", [("id", "INT64")], "id"))
    good(build_node_table("ä", [("id", "INT64")], "id"))  # not folded: another name
    store = MemoryStore()
    store.append(events, expected=None)
    lines = store.raw_lines()
    # the table id taken: R5's creation again, at the end (re-linked into the chain)
    at = next(i for i, line in enumerate(lines) if json.loads(line)["event"]["id"] == r5)
    breakers.append(r5)
    return _rehash([*lines, lines[at]], len(lines)), breakers


def test_every_rule_of_the_creations_refuses_the_same_on_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines, breakers = _creation_breakers()
    assert_same(lines, monkeypatch, "creation rules")
    with monkeypatch.context() as m:  # the fused path proves them all (then refuses some)
        taken = _staged_positions(m)
        report = replay(_store(lines), on_corrupt="skip")
        assert taken == []
    refused = [s for s in report.skipped if s.kind in ("rejected", "concurrent")]
    assert sorted(s.event_id for s in refused) == sorted(breakers)
    rules = {s.reason.split("(")[1].split(")")[0] for s in refused}
    assert rules == {
        "name-taken",
        "reserved-property-name",
        "rel-endpoint-missing",
        "rel-endpoint-not-node",
        "table-exists",
    }
