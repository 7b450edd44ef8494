"""The plan's pre-pass over raw blocks finds exactly what the line path finds.

``effective.plan_of_chunks`` searches a store's raw blocks (``iter_blocks``)
for resolving Merges when the store has them, and filters the split lines of
``iter_raw`` otherwise. Both must decode the same lines in the same order and
stop at the same record too large for the budget. Checked here, per store
type, on merged logs and on lines made to break a block search:

* the blocks hold exactly ``iter_raw``'s lines (each with its newline) and end
  with the same ``RecordTooLarge`` (position, size, budget);
* the lines the block search cuts out equal the line path's marked lines;
* the plans are equal.

Block sizes from 1 byte on put every byte of a marker, and every line, across
a block boundary; budgets around each line's size put a too large record
before, on and after the resolving Merges.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemalog.encoding.codec import encode_record
from schemalog.history.merge import STRATEGIES, merge_events
from schemalog.log.effective import (
    _RESOLVING,
    RawReader,
    _all_lines,
    _marked_lines,
    plan_of_chunks,
    plan_of_events,
)
from schemalog.log.replay import replay
from schemalog.log.replay.read import REREAD_BYTES, _store_chunks, rereader
from schemalog.log.store import MemoryStore, NdjsonStore, RecordTooLarge
from schemalog.log.store.events import StoreEvents
from schemalog.log.store.http import HttpStore
from schemalog.log.store.postgres import PostgresStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import CommentOnTable, Event, new_event
from schemalog.synth.replicas import synth_replicas
from served import Service
from strategies import forked_histories

MARK = _RESOLVING
Stop = tuple[int, int, int] | None  # a RecordTooLarge's (position, size, budget)


def _merged_lines(seed: int = 7, replicas: int = 3, rate: float = 0.6) -> list[bytes]:
    result = merge_events(synth_replicas(replicas, 6, 14, seed, conflict_rate=rate), "lww")
    lines = result.lines()
    assert sum(MARK in line for line in lines) >= 2, "the merged log has no resolutions"
    return lines


# ------------------------------------------------ the differential


def _line_path(store: Any, budget: int) -> tuple[list[bytes], Stop]:
    lines: list[bytes] = []
    try:
        for chunk in _store_chunks(
            store.iter_raw, 0, budget, REREAD_BYTES
        ):  # replay's re-read of the lines
            lines.extend(chunk.lines)
    except RecordTooLarge as exc:
        return lines, (exc.position, exc.size, exc.budget)
    return lines, None


def _block_path(store: Any, budget: int, block: int) -> tuple[bytes, Stop]:
    got: list[bytes] = []
    blocks = store.iter_blocks(0, budget, block)
    try:
        while True:
            b = next(blocks)
            assert b.endswith(b"\n"), "a block ends inside a line"
            got.append(bytes(b))
    except RecordTooLarge as exc:
        return b"".join(got), (exc.position, exc.size, exc.budget)
    except StopIteration as done:  # (port) the position after the last line
        data = b"".join(got)
        assert done.value == data.count(b"\n"), "iter_blocks returns where it ended"
        return data, None


def assert_same(store: Any, budget: int, block: int) -> list[bytes]:
    """Blocks, marked lines and plan equal the line path's; the marked lines."""
    lines, stop = _line_path(store, budget)
    data, block_stop = _block_path(store, budget, block)
    assert data == b"".join(line + b"\n" for line in lines), (budget, block)
    assert block_stop == stop, (budget, block)

    def chunks() -> Any:
        return _store_chunks(store.iter_raw, 0, budget, REREAD_BYTES)

    def blocks() -> Any:
        return store.iter_blocks(0, budget, block)

    by_lines = list(_all_lines(chunks, containing=MARK))
    by_blocks = list(_marked_lines(blocks, MARK))
    assert by_blocks == by_lines, (budget, block)
    by_blocks_plan, by_lines_plan = (
        plan_of_chunks(RawReader(chunks, blocks)),
        plan_of_chunks(RawReader(chunks)),
    )
    assert by_blocks_plan == by_lines_plan
    # where the read ended (what replay reads up to): None after a record too large
    assert by_blocks_plan.end == by_lines_plan.end == (None if stop else len(lines))
    return by_lines


