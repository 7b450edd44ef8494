"""Stage 2, decode and verify: record lines to ``Record``s, a window at a time.

Each line goes through ``codec.decode_record`` (framing, canonical form,
checksum, the event's own rules); a line that fails is a ``DecodeFailure``
value, which the apply stage skips or stops on by its policy. Records are
decoded ``WINDOW`` ahead of apply: decoding is pure, and the decode and apply
stages' code and data do not evict each other from the CPU caches on every
record (one loop over both ran about 15 % slower). A window never spans two
chunks, so memory stays within the read stage's budget.

A decoder that raises (a bug, not bad input) ends the stream: the last window
carries the records decoded before it and the exception, so the crash is
reported at the record it belongs to.

With a ``clock`` (a tracer times every record, decode and apply together)
windows hold one record and ``started`` is the clock before its decode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from schemalog.encoding.codec import DecodeFailure, Record, decode_record
from schemalog.log.replay.read import Lines

__all__ = ["WINDOW", "Window", "decode_windows"]

WINDOW = 256


class Window(NamedTuple):
    """``records`` decoded from ``lines[first:]``, the first of them at ``position``."""

    position: int
    lines: list[bytes]
    first: int
    records: list[Record | DecodeFailure]
    crash: Exception | None  # the decoder raised on lines[first + len(records)]
    started: float  # traced: the clock before this window's decode


def decode_windows(
    chunks: Iterable[Lines], clock: Callable[[], float] | None = None
) -> Iterator[Window]:
    size = 1 if clock is not None else WINDOW
    started = 0.0
    for chunk in chunks:
        lines, position, i = chunk.lines, chunk.position, chunk.offset
        n = len(lines)
        while i < n:
            j = min(i + size, n)
            if clock is not None:
                started = clock()
            crash: Exception | None = None
            try:
                # decode_record is looked up at call time: tests inject a crashing one
                records = list(map(decode_record, lines[i:j], range(position, position + j - i)))
            except Exception:
                records = []
                for k in range(i, j):
                    try:
                        records.append(decode_record(lines[k], position + k - i))
                    except Exception as exc:
                        crash = exc
                        break
            yield Window(position, lines, i, records, crash, started)
            if crash is not None:
                return
            position += j - i
            i = j
