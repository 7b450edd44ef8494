"""Every reader of a store holds one chunk: measured with tracemalloc, never timed.

A reader that loops ``for chunk in store.iter_raw(...)`` still names the chunk
it has finished when the loop asks for the next one, so the next chunk is read
with the previous one alive: twice the budget (replay's ``read_lines`` hands
its chunks over for the same reason, tests/test_replay_memory.py). Each reader
here drops its chunk first, and a store's own generator names nothing of a
chunk it has handed out (``NdjsonStore``, ``HttpStore``, which also drops the
reply's body once it is split). So from a small budget to a large one a
reader's peak grows by about one chunk (its lines take ~1.1x their bytes), not
two; the reader's own state (ids, heads, a replay's schema) is the same at both
budgets and cancels out.

The kinds of reader: a loop that consumes each chunk (the id index,
``_unstored``, ``catch_up``'s look for a Merge, ``merge``'s download), a
generator that yields a chunk's lines (``event_ids``, ``verify_store``, an
``--expect-log`` store), and a store's ``iter_raw`` itself (HTTP). The plan's
pre-pass searches a store's raw blocks instead (``iter_blocks``): one block
alive, the same way.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from bisect import bisect_right
from collections.abc import Callable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import schemalog.log.store.locate as locate_module
from schemalog.cli import cmd_merge, cmd_replay
from schemalog.log import concurrent_writes
from schemalog.log.concurrent_writes import catch_up
from schemalog.log.effective import plan_of_chunks
from schemalog.log.replay import ReplayReport, replay
from schemalog.log.replay.read import read_lines, rereader
from schemalog.log.store import verify as verify_module
from schemalog.log.store.events import StoreEvents
from schemalog.log.store.http import COUNT_HEADER, HttpStore, Reply
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, RawChunk
from schemalog.log.store.verify import reference_lines, verify_log, verify_store
from schemalog.synth.generator import write_log

MIB = 1024 * 1024
SMALL = MIB // 4
LARGE = 2 * MIB
EVENTS = 10_000


@pytest.fixture(scope="module")
def one_origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log without a Merge record."""
    path = tmp_path_factory.mktemp("readers") / "one.ndjson"
    write_log(path, EVENTS, origins=1, seed=1, overwrite=True)
    return path


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 5 MB of three origins (merges, forks: parents named twice)."""
    path = tmp_path_factory.mktemp("readers") / "log.ndjson"
    write_log(path, EVENTS, origins=3, seed=1, overwrite=True)
    return path


def _capped(store: Any, budget: int) -> Any:
    """``store`` whose reads take at most ``budget`` bytes a chunk, whatever a reader
    asks for (the readers use the 32 MiB default: too large for a test's log)."""
    iter_raw = type(store).iter_raw.__get__(store)  # the store's own, capped once

    def capped(start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[RawChunk]:
        chunks: Iterator[RawChunk] = iter_raw(start, min(max_chunk_bytes, budget))
        return chunks

    store.iter_raw = capped
    return store


class _LogServer:
    """A ``Transport`` that answers ``GET .../raw`` as ``schemalog serve`` does, from
    the log's bytes (read before tracing starts): one new bytes object a reply."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        sizes = [len(line) + 1 for line in self.data.split(b"\n")[:-1]]
        self.ends = list(accumulate(sizes))  # byte end of each line

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Reply:
        parts = urlsplit(url)
        assert method == "GET" and parts.path.endswith("/raw"), url
        query = {k: int(v[0]) for k, v in parse_qs(parts.query).items()}
        count = len(self.ends)
        start, stop = query["start"], min(query.get("stop", count), count)
        begin = self.ends[start - 1] if start else 0
        # whole lines within max_bytes, at least one (a larger one is the client's error)
        end = max(bisect_right(self.ends, begin + query["max_bytes"]), start + 1)
        end = min(end, stop)
        chunk = self.data[begin : self.ends[end - 1]] if end > start else b""
        return Reply(200, {COUNT_HEADER.lower(): str(count)}, chunk)

    def close(self) -> None:
        pass


def _http_store(log: Path, budget: int) -> HttpStore:
    store = HttpStore("http://test/logs/x", _LogServer(log))
    _capped(store, budget)
    return store


def _drain(items: Iterator[Any]) -> None:
    for _ in items:
        pass


def _heads(store: NdjsonStore) -> None:
    assert store.heads()  # builds the id index: IdScan over every chunk, then _unstored


def _view(store: Any, records: int) -> ReplayReport:
    """A replay of the first ``records`` records of ``store`` (a client's view of the log)."""
    lines = [line for chunk in store.iter_raw(0) for line in chunk.lines][:records]
    return replay([RawChunk(0, lines, sum(len(line) + 1 for line in lines))])


def _store_events(store: NdjsonStore) -> None:
    _drain(iter(StoreEvents(store, LARGE)))


READERS: dict[str, Callable[[Any], object]] = {
    "id index": _heads,
    "event_ids": lambda store: _drain(store.event_ids()),
    "verify_store": lambda store: verify_store(store),
    "expect-log store": lambda store: _drain(reference_lines(store)[1]),
    "StoreEvents": _store_events,
    "replay --on-corrupt skip anchor": lambda store: _drain(cmd_replay._record_lines(store)),
}


def _peak(run: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _growth(measure: Callable[[int], int]) -> tuple[int, float]:
    """(peak growth from SMALL to LARGE, the bound: one chunk's growth with 30 % for
    the lines' overhead and a piece read ahead). A first run fills the caches."""
    measure(SMALL)
    return measure(LARGE) - measure(SMALL), 1.3 * (LARGE - SMALL)


def _ndjson_peak(log: Path, reader: Callable[[Any], object], budget: int) -> int:
    store = _capped(NdjsonStore.open(log, readonly=True, verify=False), budget)
    try:
        return _peak(lambda: reader(store))
    finally:
        store.close()


@pytest.mark.parametrize("name", list(READERS))
def test_a_reader_holds_one_chunk_while_it_reads_the_next(log: Path, name: str) -> None:
    reader = READERS[name]
    growth, bound = _growth(lambda budget: _ndjson_peak(log, reader, budget))
    assert growth <= bound, (
        f"{name}: the peak grew by {growth} bytes from a {SMALL}-byte budget to {LARGE}: "
        f"more than {bound:.0f}, one chunk; the previous chunk is alive while the next is read"
    )


def test_catch_up_looks_for_a_merge_holding_one_chunk(one_origin: Path) -> None:
    """``catch_up``'s look for a Merge record in the delta (``_merged``): a log without
    one is read to its end."""

    def look(store: NdjsonStore) -> None:
        assert not concurrent_writes._merged(store, 0)

    growth, bound = _growth(lambda budget: _ndjson_peak(one_origin, look, budget))
    assert growth <= bound, f"_merged: the peak grew by {growth} bytes, more than {bound:.0f}"


def test_catch_up_replays_a_merged_log_holding_no_chunk(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a Merge record ``catch_up`` replays the whole log: nothing of the chunk it
    found the Merge in is alive then (the memory in use when that replay starts does
    not grow with the budget)."""
    real_replay = replay
    at_start: list[int] = []

    def replay_whole(store: Any) -> ReplayReport:
        at_start.append(tracemalloc.get_traced_memory()[0])
        return real_replay(store)

    monkeypatch.setattr(concurrent_writes, "replay", replay_whole)

    def in_use(budget: int) -> int:
        at_start.clear()
        store = _capped(NdjsonStore.open(log, readonly=True, verify=False), budget)
        try:
            view = _view(store, EVENTS // 10)
            _peak(lambda: _assert_caught_up(catch_up(store, view)))
        finally:
            store.close()
        assert len(at_start) == 1  # the delta has a Merge: the log was replayed whole
        return at_start[0]

    in_use(SMALL)  # the first replay in a process fills the model's caches
    growth = in_use(LARGE) - in_use(SMALL)
    assert growth <= 0.3 * (LARGE - SMALL), (
        f"catch_up: {growth} bytes more in use when the whole replay starts at a "
        f"{LARGE}-byte budget than at {SMALL}: a chunk is alive during that replay"
    )


def _assert_caught_up(report: ReplayReport) -> None:
    assert report.ok and report.position == EVENTS


def test_unstored_reads_the_log_once_holding_one_chunk(log: Path) -> None:
    """``NdjsonStore._unstored``'s sorted pass over every candidate position (taken when
    a read per name would cost more: a log with many forks)."""

    def measure(budget: int) -> int:
        store = NdjsonStore.open(log, readonly=True, verify=False)
        try:
            _capped(store, SMALL)
            store.heads()  # the id index, at the small budget
            ids = store._ids
            assert ids is not None
            names = {line_id for chunk in store.iter_raw(0) for line_id in _ids_of(chunk)}
            positions = {p for n in names for p in ids.candidates(n)}
            assert len(positions) * 64 * 1024 >= log.stat().st_size  # the one-pass branch
            _capped(store, budget)
            found: list[set[bytes]] = []
            peak = _peak(lambda: found.append(store._unstored(names)))
            assert found == [set()]
            return peak
        finally:
            store.close()

    growth, bound = _growth(measure)
    assert growth <= bound, f"_unstored: the peak grew by {growth} bytes, more than {bound:.0f}"


def test_replay_keeps_no_second_list_of_a_chunk(log: Path) -> None:
    """``read_lines`` copies a chunk's list of lines (module doc of log/replay/read.py);
    the store's own list is gone once it has: besides the lines and that copy, what
    is in use is the store's read-ahead (the head of the next line), a few KiB."""
    store = NdjsonStore.open(log, readonly=True, verify=False)
    try:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            n = 0
            for got in read_lines(store, 0, LARGE):
                held = sys.getsizeof(got.lines) + sum(map(sys.getsizeof, got.lines))
                besides = tracemalloc.get_traced_memory()[0] - before - held
                assert besides < sys.getsizeof(got.lines) // 2 + 8 * 1024, (
                    f"chunk at {got.position}: {besides} bytes in use besides its lines: "
                    "the store still names its own list of them"
                )
                n += len(got.lines)
        finally:
            tracemalloc.stop()
    finally:
        store.close()
    assert n == EVENTS


def test_verify_log_holds_one_block(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``verify_log`` reads a file in blocks: a block's bytes are gone once split, its
    lines before the next block is read (peak: a block and its lines, growing by
    about 1.8 blocks' growth here; a block or its lines kept: 2.6 and more)."""

    def measure(block: int) -> int:
        monkeypatch.setattr(verify_module, "BLOCK_BYTES", block)
        found: list[bool] = []
        peak = _peak(lambda: found.append(verify_log(str(log)).ok))
        assert found == [True]
        return peak

    growth = _growth(measure)[0]
    bound = 2.2 * (LARGE - SMALL)
    assert growth <= bound, f"verify_log: the peak grew by {growth} bytes, more than {bound}"


def _ids_of(chunk: RawChunk) -> Iterator[bytes]:
    from schemalog.log.store.base import line_id

    return map(line_id, chunk.lines)


def test_merge_download_holds_one_chunk(
    log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``schemalog merge`` copies a log behind a URL chunk by chunk."""

    def measure(budget: int) -> int:
        store = _http_store(log, budget)
        monkeypatch.setattr(locate_module, "open_store", lambda url, **_: store)
        out = tmp_path / f"copy-{budget}.ndjson"
        peak = _peak(lambda: cmd_merge._download("http://test/logs/x", out))
        assert out.read_bytes() == log.read_bytes()
        return peak

    growth, bound = _growth(measure)
    assert growth <= 2 * bound, f"merge download: the peak grew by {growth} bytes"


def test_the_http_store_holds_one_reply(log: Path) -> None:
    """A reply's body and its lines are one chunk twice while it is split (the body
    comes whole): the peak grows by two chunks, not four (the previous reply alive
    when the next is fetched). While the reader has a chunk, the body is gone: what is
    in use then grows by one chunk."""
    in_use: list[int] = []

    def run(store: HttpStore) -> None:
        n = 0
        for chunk in store.iter_raw(0):
            n += len(chunk.lines)
            in_use.append(tracemalloc.get_traced_memory()[0])
            del chunk
        assert n == EVENTS

    def measure(budget: int) -> tuple[int, int]:
        store = _http_store(log, budget)
        in_use.clear()
        peak = _peak(lambda: run(store))
        return peak, max(in_use)

    (small_peak, small_use), (large_peak, large_use) = measure(SMALL), measure(LARGE)
    bound = 1.3 * (LARGE - SMALL)
    assert large_peak - small_peak <= 2 * bound, (
        f"HttpStore: the peak grew by {large_peak - small_peak} bytes from {SMALL} to "
        f"{LARGE}: more than {2 * bound:.0f}, a reply's body and lines"
    )
    assert large_use - small_use <= bound, (
        f"HttpStore: {large_use - small_use} bytes more in use while the reader has a "
        f"chunk: more than {bound:.0f}, one chunk's lines (the body is alive)"
    )


def test_the_http_store_event_ids_hold_one_reply(log: Path) -> None:
    def measure(budget: int) -> int:
        store = _http_store(log, budget)
        return _peak(lambda: _drain(store.event_ids()))

    growth, bound = _growth(measure)
    assert growth <= 2 * bound, f"HttpStore.event_ids: the peak grew by {growth} bytes"


def _blocks_of(store: Any, block: int) -> Any:
    """``store`` whose raw blocks are of ``block`` bytes (the pre-pass asks for the default)."""
    iter_blocks = type(store).iter_blocks.__get__(store)

    def sized(start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES, _: int = 0) -> Any:
        return iter_blocks(start, max_chunk_bytes, block)

    store.iter_blocks = sized
    return store


@pytest.mark.parametrize("kind", ["ndjson", "http"])
def test_the_plan_searches_one_block_at_a_time(log: Path, kind: str) -> None:
    """``plan_of_chunks`` over a store's raw blocks (replay's re-reader): the block it
    searched is gone when the store reads the next, and the store's generator names
    none it handed out: the peak grows by one block from small blocks to large ones."""

    def measure(block: int) -> int:
        store: Any
        if kind == "ndjson":
            store = NdjsonStore.open(log, readonly=True, verify=False)
        else:
            store = HttpStore("http://test/logs/x", _LogServer(log))
        _blocks_of(store, block)
        reader = rereader(store, DEFAULT_CHUNK_BYTES)
        assert reader is not None and getattr(reader, "blocks", None) is not None
        try:
            return _peak(lambda: plan_of_chunks(reader))
        finally:
            store.close()

    growth, bound = _growth(measure)
    assert growth <= bound, (
        f"{kind}: the plan's peak grew by {growth} bytes from {SMALL}-byte blocks to "
        f"{LARGE}: more than {bound:.0f}, one block; two blocks are alive at once"
    )