# ------------------------------------------------ stores holding given raw lines


def _ndjson(tmp: Path, lines: list[bytes], tail: bytes = b"", segments: int = 1) -> NdjsonStore:
    """A readonly, unverified store (any bytes as lines) in ``segments`` files."""
    data = [line + b"\n" for line in lines]
    if segments == 1:
        path = tmp / f"log-{uuid.uuid4().hex[:8]}.ndjson"
        path.write_bytes(b"".join(data) + tail)
    else:
        path = tmp / f"log-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        per = max(1, -(-len(data) // segments))
        parts = [data[i : i + per] for i in range(0, len(data), per)] or [[]]
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            (path / f"{k:08d}.ndjson").write_bytes(b"".join(part) + (tail if last else b""))
    return NdjsonStore.open(path, readonly=True, verify=False)


def _memory(lines: list[bytes]) -> MemoryStore:
    store = MemoryStore()
    store._store.extend(lines)  # raw lines as they are (the store's own list)
    return store


RAW_STORES: dict[str, Callable[[Path, list[bytes], bytes], Any]] = {
    "ndjson file": lambda tmp, lines, tail: _ndjson(tmp, lines, tail),
    "ndjson segments": lambda tmp, lines, tail: _ndjson(tmp, lines, tail, segments=3),
    "memory": lambda tmp, lines, tail: _memory(lines),
}


def _clock_after(lines: list[bytes]) -> tuple[HybridLogicalClock, Event]:
    from schemalog.encoding.codec import decode_record

    last = decode_record(lines[-1], len(lines) - 1).event  # type: ignore[union-attr]
    return HybridLogicalClock("z", lambda: last.hlc.wall_ms + 10), last


def _adversarial(lines: list[bytes]) -> list[bytes]:
    """A merged log's lines with the marker where a block search could go wrong."""
    clock, last = _clock_after(lines)
    table = next(
        line.split(b'"table_id":"', 1)[1].split(b'"', 1)[0]
        for line in lines
        if b'"kind":"create_node_table"' in line
    ).decode()
    # the marker inside a comment: canonical JSON escapes its quotes (\"kind\":...)
    comment = new_event(clock, "ws", [last.id], CommentOnTable(table, MARK.decode() * 3))
    in_comment = encode_record(comment, None)
    assert MARK.replace(b'"', b'\\"') in in_comment and MARK not in in_comment
    merges = [line for line in lines if MARK in line]
    out = list(lines)
    out[2:2] = [
        MARK,  # a line that is the marker
        b"",  # blank lines
        b"",
        MARK + b"\r",  # CRLF
        merges[0] + b"\r",  # a resolving Merge with CRLF (not canonical: decodes to nothing)
        b"x" + MARK + MARK + b"y",  # twice on one line: cut out once
        MARK[:-1],  # almost
        in_comment,
        b'{"a":"' + MARK + b'"}',  # inside a string, unescaped (not JSON: still a hit)
    ]
    out.append(MARK[:20])  # the marker cut by a line end
    out.append(MARK[20:] + b" " + merges[-1])  # and a real Merge after it on one line
    out.append(merges[0])
    return out


# ------------------------------------------------ tests


@pytest.mark.parametrize("kind", list(RAW_STORES))
def test_every_block_boundary_through_the_marker(kind: str, tmp_path: Path) -> None:
    """Blocks of 1 to 700 bytes (lines are 250-600): each of a marker's bytes at a
    block's end, every line across one, a line longer than a block grown into."""
    lines = _merged_lines()
    small = lines[:4] + [line for line in lines if MARK in line][:2] + lines[-3:]
    store = RAW_STORES[kind](tmp_path, small, b"")
    found = None
    for block in range(1, 701):
        got = assert_same(store, 1 << 20, block)
        assert found is None or got == found
        found = got
    assert found == [line for line in small if MARK in line] and len(found) >= 2


@pytest.mark.parametrize("kind", list(RAW_STORES))
def test_lines_made_to_break_a_block_search(kind: str, tmp_path: Path) -> None:
    lines = _adversarial(_merged_lines(seed=3))
    store = RAW_STORES[kind](tmp_path, lines, b"")
    for block in (1, 2, 31, 32, 33, 64, 500, 4096, 1 << 18):
        got = assert_same(store, 1 << 20, block)
        assert got == [line for line in lines if MARK in line]
    # the plan decodes the canonical Merges among them, nothing else
    plan = plan_of_chunks(rereader(store, 1 << 20))
    assert plan.plan.losers and plan == plan_of_events(_events_of(lines))


