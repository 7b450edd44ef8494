"""Streaming replay: equivalences, transactions, crash and resume, skip and stop policies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemalog.log.replay.batches as replay_batches
import schemalog.log.replay.decode as replay_decode
from schemalog.encoding.codec import encode_record, state_hash
from schemalog.log.replay import ReplayGap, ReplayReport, Skipped, replay, resume
from schemalog.log.snapshot import Snapshot
from schemalog.log.store import MemoryStore, RawChunk
from schemalog.log.trace import Tracer
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    CommentOnTable,
    Event,
    RenameTable,
    build_node_table,
    new_event,
)
from schemalog.model.schema import Applied, apply, empty_state
from schemalog.synth.generator import generate
from strategies import histories

# ------------------------------------------------------------------ helpers


def ticking_clock(origin: str, start: int = 1_700_000_000_000) -> HybridLogicalClock:
    """A clock of ``origin`` whose wall time moves one millisecond per reading from ``start``."""
    wall = [start]

    def now() -> int:
        wall[0] += 1
        return wall[0]

    return HybridLogicalClock(origin, now)


def chain(events: list[Event]) -> list[bytes]:
    """Stored lines of a log holding ``events`` in order."""
    lines: list[bytes] = []
    prev: str | None = None
    for event in events:
        line = encode_record(event, prev)
        prev = line[13:87].decode("ascii")
        lines.append(line)
    return lines


def chunks(lines: list[bytes], budget: int, start: int = 0) -> Iterator[RawChunk]:
    """What a store's iter_raw yields for these lines (lines before ``start`` dropped)."""
    i = start
    while i < len(lines):
        j, n = i, 0
        while j < len(lines) and n + len(lines[j]) + 1 <= budget:
            n += len(lines[j]) + 1
            j += 1
        assert j > i, "budget below one line"
        yield RawChunk(i, lines[i:j], n)
        i = j


def direct_hash(events: list[Event]) -> str:
    state = empty_state()
    for event in events:
        result = apply(state, event)
        assert isinstance(result, Applied)
        state = result.state
    return state_hash(state)


def checksum_of(line: bytes) -> str:
    return line[13:87].decode("ascii")


_SYNTH: dict[int, list[bytes]] = {}


def synth_lines(n: int = 240) -> list[bytes]:
    if n not in _SYNTH:
        _SYNTH[n] = chain(list(generate(n, origins=3, seed=7)))
    return _SYNTH[n]


# ------------------------------------------------------------------ equivalences


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=histories(max_events=18, n_origins=st.integers(1, 3)),
    budget_extra=st.integers(0, 3000),
    batch=st.integers(1, 9),
    split=st.integers(0, 18),
    page=st.integers(1, 7),
)
def test_chunked_paged_and_snapshot_replays_agree_with_one_whole_replay(
    events: list[Event], budget_extra: int, batch: int, split: int, page: int
) -> None:
    lines = chain(events)
    expected = direct_hash(events)
    whole = replay([RawChunk(0, lines, sum(len(x) + 1 for x in lines))])
    assert whole.ok and whole.applied == len(events) and whole.state_hash == expected
    assert whole.position == len(events)

    # any budget that holds the largest line, any batch size
    budget = max((len(x) + 1 for x in lines), default=1) + budget_extra
    chunked = replay(chunks(lines, budget), batch_events=batch)
    assert chunked.state_hash == expected and chunked.heads == whole.heads

    # the store's own chunking
    store = MemoryStore()
    store.append(events, expected=None)
    assert replay(store, max_chunk_bytes=budget).state_hash == expected

    # page by page: each page (decoded records) replayed as a resume of the last
    report = replay([])
    cursor = None
    while True:
        got = store.read(after=cursor, limit=page)
        if not got.records:
            break
        page_lines = [encode_record(r.event, r.prev) for r in got.records]
        raw = RawChunk(got.positions[0], page_lines, sum(len(x) + 1 for x in page_lines))
        report = resume([raw], report, batch_events=batch)
        assert report.stopped is None
        cursor = got.cursor
    assert report.state_hash == expected and report.position == len(events)

    # snapshot of a prefix (through its JSON form), then the tail only
    k = min(split, len(events))
    prefix = replay(chunks(lines[:k], budget)) if k else replay([])
    snap = Snapshot.from_obj(Snapshot.from_report(prefix).to_obj())
    tail = replay(
        chunks(lines, budget, start=k),
        start_state=snap.state(),
        start_position=snap.position,
        expected_prev=snap.checksum_at_position,
        start_heads=snap.heads,
    )
    assert tail.applied == len(events) - k
    assert tail.state_hash == expected and tail.heads == whole.heads


