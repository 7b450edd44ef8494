"""Replay's memory is one chunk: measured with tracemalloc, never timed.

* ``NdjsonStore.iter_raw`` reads a chunk in pieces and splits as it goes: a
  reader that drops each chunk holds one chunk's lines plus a piece, never the
  chunk's bytes and its lines at once.
* ``replay`` holds one chunk while it reads the next (``read.read_lines``
  hands the stages a list it empties before reading on), and its re-reads of
  the log (the plan's pre-pass, the duplicate scan's warm-up, which can run
  while replay's own chunk is in memory) read small chunks: the read phase's
  peak grows with the budget by about one chunk, not two.
* The re-reads' small chunks hold the same lines as a read at the budget; a
  record above the small size and within the budget comes in a chunk of its
  own, and one above the budget raises the same ``RecordTooLarge``.

The log is a synthetic one of three origins (so replay warms the duplicate
scan midway), about 5 MB.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import schemalog.log.replay.read as read_module
import schemalog.log.store.ndjson as ndjson_module
from schemalog.log.replay import replay
from schemalog.log.replay.read import REPLAY_SHARE, rereader
from schemalog.log.store.errors import RecordTooLarge
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.log.store.port import RawChunk
from schemalog.synth.generator import write_log

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("memory") / "log.ndjson"
    write_log(path, 10_000, origins=3, seed=1, overwrite=True)
    return path


def _lines_bytes(lines: list[bytes]) -> int:
    """What a chunk's lines take in memory: the bytes objects and the list."""
    return sys.getsizeof(lines) + sum(map(sys.getsizeof, lines))


def test_iter_raw_holds_one_chunk_and_one_piece(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk's lines plus what is read ahead: a piece, read and split (64 KiB
    pieces here, so that one read of the whole budget would show)."""
    monkeypatch.setattr(ndjson_module, "_READ_PIECE", 64 * 1024)
    budget = 2 * MIB
    store = NdjsonStore.open(log, readonly=True, verify=False)
    try:
        gc.collect()
        tracemalloc.start()
        try:
            largest = 0
            n = 0
            for chunk in store.iter_raw(0, budget):
                largest = max(largest, _lines_bytes(chunk.lines))
                n += len(chunk.lines)
                del chunk  # the reader keeps nothing
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        store.close()
    assert n == 10_000
    assert largest > budget  # the lines' own overhead: the budget counts bytes
    allowance = 3 * ndjson_module._READ_PIECE + 64 * 1024
    assert peak <= largest + allowance, (
        f"iter_raw peak {peak} bytes: more than one chunk's lines ({largest}) "
        f"+ {allowance} read ahead"
    )


class _ReadPeak:
    """A store that records tracemalloc's peak when a whole read of it in replay's
    chunks (half the budget) ends: the last is replay's own read (the pre-pass's
    comes first; a warm-up stops early), before the report's state is hashed."""

    def __init__(self, store: NdjsonStore, budget: int) -> None:
        self.store = store
        self.budget = budget
        self.peak = 0

    def iter_raw(self, start: int = 0, max_chunk_bytes: int = MIB) -> Iterator[RawChunk]:
        for chunk in self.store.iter_raw(start, max_chunk_bytes):
            yield chunk
            del chunk
        if max_chunk_bytes == self.budget // REPLAY_SHARE:
            self.peak = tracemalloc.get_traced_memory()[1]


def _read_peak(log: Path, budget: int) -> tuple[int, str]:
    store = NdjsonStore.open(log, readonly=True, verify=False)
    source = _ReadPeak(store, budget)
    try:
        gc.collect()
        tracemalloc.start()
        try:
            report = replay(source, max_chunk_bytes=budget)
        finally:
            tracemalloc.stop()
    finally:
        store.close()
    assert report.ok and report.applied == 10_000
    assert source.peak > 0
    return source.peak, report.state_hash


@pytest.mark.parametrize(
    ("large", "bound"),
    [
        # chunks of half the budget, about 1.3 MB: a chunk of the whole budget is
        # over, and so is the first chunk alive when the second is read
        pytest.param(5 * MIB // 2, lambda large, small, log: 0.65 * (large - small), id="2.5MiB"),
        # one chunk holds the whole log: the warm-up's re-read must not hold it again
        pytest.param(6 * MIB, lambda large, small, log: 1.2 * log, id="6MiB"),
    ],
)
def test_replay_holds_one_chunk_while_it_reads(log: Path, large: int, bound: Any) -> None:
    """From a 512 KiB budget to a larger one, the read phase's peak grows by one
    chunk's growth (its lines take ~1.1x their bytes), a chunk being half the budget
    (read.REPLAY_SHARE: the budget is the whole replay's), not more: a chunk of the
    whole budget, a stage that kept the chunk it finished while the next is read
    (2.5 MiB), or a re-read at the budget while replay's chunk is in memory (6 MiB:
    1.4x the log), is over."""
    small = MIB // 2
    small_peak, small_hash = _read_peak(log, small)
    large_peak, large_hash = _read_peak(log, large)
    assert small_hash == large_hash
    growth = large_peak - small_peak
    limit = bound(large, small, log.stat().st_size)
    assert growth <= limit, (
        f"the read phase's peak grew by {growth} bytes from a {small}-byte budget to "
        f"{large}: more than {limit:.0f}, one chunk with its lines' overhead"
    )


def _lines_of(chunks: Iterator[RawChunk]) -> list[bytes]:
    return [line for chunk in chunks for line in chunk.lines]


def test_rereads_read_small_chunks_with_every_line(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of at most ``REREAD_BYTES``; a record above it (and within the budget)
    alone in its chunk; the same lines as one read at the budget."""
    monkeypatch.setattr(read_module, "REREAD_BYTES", 700)  # some records are larger
    budget = 4 * MIB
    store = NdjsonStore.open(log, readonly=True, verify=False)
    try:
        expected = _lines_of(store.iter_raw(0, budget))
        reread = rereader(store, budget)
        assert reread is not None
        chunks = list(reread())
        alone = [c for c in chunks if c.nbytes > 700]
        assert alone and all(len(c.lines) == 1 for c in alone)
        assert all(c.nbytes == sum(len(line) + 1 for line in c.lines) for c in chunks)
        assert _lines_of(iter(chunks)) == expected
        assert [c.start for c in chunks] == [
            sum(len(c.lines) for c in chunks[:k]) for k in range(len(chunks))
        ]
    finally:
        store.close()


def test_rereads_end_where_a_read_at_the_budget_ends(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record larger than the budget: the same RecordTooLarge, after the same lines."""
    monkeypatch.setattr(read_module, "REREAD_BYTES", 600)
    budget = 1000  # some records are larger, not the first
    store = NdjsonStore.open(log, readonly=True, verify=False)

    def until_too_large(chunks: Iterator[RawChunk]) -> tuple[list[bytes], Any]:
        lines: list[bytes] = []
        with pytest.raises(RecordTooLarge) as caught:
            for chunk in chunks:
                lines.extend(chunk.lines)
        return lines, (caught.value.position, caught.value.size, caught.value.budget)

    try:
        reread = rereader(store, budget)
        assert reread is not None
        lines, too_large = until_too_large(store.iter_raw(0, budget))
        assert lines and too_large[0] == len(lines)
        assert until_too_large(reread()) == (lines, too_large)
    finally:
        store.close()