def _events_of(lines: list[bytes]) -> list[Event]:
    from schemalog.encoding.codec import Record, decode_record

    out = []
    for pos, line in enumerate(lines):
        rec = decode_record(line, pos)
        if type(rec) is Record:
            out.append(rec.event)
    return out


@pytest.mark.parametrize("kind", ["ndjson file", "ndjson segments"])
def test_a_torn_tail_is_not_read(kind: str, tmp_path: Path) -> None:
    """Bytes after the last newline (a torn write, hidden by a readonly open): a Merge
    there, whole but for its newline, or cut inside its marker, is not found."""
    lines = _merged_lines(seed=5)
    merge = next(line for line in lines if MARK in line)
    head = [line for line in lines if MARK not in line]
    at = merge.index(MARK) + 10
    for tail in (merge, merge[:at], MARK, b"\r"):
        store = RAW_STORES[kind](tmp_path, head, tail)
        assert store.recovered is not None
        for block in (1, 7, 40, 300, 1 << 18):
            assert assert_same(store, 1 << 20, block) == []
        store.close()


@pytest.mark.parametrize("kind", list(RAW_STORES))
def test_a_record_too_large_stops_both_at_the_same_place(kind: str, tmp_path: Path) -> None:
    """Budgets around every line's size (and a 6 KB line before the last Merges):
    the block reader raises where iter_raw does, with the lines before it handed out."""
    lines = _merged_lines(seed=9)
    merges = [i for i, line in enumerate(lines) if MARK in line]
    big = b'{"big":"' + b"x" * 6000 + b'"}'
    lines.insert(merges[-1], big)
    store = RAW_STORES[kind](tmp_path, lines, b"")
    sizes = sorted({len(line) + 1 for line in lines})
    budgets = {s + d for s in sizes for d in (-1, 0, 1)} | {1, 2, 100, 1 << 20}
    stops = set()
    for budget in sorted(budgets):
        for block in (1, 33, 257, budget, 1 << 18):
            assert_same(store, budget, block)
        stops.add(_line_path(store, budget)[1] is not None)
    assert stops == {True, False}
    # a budget the 6 KB line exceeds: the Merge after it is not read by either path
    found = assert_same(store, 4096, 100)
    assert lines[merges[-1] + 1] not in found and lines[merges[0]] in found


@pytest.mark.parametrize("kind", list(RAW_STORES))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    history=forked_histories(),
    strategy=st.sampled_from(STRATEGIES),
    block=st.integers(1, 2048),
    slack=st.integers(-3, 600),
)
def test_merged_forks(
    kind: str,
    tmp_path: Path,
    history: tuple[list[Event], list[Event], list[Event]],
    strategy: str,
    block: int,
    slack: int,
) -> None:
    prefix, a, b = history
    lines = merge_events([prefix + a, prefix + b], strategy).lines()
    if not lines:
        return
    store = RAW_STORES[kind](tmp_path, lines, b"")
    budget = max(1, max(len(line) + 1 for line in lines) + slack)
    assert_same(store, budget, block)
    assert_same(store, 1 << 20, block)


# ------------------------------------------------ stores holding appended events


@pytest.fixture(scope="module")
def ndjson_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = Service(str(tmp_path_factory.mktemp("served") / "logs")).start()
    yield service
    service.stop()


def _merged_events() -> list[Event]:
    result = merge_events(synth_replicas(3, 6, 30, 11, conflict_rate=0.6), "lww")
    assert sum(MARK in line for line in result.lines()) >= 2
    return list(result.events)


def _append(store: Any) -> Any:
    store.append(_merged_events(), expected=None)
    return store