def test_lines_before_the_start_are_passed_over_and_a_gap_raises() -> None:
    lines = synth_lines()
    full = replay(chunks(lines, 4096))
    half = replay(chunks(lines, 4096), batch_events=10_000)
    assert half.state_hash == full.state_hash
    mid = replay(chunks(lines[:100], 4096))
    rest = resume(chunks(lines, 4096), mid)  # chunks from 0, replay starts at 100
    assert rest.state_hash == full.state_hash and rest.applied == len(lines) - 100
    with pytest.raises(ReplayGap) as info:
        resume(chunks(lines, 4096, start=150), mid)
    assert (info.value.expected, info.value.got) == (100, 150)


def test_start_without_expected_prev_warns_and_wrong_prev_stops() -> None:
    lines = synth_lines()
    mid = replay(chunks(lines[:50], 4096))
    loose = replay(chunks(lines, 4096, start=50), start_state=mid.state, start_position=50)
    assert loose.stopped is None and loose.warnings
    wrong = replay(
        chunks(lines, 4096, start=50),
        start_state=mid.state,
        start_position=50,
        expected_prev="sha256-v2:" + "0" * 64,
    )
    assert wrong.stopped is not None and wrong.stopped.kind == "chain"
    assert wrong.stopped.position == 50 and wrong.position == 50 and wrong.applied == 0


# ------------------------------------------------------------------ transactions


def _crashing_apply(fail_at_id: str, calls: list[str]):  # type: ignore[no-untyped-def]
    real = apply

    def fake(state, event):  # type: ignore[no-untyped-def]
        calls.append(event.id)
        if event.id == fail_at_id:
            raise RuntimeError("injected crash")
        return real(state, event)

    return fake


