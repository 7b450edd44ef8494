"""Shared logic of the line-based adapters (memory and NDJSON files).

Both keep every record as its canonical line (bytes, no newline), so they
behave byte for byte alike. An adapter provides line access and a durable
write; this class does fencing, idempotency, optimistic concurrency, cursors,
paging, heads and the compact id index.

Id index: an ``array('Q')`` of ``crc32(id) << 32 | position`` sorted, 8 bytes
per record (8 MB for a million), plus a dict of the ids appended since it was
built (merged in once it grows). A crc32 match is confirmed by reading the
stored line, so collisions cost one read and never give a wrong answer.
Built lazily on the first append / membership test / ``heads()`` in one pass
over the raw lines, together with the DAG heads.
"""

from __future__ import annotations

import contextlib
import re
import time
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager

from schemalog.encoding.codec import CHECKSUM_PREFIX, DecodeFailure, Record, decode_record
from schemalog.encoding.codec import encode_record as _encode_record
from schemalog.encoding.codec import event_bytes as _event_bytes
from schemalog.errors import ClockDriftError
from schemalog.log.store.errors import (
    AppendConflict,
    BadCursor,
    CorruptLog,
    DuplicateEventId,
    FencedOut,
    MissingParent,
    RecordTooLarge,
    StoreClosed,
)
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, RAW_BLOCK_BYTES, Head, Page, RawChunk
from schemalog.model.clock import DEFAULT_MAX_DRIFT_MS
from schemalog.model.events import Event
from schemalog.model.parts import parse_event_id

__all__ = [
    "MAX_FENCING_TOKEN",
    "IdIndex",
    "LineStore",
    "check_fencing_token",
    "line_checksum",
    "line_event",
    "line_id",
    "line_parents",
]

_SUM_START = len(b'{"checksum":"')
_SUM_END = _SUM_START + len(CHECKSUM_PREFIX) + 64
_RECORD_PREFIX = b'{"checksum":"sha256-v'  # either record format (v1 or v2)
_EVENT_START = _SUM_END + len(b'","event":')
_CURSOR_RE = re.compile(r"c1\.(0|[1-9][0-9]{0,15})\.([0-9a-f]{16})\Z")
_MERGE_AT = 65536


# A fencing token is what a lease grants: an integer in 0..2**63-1 (a BIGINT, the fence
# file's decimal). One outside it is refused before anything is written: stored, it
# would be a fence that no store reads back (the log locked for every writer).
MAX_FENCING_TOKEN = 2**63 - 1


def check_fencing_token(token: object) -> None:
    """ValueError unless ``token`` is None or an int in 0..MAX_FENCING_TOKEN."""
    if token is not None and (type(token) is not int or not 0 <= token <= MAX_FENCING_TOKEN):
        raise ValueError(f"fencing token must be an int in 0..2**63-1, got {token!r}")


# ---------------------------------------------------------------- raw line fields
# Records are canonical, so fields sit at known places. Only the event's own
# trailing fields (id, origin, parents, workspace) follow the change object,
# and none of them can contain the searched-for key text, so rfind is exact.


def line_checksum(line: bytes) -> str:
    if not line.startswith(_RECORD_PREFIX) or len(line) < _SUM_END:
        raise ValueError("line does not start with a checksum")
    return line[_SUM_START:_SUM_END].decode("ascii")


def line_event(line: bytes) -> bytes:
    """The event's canonical bytes in a canonical record line."""
    end = len(line) - (13 if line.endswith(b',"prev":null}') else 11 + len(CHECKSUM_PREFIX) + 64)
    return line[_EVENT_START:end]


def line_id(line: bytes) -> bytes:
    i = line.rfind(b',"id":"')
    if i < 0:
        raise ValueError("no event id in line")
    j = line.index(b'"', i + 7)
    return line[i + 7 : j]