def _check_appended(store: Any) -> None:
    lines = [line for chunk in store.iter_raw(0) for line in chunk.lines]
    longest = max(len(line) + 1 for line in lines)
    for budget in (longest - 1, longest, 1 << 20):
        for block in (1, 100, 4096, 1 << 20):
            assert_same(store, budget, block)
    # replay's re-reader hands the plan the blocks, and the plan is the events' plan
    reader = rereader(store, 1 << 20)
    assert isinstance(reader, RawReader) and reader.blocks is not None
    assert plan_of_chunks(reader) == plan_of_events(_events_of(lines))
    assert plan_of_chunks(reader).plan.losers
    assert StoreEvents(store).raw_blocks is not None
    assert plan_of_events(StoreEvents(store)) == plan_of_chunks(reader)
    assert replay(store).ok is not None


def test_appended_ndjson_file(tmp_path: Path) -> None:
    store = _append(NdjsonStore.open(tmp_path / "a.ndjson", create=True, durable=False))
    _check_appended(store)


def test_appended_ndjson_segments(tmp_path: Path) -> None:
    store = NdjsonStore.open(tmp_path / "segs", create=True, segment_bytes=3000, durable=False)
    evs = _merged_events()
    for i in range(0, len(evs), 7):  # a batch stays in one segment: many segments
        store.append(evs[i : i + 7], expected=store.head().checksum)
    assert len(store.segments()) > 3
    _check_appended(store)


def test_appended_memory() -> None:
    _check_appended(_append(MemoryStore()))


def test_appended_postgres(pg_url: str) -> None:
    store = PostgresStore.open(pg_url, log="p" + uuid.uuid4().hex[:12], create=True)
    try:
        _check_appended(_append(store))
    finally:
        store.close()


def test_appended_http(ndjson_service: Service) -> None:
    """Over ``schemalog serve``: a record above the block size comes alone (a 413
    first), one above the budget is RecordTooLarge as iter_raw names it."""
    with HttpStore.open(ndjson_service.log_url("h" + uuid.uuid4().hex[:12])) as store:
        _check_appended(_append(store))


def test_ndjson_blocks_follow_appends_and_skip_records_appended_meanwhile(
    tmp_path: Path,
) -> None:
    """Another handle's appends are picked up when a read starts; records appended
    while it runs are not in it (as iter_raw)."""
    path = tmp_path / "log.ndjson"
    writer = NdjsonStore.open(path, create=True, durable=False)
    evs = _merged_events()
    writer.append(evs[:20], expected=None)
    reader = NdjsonStore.open(path, readonly=True)
    writer.append(evs[20:40], expected=writer.head().checksum)
    blocks = reader.iter_blocks(0, 1 << 20, 64)
    first = next(blocks)
    writer.append(evs[40:], expected=writer.head().checksum)
    data = bytes(first) + b"".join(bytes(b) for b in blocks)
    assert data.count(b"\n") == 40
    assert data == b"".join(path.read_bytes().splitlines(keepends=True)[:40])
    assert os.path.getsize(path) > len(data)


@pytest.mark.parametrize("segments", [1, 3])
def test_a_record_too_large_far_into_the_log_is_named_at_its_position(
    segments: int, tmp_path: Path
) -> None:
    """The block reader counts no lines: a too large record's position comes from the
    segment's marks (one per 64 KiB), here many marks in, in a later segment."""
    lines = [line for _ in range(12) for line in _merged_lines(seed=13)]  # about 300 KB
    for at in (len(lines) // 2, len(lines) - 1):
        big = [*lines[:at], b"y" * 9000, *lines[at:]]
        store = _ndjson(tmp_path, big, segments=segments)
        assert len(store._segments[-1].mark_lines) > 1
        for block in (1, 100, 1 << 18):
            assert assert_same(store, 8192, block) == [x for x in big[:at] if MARK in x]
        assert _line_path(store, 8192)[1] == (at, 9001, 8192)
        store.close()


@pytest.mark.parametrize("kind", list(RAW_STORES))
@pytest.mark.parametrize("case", sorted(Path(__file__).parent.glob("merge_cases/*.ndjson")))
def test_the_kept_merge_cases(kind: str, case: Path, tmp_path: Path) -> None:
    lines = case.read_bytes().splitlines()
    assert any(MARK in line for line in lines)
    store = RAW_STORES[kind](tmp_path, lines, b"")
    longest = max(len(line) + 1 for line in lines)
    for budget in (longest - 1, longest, 1 << 20):
        for block in (1, 31, 32, 33, 200, 1 << 18):
            assert_same(store, budget, block)