@pytest.mark.parametrize("batch", [1, 16, 50])
def test_crash_at_event_k_keeps_the_last_good_batch_and_resume_completes(
    monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    lines = synth_lines()
    full = replay(chunks(lines, 8192), batch_events=batch)
    assert full.ok
    ids = [replay_batches.record_id(line) for line in lines]
    for k in range(0, len(lines), 13):
        calls: list[str] = []
        with monkeypatch.context() as m:
            m.setattr(replay_batches, "apply", _crashing_apply(ids[k], calls))  # type: ignore[arg-type]
            crashed = replay(chunks(lines, 8192), batch_events=batch)
        assert crashed.stopped is not None
        assert crashed.stopped.kind == "crash" and crashed.stopped.position == k
        assert crashed.stopped.event_id == ids[k]
        assert "injected crash" in crashed.stopped.reason
        assert isinstance(crashed.error, RuntimeError)
        good = (k // batch) * batch  # records of the batches committed before k
        assert crashed.position == good and crashed.applied == good
        prefix = replay(chunks(lines[:good], 8192)) if good else replay([])
        assert crashed.state_hash == prefix.state_hash
        assert crashed.head == (checksum_of(lines[good - 1]) if good else None)
        resumed = resume(chunks(lines, 8192), crashed, batch_events=batch)
        assert resumed.ok and resumed.position == len(lines)
        assert resumed.state_hash == full.state_hash and resumed.heads == full.heads
        assert crashed.applied + resumed.applied == full.applied


def test_a_crash_after_the_working_state_was_updated_rolls_back_to_the_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch updates a working copy in place; a crash after ``apply`` already changed it
    must still leave exactly the committed state, and resuming must complete the log."""
    lines = synth_lines()
    full = replay(chunks(lines, 8192), batch_events=16)
    ids = [replay_batches.record_id(line) for line in lines]
    real = apply
    for k in (5, 16, 40, 101):

        def fake(state: Any, event: Any, k: int = k) -> Any:
            result = real(state, event)  # the working copy is updated in place here
            if event.id == ids[k]:
                raise RuntimeError("crash after apply")
            return result

        with monkeypatch.context() as m:
            m.setattr(replay_batches, "apply", fake)
            crashed = replay(chunks(lines, 8192), batch_events=16)
        assert crashed.stopped is not None and crashed.stopped.position == k
        good = (k // 16) * 16
        prefix = replay(chunks(lines[:good], 8192)) if good else replay([])
        assert crashed.state == prefix.state and crashed.state_hash == prefix.state_hash
        resumed = resume(chunks(lines, 8192), crashed, batch_events=16)
        assert resumed.ok and resumed.state_hash == full.state_hash


def test_a_crash_in_decoding_is_reported_at_its_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records are decoded a window ahead of apply: a decoder that raises (a bug, not
    bad input) is still a crash at the record it raised on, inside or at a window."""
    lines = synth_lines(600)
    ids = [replay_batches.record_id(line) for line in lines]
    real = replay_decode.decode_record
    for k in (1, 255, 256, 300, 599):  # not 0: the report reads the id with position 0

        def decode(line: bytes, position: int, *rest: int, k: int = k) -> object:
            if position == k:
                raise RuntimeError("injected decode crash")
            return real(line, position, *rest)

        with monkeypatch.context() as m:
            m.setattr(replay_decode, "decode_record", decode)
            crashed = replay(chunks(lines, 1 << 20), batch_events=100)
        assert crashed.stopped is not None and crashed.stopped.kind == "crash"
        assert crashed.stopped.position == k and crashed.stopped.event_id == ids[k]
        assert crashed.position == (k // 100) * 100


def test_a_tracer_hook_that_raises_is_a_crash_of_its_batch() -> None:
    lines = synth_lines()

    class Boom(Tracer):
        def batch(self, first: int, end: int, applied: int, start_s: float, ok: bool) -> None:
            super().batch(first, end, applied, start_s, ok)
            if ok and len(self.batches) == 3:
                raise OSError("disk full")

    tracer = Boom()
    report = replay(chunks(lines, 8192), batch_events=20, tracer=tracer)
    assert report.stopped is not None and report.stopped.kind == "crash"
    assert report.position == 40  # the third batch's commit hook failed
    assert report.state_hash == replay(chunks(lines[:40], 8192)).state_hash
    assert [b.ok for b in tracer.batches] == [True, True, True, False]


def test_crash_under_skip_policy_resumes_to_the_same_report() -> None:
    events, _ = _history_with_rejection()
    lines = chain(events)
    full = replay(chunks(lines, 4096), on_corrupt="skip", batch_events=2)
    for k in range(len(lines)):
        eid = events[k].id
        calls: list[str] = []
        mp = pytest.MonkeyPatch()
        mp.setattr(replay_batches, "apply", _crashing_apply(eid, calls))
        try:
            crashed = replay(chunks(lines, 4096), on_corrupt="skip", batch_events=2)
        finally:
            mp.undo()
        if eid not in calls:
            continue  # a skipped dependent never reaches apply
        resumed = resume(chunks(lines, 4096), crashed, on_corrupt="skip", batch_events=2)
        assert resumed.state_hash == full.state_hash
        assert crashed.skipped + resumed.skipped == full.skipped
        assert resumed.skipped_ids == full.skipped_ids


# ------------------------------------------------------------------ policies


def _history_with_rejection() -> tuple[list[Event], int]:
    """a1 create A; b1 (on a1) renames a table that does not exist -> rejected;
    b2 (on b1) comments on that table too -> rejected for want of b1: a dependent;
    b3 (on b2) comments on A: applies (skip means continue); a2 (on a1) is independent."""
    wall = [1_700_000_000_000]
    a = HybridLogicalClock("a", lambda: wall[0])
    b = HybridLogicalClock("b", lambda: wall[0])
    a1 = new_event(a, "ws", [], build_node_table("A", [("id", "INT64")], "id"))
    wall[0] += 10
    b1 = new_event(b, "ws", [a1.id], RenameTable("zz@1700000000000.0", "Ghost"))
    wall[0] += 10
    b2 = new_event(b, "ws", [b1.id], CommentOnTable("zz@1700000000000.0", "needs b1"))
    wall[0] += 10
    a2 = new_event(a, "ws", [a1.id], build_node_table("B", [("id", "INT64")], "id"))
    wall[0] += 10
    b3 = new_event(b, "ws", [b2.id], CommentOnTable(a1.id, "built on b2"))
    return [a1, b1, b2, a2, b3], 1


def test_skip_policy_continues_and_names_dependents_that_fail() -> None:
    events, _ = _history_with_rejection()
    a1, b1, b2, a2, b3 = events
    lines = chain(events)
    seen: list[tuple[Skipped, bytes]] = []
    report = replay(
        chunks(lines, 4096),
        on_corrupt="skip",
        quarantine=lambda s, line: seen.append((s, line)),
    )
    assert report.stopped is None and not report.ok
    assert report.applied == 3 and report.position == 5
    assert [(s.position, s.event_id, s.kind, s.because_of) for s in report.skipped] == [
        (1, b1.id, "rejected", None),
        (2, b2.id, "dependent", b1.id),
    ]
    assert "unknown-table" in report.skipped[0].reason
    assert "unknown-table" in report.skipped[1].reason and b1.id in report.skipped[1].reason
    assert report.skipped_by_kind == {"dependent": 1, "rejected": 1}
    assert [(s.position, line) for s, line in seen] == [(1, lines[1]), (2, lines[2])]
    # b3 names a skipped parent but applies to the state: it is applied
    assert report.state_hash == direct_hash([a1, a2, b3])
    assert report.heads == tuple(sorted((a2.id, b3.id)))
    assert not report.breaks


def test_skip_is_not_stop_on_a_one_origin_log() -> None:
    """The issue's case: one corrupt record of a linear 2,000-event log skipped 1,900 as
    dependents. Now later events apply when they can; the state is that of the log
    without the corrupt record, whichever record it is."""
    lines = chain(list(generate(2000, origins=1, seed=7)))
    for k in (50, 1200, 1999):
        damaged = list(lines)
        at = damaged[k].index(b'"workspace"') + 14
        damaged[k] = _flip(damaged[k], at)
        report = replay(chunks(damaged, 1 << 16), on_corrupt="skip")
        causes = report.skipped_by_kind
        assert causes.get("corrupt") == 1 and report.position == len(lines)
        assert report.applied + len(report.skipped) == len(lines)
        assert len(report.skipped) <= 1 + 100, causes  # a few dependents, not the whole rest
        assert all(s.kind in ("corrupt", "dependent", "rejected") for s in report.skipped)
        without = replay(chunks([*lines[:k], *lines[k + 1 :]], 1 << 16), on_corrupt="skip")
        assert report.state_hash == without.state_hash, k


def test_stop_policy_names_the_event_and_rolls_back_its_batch() -> None:
    events, _ = _history_with_rejection()
    lines = chain(events)
    report = replay(chunks(lines, 4096), batch_events=1)
    assert report.stopped is not None
    assert (report.stopped.position, report.stopped.event_id, report.stopped.kind) == (
        1,
        events[1].id,
        "rejected",
    )
    assert report.position == 1 and report.applied == 1
    assert report.state_hash == direct_hash(events[:1])
    big = replay(chunks(lines, 4096), batch_events=64)  # the whole log is one batch
    assert big.position == 0 and big.applied == 0 and big.state_hash == state_hash(empty_state())


def _flip(line: bytes, at: int) -> bytes:
    return line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]


def test_corrupt_body_is_skipped_with_its_id_and_the_chain_re_anchors() -> None:
    lines = list(synth_lines())
    body_at = lines[30].index(b'"workspace"') + 14
    lines[30] = _flip(lines[30], body_at)
    ids = [replay_batches.record_id(line) for line in synth_lines()]
    stopped = replay(chunks(lines, 8192), batch_events=8)
    assert stopped.stopped is not None and stopped.stopped.kind == "corrupt"
    assert stopped.stopped.position == 30 and stopped.stopped.event_id == ids[30]
    assert stopped.position == 24
    seen: list[int] = []
    skipped = replay(
        chunks(lines, 8192), on_corrupt="skip", quarantine=lambda s, _: seen.append(s.position)
    )
    assert skipped.skipped[0].position == 30 and skipped.skipped[0].kind == "corrupt"
    assert skipped.skipped[0].event_id == ids[30]
    assert not skipped.breaks  # the next record links to the claimed checksum
    assert all(s.kind in ("dependent", "rejected") for s in skipped.skipped[1:])
    assert seen == [s.position for s in skipped.skipped]
    assert skipped.position == len(lines)
    assert skipped.applied + len(skipped.skipped) == len(lines)


def test_corrupt_checksum_field_reports_a_break_and_garbage_line_does_not() -> None:
    lines = list(synth_lines())
    damaged = lines[:]
    at = 13 + len("sha256-v2:") + 5  # a hex digit of the record's own checksum
    digit = b"0" if damaged[40][at : at + 1] != b"0" else b"1"
    damaged[40] = damaged[40][:at] + digit + damaged[40][at + 1 :]
    report = replay(chunks(damaged, 8192), on_corrupt="skip")
    assert report.skipped[0].position == 40 and report.skipped[0].kind == "corrupt"
    assert [b.position for b in report.breaks] == [41]
    assert report.breaks[0].actual == checksum_of(lines[40])

    inserted = [*lines[:60], b"this is not a record", *lines[60:]]
    report = replay(chunks(inserted, 8192), on_corrupt="skip")
    assert [(s.position, s.event_id) for s in report.skipped] == [(60, None)]
    assert not report.breaks and report.applied == len(lines)
    assert report.state_hash == replay(chunks(lines, 8192)).state_hash


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_resume_around_skipped_corrupt_lines_matches_one_replay(batch: int) -> None:
    lines = list(synth_lines(60))
    at = 13 + len("sha256-v2:") + 5
    digit = b"0" if lines[20][at : at + 1] != b"0" else b"1"
    lines[20] = lines[20][:at] + digit + lines[20][at + 1 :]  # claimed checksum is wrong
    lines = [*lines[:40], b"garbage", b"more garbage", *lines[40:]]  # inserted lines
    full = replay(chunks(lines, 4096), on_corrupt="skip", batch_events=batch)
    assert [s.position for s in full.skipped if s.kind == "corrupt"] == [20, 40, 41]
    assert [b.position for b in full.breaks] == [21]
    for cut in range(1, len(lines)):
        first = replay(chunks(lines[:cut], 4096), on_corrupt="skip", batch_events=batch)
        rest = resume(chunks(lines, 4096), first, on_corrupt="skip", batch_events=batch)
        assert rest.state_hash == full.state_hash, cut
        assert first.skipped + rest.skipped == full.skipped, cut
        if cut not in (21, 41, 42):  # input cut inside a corrupt run: see below
            assert first.breaks + rest.breaks == full.breaks, cut
    # An input that ends inside a run of corrupt lines commits them with an
    # unknown chain head (the report warns); resuming accepts the next link.
    cut_short = replay(chunks(lines[:41], 4096), on_corrupt="skip", batch_events=batch)
    assert cut_short.head is None and any("chain head" in w for w in cut_short.warnings)


def test_a_record_re_linked_to_the_head_before_a_skipped_line_is_a_break() -> None:
    """After a skipped corrupt line, the next record may link to the line's claimed
    checksum or to the head before it; the first intact record settles which. A
    record further on that links back to the head before the skipped line is a
    re-linked chain: a break, not a re-anchoring. The corrupt record here is a
    leaf (nothing descends from it), so every record after it is regular."""
    wall = [1_700_000_000_000]
    a = HybridLogicalClock("a", lambda: wall[0])
    events = [new_event(a, "ws", [], build_node_table("A", [("id", "INT64")], "id"))]
    table = events[0].id
    for i in range(1, 8):
        wall[0] += 10
        parents = [events[0].id] if i == 2 else [events[-1].id]  # 2 builds on 0, not on 1
        events.append(new_event(a, "ws", parents, CommentOnTable(table, f"c{i}")))
    lines = chain(events)
    lines[1] = _flip(lines[1], lines[1].index(b'"workspace"') + 14)  # claimed checksum intact
    lines[5] = encode_record(events[5], checksum_of(lines[0]))  # re-linked to line 0
    report = replay(chunks(lines, 8192), on_corrupt="skip", batch_events=2)
    assert [(s.position, s.kind) for s in report.skipped] == [(1, "corrupt")]
    assert [b.position for b in report.breaks] == [5, 6]  # 6: line 5's checksum changed
    assert report.breaks[0].actual == checksum_of(lines[0])
    stopped = replay(chunks(lines, 8192), batch_events=2)
    assert stopped.stopped is not None and stopped.stopped.kind == "corrupt"
    lines[1] = chain(events)[1]  # intact again: the re-link alone stops a strict replay
    stopped = replay(chunks(lines, 8192), batch_events=2)
    assert stopped.stopped is not None and stopped.stopped.kind == "chain"
    assert stopped.stopped.position == 5


def test_deleted_record_under_skip_is_a_break_then_goes_on() -> None:
    lines = list(synth_lines())
    del lines[70]
    report = replay(chunks(lines, 8192), on_corrupt="skip")
    assert report.breaks and report.breaks[0].position == 70
    stop = replay(chunks(lines, 8192))
    assert stop.stopped is not None and stop.stopped.kind == "chain"
    assert stop.stopped.position == 70


def test_an_event_larger_than_the_budget_is_an_error_naming_it() -> None:
    lines = synth_lines(40)
    store = MemoryStore()
    store.append(list(generate(40, origins=3, seed=7)), expected=None)
    biggest = max(range(len(lines)), key=lambda i: len(lines[i]))
    budget = len(lines[biggest])  # one byte short: the newline counts
    report = replay(store, max_chunk_bytes=budget)
    assert report.stopped is not None and report.stopped.kind == "too-large"
    assert report.stopped.position <= biggest
    assert f"record {report.stopped.position}" in report.stopped.reason
    assert report.position <= report.stopped.position


def test_records_up_to_the_budget_replay_though_replay_reads_half_of_it() -> None:
    """Replay reads a store in chunks of half its budget (read.REPLAY_SHARE); a
    record larger than that, within the budget, comes in a chunk of its own: the
    same report as a replay at a budget that holds the whole log, and a record
    one byte over the budget names the budget, not the chunk."""
    lines = synth_lines(40)
    store = MemoryStore()
    store.append(list(generate(40, origins=3, seed=7)), expected=None)
    biggest = max(range(len(lines)), key=lambda i: len(lines[i]))
    budget = len(lines[biggest]) + 1  # exactly the biggest record with its newline
    assert sum(len(line) + 1 > budget // 2 for line in lines) > 1  # several alone
    whole = replay(store, max_chunk_bytes=1 << 20)
    tight = replay(store, max_chunk_bytes=budget)
    assert whole.ok and tight.ok
    assert (tight.state_hash, tight.head, tight.applied) == (
        whole.state_hash,
        whole.head,
        whole.applied,
    )
    over = replay(store, max_chunk_bytes=budget - 1)
    assert over.stopped is not None and over.stopped.kind == "too-large"
    assert f"{budget - 1}" in over.stopped.reason


def test_report_to_obj_is_json() -> None:
    import json

    events, _ = _history_with_rejection()
    report = replay(chunks(chain(events), 4096), on_corrupt="skip")
    obj = report.to_obj()
    assert json.loads(json.dumps(obj)) == obj
    assert obj["skipped"][1]["because_of"] == events[1].id
    assert isinstance(report, ReplayReport)
