"""Stage 1, read: a log's raw record lines, chunk by chunk, from a start position.

The source is a store (its ``iter_raw(start, max_chunk_bytes)``: chunks
within a byte budget, so memory is bounded by the budget, not the log) or any
iterable of ``RawChunk``. The stage yields ``Lines`` that start exactly at the
next position replay needs: lines of a chunk before the start are handed to
``before_start`` (replay warms the duplicate scan with them) and passed over;
a chunk that starts after the next position needed is a ``ReplayGap``. A
record larger than the budget ends the stream with the store's
``RecordTooLarge``.

Memory: one chunk at a time, of half the budget from a store (``REPLAY_SHARE``):
the budget is the whole replay's, and the chunk's lines (a bytes object and a
list slot each, ~10 % over their bytes), the state, a window of proved records
and the scan live beside it (a 1M-event log at 32 MiB: tracemalloc's peak 45.7
MB with chunks of the whole budget, 27.5 MB with half). A record larger than
the chunk, within the budget, is read in a chunk of its own. A stage that
loops ``for chunk in chunks`` still names the chunk it has finished while it
asks for the next one, and so does every stage above it: the read of the next
chunk would run with the previous one alive, twice the chunk. So
``Lines.lines`` is this stage's own list (a copy of the chunk's list of lines,
8 bytes a line; the store's or caller's list is left as it was, and dropped
here), emptied before the next chunk is read: a stage may use a chunk's lines
until it asks for the next one.
The re-reads (``rereader``: the plan's pre-pass, the duplicate scan's warm-up)
only stream lines past a scan, sometimes while replay's own chunk is in memory:
they read a store in chunks of ``REREAD_BYTES``, so they add that much to the
budget, not a second budget. The plan's pre-pass searches the store's raw
blocks instead when it has them (``iter_blocks``, 256 KiB: effective.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, Protocol

from schemalog.log.effective import RawReader
from schemalog.log.replay.report import ReplayGap
from schemalog.log.store.errors import RecordTooLarge
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, RawChunk

__all__ = ["REPLAY_SHARE", "REREAD_BYTES", "Lines", "RawSource", "read_lines", "rereader"]

# The re-reads' chunk size (module doc); a record larger than this, within the
# budget, is read in a chunk of its own.
REREAD_BYTES = 1 << 20
# Replay reads a store in chunks of its budget over this (module doc: memory).
REPLAY_SHARE = 2


class RawSource(Protocol):
    """Anything with a store's ``iter_raw`` (the EventStore port has it)."""

    def iter_raw(
        self, start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> Iterator[RawChunk]: ...


class Lines(NamedTuple):
    """``lines[offset:]`` of one chunk, the first of them at ``position``."""

    position: int
    lines: list[bytes]
    offset: int
    nbytes: int  # the whole chunk's bytes, newlines included


def read_lines(
    source: RawSource | Iterable[RawChunk],
    start: int,
    max_chunk_bytes: int,
    before_start: Callable[[int, list[bytes]], bool] | None = None,
    end: int | None = None,
) -> Iterator[Lines]:
    """Yield the chunks' lines from ``start`` on, in order, without a gap.

    ``before_start(chunk_start, lines)`` sees every chunk, from the first on,
    until it returns False (replay's warm-up of the duplicate scan with the
    records before ``start``, when the source can be read only once). ``end``:
    a store is read up to that position only (``EffectivePlan.end``).
    """
    iter_raw = getattr(source, "iter_raw", None)
    chunks: Iterable[RawChunk]
    if iter_raw is not None:
        share = max_chunk_bytes // REPLAY_SHARE
        chunks = _store_chunks(iter_raw, start, max_chunk_bytes, share, end)
    else:
        chunks = source  # type: ignore[assignment]
    it = iter(chunks)
    position = start
    warming = before_start is not None
    try:
        for chunk in it:
            lines = chunk.lines[:]  # this stage's own list (module doc)
            first, nbytes = chunk.start, chunk.nbytes
            del chunk  # the store's list: not kept while the next chunk is read
            if warming:
                assert before_start is not None
                warming = before_start(first, lines)
            end = first + len(lines)
            if end > position:
                if first > position:
                    raise ReplayGap(position, first)
                yield Lines(position, lines, position - first, nbytes)
                position = end
            lines.clear()  # the stages above may still name it (module doc)
            del lines
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def rereader(
    source: object, max_chunk_bytes: int, end: int | None = None
) -> Callable[[], Iterable[RawChunk]] | None:
    """A re-reader of the source's raw chunks from position 0 (up to ``end``: a store's
    records the plan's pre-pass read), if it can be read again."""
    iter_raw: Any = getattr(source, "iter_raw", None)
    if iter_raw is not None:
        # the store's raw blocks, if it has them, for the plan's search (effective.py);
        # they are of its block size, a larger record in one of its own, as here
        iter_blocks: Any = getattr(source, "iter_blocks", None)
        blocks = (
            None
            if iter_blocks is None or end is not None  # (the plan is made: no more search)
            else lambda: iter_blocks(0, max_chunk_bytes)
        )
        small = min(max_chunk_bytes, REREAD_BYTES)
        return RawReader(lambda: _store_chunks(iter_raw, 0, max_chunk_bytes, small, end), blocks)
    if isinstance(source, Iterable) and iter(source) is not source:
        chunks = source
        return lambda: chunks
    return None


def _store_chunks(
    iter_raw: Any, start: int, budget: int, small: int, end: int | None = None
) -> Iterator[RawChunk]:
    """A store's chunks from ``start`` of at most ``small`` bytes, a larger record in
    one of its own, up to position ``end`` (None: the store's end).

    Ends with ``RecordTooLarge`` only at a record larger than ``budget``, as a
    read at the budget would. (A store fixes the end of a read when it starts:
    after a large record the read starts again, and would see what was appended
    but for ``end``.) A chunk is not named here while the reader has it
    (``box.pop()``): the reader drops the store's list of lines once it has
    copied it (module doc).
    """
    small = max(1, min(small, budget))
    position = start
    box: list[Any] = []
    while end is None or position < end:
        it = iter_raw(start=position, max_chunk_bytes=small)
        try:
            while True:
                box.append(next(it, None))
                if box[0] is None:
                    return
                position = box[0].start + len(box[0].lines)
                if end is not None and position > end:  # appended after ``end`` was read
                    lines = box.pop().lines[: end - position]
                    if lines:
                        yield RawChunk(end - len(lines), lines, sum(map(len, lines)) + len(lines))
                    return
                yield box.pop()
        except RecordTooLarge as exc:
            if small >= budget:
                raise
            if exc.size > budget:  # as a read at the budget names it
                raise RecordTooLarge(exc.position, exc.size, budget) from None
            position, size = exc.position, exc.size
        finally:
            it.close()
        one = iter_raw(start=position, max_chunk_bytes=size)
        try:
            box.append(next(one))  # that record alone: the next line does not fit with it
        except StopIteration:
            return  # the log shrank under the read
        finally:
            one.close()
        position = box[0].start + len(box[0].lines)
        if end is not None and position > end:
            return  # (that record was appended after ``end`` was read)
        yield box.pop()
