"""Stage 1, read: a log's raw record lines, chunk by chunk, from a start position.

The source is a store (its ``iter_raw(start, max_chunk_bytes)``: chunks
within a byte budget, so memory is bounded by the budget, not the log) or any
iterable of ``RawChunk``. The stage yields ``Lines`` that start exactly at the
next position replay needs: lines of a chunk before the start are handed to
``before_start`` (replay warms the duplicate scan with them) and passed over;
a chunk that starts after the next position needed is a ``ReplayGap``. A
record larger than the budget ends the stream with the store's
``RecordTooLarge``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, Protocol

from schemalog.log.replay.report import ReplayGap
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, RawChunk

__all__ = ["Lines", "RawSource", "read_lines", "rereader"]


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
) -> Iterator[Lines]:
    """Yield the chunks' lines from ``start`` on, in order, without a gap.

    ``before_start(chunk_start, lines)`` sees every chunk, from the first on,
    until it returns False (replay's warm-up of the duplicate scan with the
    records before ``start``, when the source can be read only once).
    """
    iter_raw = getattr(source, "iter_raw", None)
    chunks: Iterable[RawChunk]
    if iter_raw is not None:
        chunks = iter_raw(start=start, max_chunk_bytes=max_chunk_bytes)
    else:
        chunks = source  # type: ignore[assignment]
    it = iter(chunks)
    position = start
    warming = before_start is not None
    try:
        for chunk in it:
            lines = chunk.lines
            if warming:
                assert before_start is not None
                warming = before_start(chunk.start, lines)
            end = chunk.start + len(lines)
            if end <= position:
                continue  # entirely before the start
            if chunk.start > position:
                raise ReplayGap(position, chunk.start)
            yield Lines(position, lines, position - chunk.start, chunk.nbytes)
            position = end
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def rereader(source: object, max_chunk_bytes: int) -> Callable[[], Iterable[RawChunk]] | None:
    """A re-reader of the source's raw chunks from position 0, if it can be read again."""
    iter_raw: Any = getattr(source, "iter_raw", None)
    if iter_raw is not None:
        return lambda: iter_raw(start=0, max_chunk_bytes=max_chunk_bytes)
    if isinstance(source, Iterable) and iter(source) is not source:
        chunks = source
        return lambda: chunks
    return None