def line_parents(line: bytes) -> list[bytes]:
    i = line.rfind(b',"parents":[')
    if i < 0:
        raise ValueError("no parents in line")
    j = line.index(b"]", i + 12)
    inner = line[i + 12 : j]
    return inner[1:-1].split(b'","') if inner else []


def link_broken(actual: str | None, expected: str | None) -> str:
    return f"hash link broken: prev is {actual}, expected {expected}"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def check_drift(event: Event, now: int, max_drift_ms: int) -> None:
    """ClockDriftError if ``event`` is stamped more than the bound ahead of ``now``.

    Only the writer's own lead counts: an event stamped at its newest parent's
    wall time (the HLC rule after observing a parent that is ahead) is not
    ahead on its own account, so a log that already holds an event from a
    fast clock does not lock out writers whose clocks are right.
    """
    wall = event.hlc.wall_ms
    if wall <= now + max_drift_ms:
        return
    inherited = max(
        (parse_event_id(p, f"parents[{i}]").wall_ms for i, p in enumerate(event.parents)),
        default=0,
    )
    if wall > inherited:
        raise ClockDriftError(event.hlc, now, max_drift_ms)


def make_cursor(position: int, last_checksum: str) -> str:
    return f"c1.{position}.{last_checksum[len(CHECKSUM_PREFIX) : len(CHECKSUM_PREFIX) + 16]}"


class IdIndex:
    """Compact event-id -> candidate positions (see module docstring)."""

    __slots__ = ("keys", "recent")

    def __init__(self, keys: array[int] | None = None) -> None:
        self.keys: array[int] = keys if keys is not None else array("Q")
        self.recent: dict[bytes, int] = {}

    @staticmethod
    def key(event_id: bytes, position: int) -> int:
        return (zlib.crc32(event_id) << 32) | position

    def candidates(self, event_id: bytes) -> list[int]:
        """Positions that may hold ``event_id`` (exact for recent ones)."""
        pos = self.recent.get(event_id)
        if pos is not None:
            return [pos]
        h = zlib.crc32(event_id)
        keys = self.keys
        i = bisect_left(keys, h << 32)
        out = []
        while i < len(keys) and keys[i] >> 32 == h:
            out.append(keys[i] & 0xFFFFFFFF)
            i += 1
        return out

    def add(self, event_id: bytes, position: int) -> None:
        self.recent[event_id] = position
        if len(self.recent) >= _MERGE_AT:
            self.merge()

    def merge(self) -> None:
        extra = [self.key(i, p) for i, p in self.recent.items()]
        self.keys = array("Q", sorted([*self.keys, *extra]))
        self.recent = {}

    def nbytes(self) -> int:
        return self.keys.itemsize * len(self.keys)


class IdScan:
    """One pass over a log's lines in order: the id index keys and the DAG heads.

    ``referenced`` holds parents seen when they were no longer (or not yet)
    heads; ``corrupt(position, reason)`` builds the error for a bad line.
    """

    def __init__(self, corrupt: Callable[[int, str], Exception]) -> None:
        self.keys = array("Q")
        self.heads: set[bytes] = set()
        self.referenced: set[bytes] = set()
        self.pos = 0
        self._corrupt = corrupt

    def feed(self, lines: Iterable[bytes]) -> None:
        keys, heads, referenced, key = self.keys, self.heads, self.referenced, IdIndex.key
        pos = self.pos
        for line in lines:
            try:
                eid = line_id(line)
                parents = line_parents(line)
            except ValueError as exc:
                raise self._corrupt(pos, str(exc)) from None
            keys.append(key(eid, pos))
            if eid not in referenced:
                heads.add(eid)
            for parent in parents:
                if parent in heads:
                    heads.remove(parent)
                else:
                    referenced.add(parent)
            pos += 1
        self.pos = pos

    def index(self) -> IdIndex:
        """The id index of the lines fed (the keys are released)."""
        index = IdIndex(array("Q", sorted(self.keys)))
        self.keys = array("Q")
        return index


class LineStore:
    """Base of the line-based adapters; subclasses provide the primitives below."""

    name: str = "<store>"

    def __init__(
        self,
        fencing_token: int | None = None,
        *,
        now_ms: Callable[[], int] = wall_ms,
        max_drift_ms: int | None = DEFAULT_MAX_DRIFT_MS,
    ) -> None:
        """``now_ms``: the receiver's clock; ``max_drift_ms``: how far ahead of it a new
        event may be stamped (None: not checked)."""
        self._fence = fencing_token
        self.now_ms = now_ms
        self.max_drift_ms = max_drift_ms
        self._ids: IdIndex | None = None
        self._heads: set[bytes] = set()
        self._missing: set[bytes] = set()  # parents named but not stored
        self._indexed = 0  # records seen by the id index
        self._closed = False

    # ------------------------------------------------ primitives (override)

    def _count(self) -> int:
        raise NotImplementedError

    def _lines(self, start: int, stop: int) -> list[bytes]:
        raise NotImplementedError

    def _write(self, lines: list[bytes]) -> None:
        """Durably append lines (no newlines); raise AppendConflict if the log moved."""
        raise NotImplementedError

    def _save_fence(self, token: int) -> None:
        """Persist the newest fencing token (before the write it guards)."""

    def _exclusive(self) -> AbstractContextManager[None]:
        """Hold every other writer off for one append (file adapters: an OS lock)."""
        return contextlib.nullcontext()

    def _load_fence(self) -> None:
        """Re-read the newest token other handles persisted (called under ``_exclusive``)."""

    def _refresh(self) -> None:
        """Pick up records appended by others (file adapters)."""

    def _locate(self, position: int) -> tuple[str, int]:
        """(file, 1-based line number) of a position, for error messages."""
        return self.name, position + 1

    def iter_raw(
        self, start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> Iterator[RawChunk]:
        self._check_open()
        self._refresh()
        stop = self._count()
        pos = max(start, 0)
        while pos < stop:
            lines: list[bytes] = []
            nbytes = 0
            for line in self._lines(pos, min(stop, pos + 4096)):
                size = len(line) + 1
                if size > max_chunk_bytes:
                    if lines:
                        break
                    raise RecordTooLarge(pos, size, max_chunk_bytes)
                if nbytes + size > max_chunk_bytes:
                    break
                lines.append(line)
                nbytes += size
            if lines:
                yield RawChunk(pos, lines, nbytes)
                pos += len(lines)

    def _line_blocks(
        self,
        start: int = 0,
        max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        block_bytes: int = RAW_BLOCK_BYTES,
    ) -> Generator[bytes, None, int]:
        """``iter_blocks`` (port) over ``_lines``: a read's lines joined into one block.

        The adapters whose ``_lines`` is a slice or one query (memory, PostgreSQL)
        offer it as their ``iter_blocks``: a join and a ``max`` of the lengths run in
        C, where ``iter_raw`` looks at every line. A read takes as many lines as
        filled about ``block_bytes`` last time (at most 4,096, as ``iter_raw``).
        """
        self._check_open()
        self._refresh()
        stop = self._count()
        pos = max(start, 0)
        size = max(1, min(block_bytes, max_chunk_bytes))
        step = 64
        while pos < stop:
            lines = self._lines(pos, min(stop, pos + step))  # a new list (the primitives')
            if not lines:
                return pos  # the log shrank under us
            if max(map(len, lines)) >= max_chunk_bytes:
                # a line above the budget, its newline counted: the lines before it first
                i = next(i for i, line in enumerate(lines) if len(line) >= max_chunk_bytes)
                if i:
                    yield b"\n".join(lines[:i]) + b"\n"
                raise RecordTooLarge(pos + i, len(lines[i]) + 1, max_chunk_bytes)
            n = len(lines)
            lines.append(b"")  # the last line's newline
            block = b"\n".join(lines)
            del lines
            pos += n
            step = max(1, min(4096, n * size // len(block)))
            handed = [block]  # handed over: this frame names no block while the reader has it
            del block
            yield handed.pop()
        return pos

    # ------------------------------------------------ the port

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(self.name)

    def _line(self, position: int) -> bytes:
        return self._lines(position, position + 1)[0]

    def _last_checksum(self) -> str | None:
        n = self._count()
        if n == 0:
            return None
        return self._checksum_at(n - 1)

    def _checksum_at(self, position: int) -> str:
        try:
            return line_checksum(self._line(position))
        except ValueError as exc:
            raise self._corrupt(position, str(exc)) from None

    def _corrupt(self, position: int, reason: str) -> CorruptLog:
        path, line_number = self._locate(position)
        return CorruptLog(path, line_number, position, reason)

    def head(self) -> Head:
        self._check_open()
        self._refresh()
        return Head(self._count(), self._last_checksum())

    def __len__(self) -> int:
        self._check_open()
        self._refresh()
        return self._count()

    @property
    def newest_fencing_token(self) -> int | None:
        return self._fence

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> LineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------ ids and heads

    def _ensure_ids(self) -> IdIndex:
        if self._ids is not None:
            self._catch_up_ids()
            return self._ids
        scan = IdScan(self._corrupt)
        for chunk in self.iter_raw(0):
            scan.feed(chunk.lines)
            del chunk  # before the next chunk is read: one chunk in memory, not two
        index = scan.index()
        self._ids = index
        self._indexed = scan.pos
        self._heads = scan.heads
        self._missing = self._unstored(scan.referenced)
        return index

    def _unstored(self, names: set[bytes]) -> set[bytes]:
        """The ids among ``names`` that no stored record has (the id index is built)."""
        return {p for p in names if self._find(p) is None}

    def _catch_up_ids(self) -> None:
        """Index records that others appended since the id index was built."""
        n = self._count()
        if self._indexed < n:
            for i, line in enumerate(self._lines(self._indexed, n), self._indexed):
                self._note(line, i)

    def _note(self, line: bytes, position: int) -> None:
        assert self._ids is not None
        try:
            eid = line_id(line)
            parents = line_parents(line)
        except ValueError as exc:
            raise self._corrupt(position, str(exc)) from None
        self._ids.add(eid, position)
        if eid in self._missing:
            self._missing.discard(eid)
        else:
            self._heads.add(eid)
        for parent in parents:
            if parent in self._heads:
                self._heads.remove(parent)
            elif self._find(parent) is None:
                self._missing.add(parent)
        self._indexed = position + 1

    def _find(self, event_id: bytes) -> int | None:
        assert self._ids is not None
        for pos in self._ids.candidates(event_id):
            if pos < self._count() and line_id(self._line(pos)) == event_id:
                return pos
        return None

    def heads(self) -> tuple[str, ...]:
        self._check_open()
        self._refresh()
        self._ensure_ids()
        return tuple(sorted(h.decode("ascii") for h in self._heads))

    def __contains__(self, event_id: object) -> bool:
        if type(event_id) is not str or not event_id.isascii():
            return False
        self._check_open()
        self._refresh()
        self._ensure_ids()
        return self._find(event_id.encode("ascii")) is not None

    def event_ids(self) -> Iterator[str]:
        """Ids in log order."""
        for chunk in self.iter_raw(0):
            for line in chunk.lines:
                yield line_id(line).decode("ascii")
            del chunk  # before the next chunk is read: one chunk in memory, not two

    # ------------------------------------------------ append

    def append(
        self,
        events: Sequence[Event],
        *,
        expected: str | None,
        fencing_token: int | None = None,
    ) -> Head:
        self._check_open()
        check_fencing_token(fencing_token)
        with self._exclusive():
            return self._append_locked(events, expected, fencing_token)

    def _append_locked(
        self, events: Sequence[Event], expected: str | None, fencing_token: int | None
    ) -> Head:
        """The append under the writers' lock: fence, head, ids and tail as they are now."""
        self._load_fence()
        newest = self._fence
        if fencing_token is None:
            if newest is not None:
                raise FencedOut(None, newest)
        elif newest is not None and fencing_token < newest:
            raise FencedOut(fencing_token, newest)
        self._refresh()
        self._ensure_ids()
        n = self._count()
        prev = self._last_checksum()
        lines: list[bytes] = []
        batch: dict[str, tuple[int, bytes]] = {}
        for event in events:
            if type(event) is not Event:
                raise TypeError(f"append takes Events, got {type(event).__name__}")
            new_position = n + len(lines)
            seen = batch.get(event.id)
            stored = self._find(event.id.encode("ascii")) if seen is None else None
            if seen is not None or stored is not None:
                if seen is not None:
                    where, stored_line = seen
                else:
                    assert stored is not None
                    where, stored_line = stored, self._line(stored)
                # the same event again (same canonical bytes) is a no-op
                if line_event(stored_line) == _event_bytes(event):
                    continue
                raise DuplicateEventId(event.id, where, new_position)
            for parent in event.parents:
                # causal order: a parent is stored or earlier in the batch. A head is a
                # stored id (the usual parent: a set test); others cost one index lookup
                key = parent.encode("ascii")
                if parent not in batch and key not in self._heads and self._find(key) is None:
                    raise MissingParent(event.id, parent, new_position)
            if self.max_drift_ms is not None:
                check_drift(event, self.now_ms(), self.max_drift_ms)
            line = _encode_record(event, prev)
            prev = line_checksum(line)
            batch[event.id] = (new_position, line)
            lines.append(line)
        if not lines:
            self._raise_fence(fencing_token)
            return Head(n, self._last_checksum())
        actual = self._last_checksum()
        if expected != actual:
            raise AppendConflict(expected, actual)
        self._raise_fence(fencing_token)
        self._write(lines)
        for i, line in enumerate(lines, n):
            self._note(line, i)
        return Head(n + len(lines), prev)

    def _raise_fence(self, token: int | None) -> None:
        if token is not None and (self._fence is None or token > self._fence):
            self._save_fence(token)
            self._fence = token

    # ------------------------------------------------ read

    def _cursor_position(self, cursor: str | None, count: int) -> int:
        if cursor is None:
            return 0
        m = _CURSOR_RE.match(cursor) if type(cursor) is str else None
        if m is None:
            raise BadCursor(str(cursor), "not a cursor of this store (c1.<position>.<checksum>)")
        pos = int(m.group(1))
        if pos == 0 or pos > count:
            raise BadCursor(cursor, f"position {pos} is not in this log of {count} records")
        sum_ = self._checksum_at(pos - 1)
        if sum_[len(CHECKSUM_PREFIX) : len(CHECKSUM_PREFIX) + 16] != m.group(2):
            raise BadCursor(
                cursor, f"record {pos - 1} of this log has checksum {sum_}: not this log's cursor"
            )
        return pos

    def read(self, after: str | None = None, limit: int = 1000) -> Page:
        self._check_open()
        if type(limit) is not int or limit < 1:
            raise ValueError(f"limit must be a positive int, got {limit!r}")
        self._refresh()
        n = self._count()
        start = self._cursor_position(after, n)
        stop = min(n, start + limit)
        if start == stop:
            return Page((), after, ())
        prev = self._checksum_at(start - 1) if start > 0 else None
        records: list[Record] = []
        for pos, line in enumerate(self._lines(start, stop), start):
            result = decode_record(line, pos)
            if isinstance(result, DecodeFailure):
                where = f" ({result.field})" if result.field else ""
                raise self._corrupt(pos, f"{result.reason}{where}")
            if result.prev != prev:
                raise self._corrupt(pos, link_broken(result.prev, prev))
            prev = result.checksum
            records.append(result)
        assert prev is not None
        return Page(tuple(records), make_cursor(stop, prev), tuple(range(start, stop)))
