"""NDJSON file adapter: one ``.ndjson`` file, or a directory of segment files.

Layout
  * single file ``log.ndjson`` (what ``schemalog synth`` writes); never rolls over;
  * directory ``log/`` holding ``00000000.ndjson``, ``00000001.ndjson``, ...; a
    new segment starts when the current one holds ``segment_bytes`` or more.
    The hash link runs on across segments.
  Side files: ``<log>.fence`` / ``<dir>/fence`` (newest fencing token, replaced
  atomically), ``<log>.lock`` / ``<dir>/lock`` (the writers' lock) and
  ``<log>.quarantine.ndjson`` / ``<dir>/quarantine.ndjson``.

Open makes one pass over the bytes (1 MiB blocks) and keeps a sparse position
index per segment: the number of complete lines, their end, the start of the
last one, and a mark (line number, start offset) at the first line start at
or after ``MARK_BYTES`` (64 KiB) past the previous mark: 16 bytes per 64 KiB,
about 0.12 bytes per record for records of 500 bytes, whatever the record
count. Line ``i`` is found by seeking to the nearest mark at or below it and
counting newlines forward (one read of at most ``MARK_BYTES``); ``iter_raw``
reads on from there and cuts chunks as lines arrive. Counting, marking and
the framing check (record prefix, closing brace) run per block in C
(``bytes.count``/``find``), not per line; a block that fails the framing
check is walked line by line to name its first bad line. The last complete
record is decoded in full and its hash link checked. Full verification of
every record is ``schemalog.log.store.verify`` (``schemalog verify``), and every
``read`` decodes and link-checks what it returns.

Appends (the writers' lock). Every append holds an exclusive ``flock`` on
``<log>.lock`` / ``<dir>/lock`` from its first read to its fsync: it re-reads
the fence file, picks up the records others appended (incrementally: only
the bytes after what this handle indexed), checks token, duplicates and
expected head against them, raises the fence if its token is newer, writes
the whole lines with ``pwrite`` at the end of the last whole line and
fsyncs. So two processes never interleave or share a ``prev`` (the loser
gets AppendConflict), and a token older than the newest any process wrote is
FencedOut however long ago the handle opened. The kernel drops the lock of a
process that dies. Readers take no lock: they index whole lines only.

In Pyodide there is no such lock (``process_safe`` is False): Emscripten's
flock answers 0 and excludes nothing (``side_files.CROSS_PROCESS_LOCK``), on
MEMFS and on a NODEFS folder shared with other processes alike. A log there
belongs to one process (one Pyodide instance): its handles' appends never
interleave or share a ``prev`` (each runs to its end before the next starts,
and re-reads the file and the fence first), but a second process writing the
same file is not excluded. Share a log between processes through ``schemalog
serve`` or, in the browser, the IndexedDB store.

Failures leave the log as it was: an OS error from the write or the fsync
(ENOSPC, EIO) cuts the file back to the last good offset and raises
StoreWriteFailed naming the file, position, offset and the error; the
handle's index is untouched, so it appends again once the cause is gone. If
cutting back fails too, the torn bytes are quarantined by the next append
(under the lock, bytes after the last whole line can only be a dead or failed
writer's) or the next open. An fsync error is never swallowed (only "this
file system cannot fsync", EINVAL/ENOTSUP). The seam for fault tests is
``store.ops`` (``FileOps``).

A log removed, replaced or truncated under an open handle is StoreMissing /
StoreTruncated at its next operation, never an empty log. The fence file is
read strictly (``_load_fence``); anything but one decimal token in a small
regular file is FenceFileCorrupt naming it.

Crash recovery: a crash can leave a torn last line (no trailing newline).
Open takes the writers' lock (a tail may be a live writer's record in
progress), indexes what was completed meanwhile, and moves what remains to the
quarantine file (a JSON line with the bytes in base64, its file, offset,
position and reason; flushed and fsynced first); only then it truncates the
log to the last newline; ``store.recovered`` reports it. A bad line that ends
with a newline is not a torn write: open raises CorruptLog naming file, line
and reason, and never truncates. ``verify=False`` skips the framing and tail
checks (for tools that report, and replay with a skip policy);
``readonly=True`` never writes: a torn tail is left in place, hidden
from reads, and reported with ``quarantine=None``.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import re
import stat
from array import array
from bisect import bisect_right
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from schemalog.encoding.codec import DEFAULT_MAX_EVENT_BYTES, DecodeFailure, decode_record
from schemalog.log.side_files import (
    CROSS_PROCESS_LOCK,
    SideFileUnreadable,
    locked,
    open_lock,
    read_side_file,
    replace_side_file,
)
from schemalog.log.store.base import LineStore, line_id, link_broken
from schemalog.log.store.errors import (
    CorruptLog,
    FenceFileCorrupt,
    NotALog,
    RecordTooLarge,
    StoreError,
    StoreMissing,
    StoreReadOnly,
    StoreTruncated,
    StoreWriteFailed,
)
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, RAW_BLOCK_BYTES, RawChunk, Recovered

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "FileOps",
    "NdjsonStore",
    "lock_path",
    "segment_paths",
    "side_paths",
]

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
# Opening scans the file for line starts in blocks of this size: small, so that
# opening a log costs little memory next to a replay's chunk budget.
BLOCK_BYTES = 1024 * 1024
# Byte distance between position-index marks. A lookup reads at most this much
# before the line it wants; the index costs 16 bytes per this many log bytes.
MARK_BYTES = 64 * 1024
SEGMENT_RE = re.compile(r"[0-9]{8}\.ndjson\Z")
_PREFIX = b'{"checksum":"sha256-v'  # record format v1 or v2
_FRAMED_NL = b"}\n" + _PREFIX  # a newline between two framed lines
# A fence file holds one decimal token below 2**63 and a newline.
_FENCE_RE = re.compile(rb"(0|[1-9][0-9]{0,18})\n?\Z")
_FENCE_LIMIT = 64


@dataclass(slots=True)
class _Segment:
    """One file and its sparse position index (see the module docstring)."""

    path: str
    first: int  # position of its first record
    count: int = 0  # complete lines
    end: int = 0  # byte offset after the last complete line
    last: int = 0  # start offset of the last complete line (0 when empty)
    # marks: line ``mark_lines[k]`` starts at byte ``mark_offsets[k]``; the first
    # mark is line 0 at byte 0, the next ones at the first line start at or
    # after ``MARK_BYTES`` past the previous one
    mark_lines: array[int] = field(default_factory=lambda: array("q", [0]))
    mark_offsets: array[int] = field(default_factory=lambda: array("q", [0]))
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) when indexed

    def add_lines(self, sizes: list[int]) -> None:
        """Index lines of these sizes (newline included) written at the end."""
        end, count, last = self.end, self.count, self.last
        next_mark = self.mark_offsets[-1] + MARK_BYTES
        for size in sizes:
            if end >= next_mark:
                self.mark_lines.append(count)
                self.mark_offsets.append(end)
                next_mark = end + MARK_BYTES
            last = end
            end += size
            count += 1
        self.end, self.count, self.last = end, count, last

    def nbytes(self) -> int:
        return (len(self.mark_lines) + len(self.mark_offsets)) * 8


# No record line is longer than this (an event of at most DEFAULT_MAX_EVENT_BYTES and
# its envelope: two checksums and the keys, under 200 bytes). A longer line, or a tail
# longer than this, is no record and no torn one: the scan skips it without holding
# it (a disk image or a binary file has no newline for gigabytes).
MAX_LINE_BYTES = DEFAULT_MAX_EVENT_BYTES + 1024


@dataclass(slots=True)
class _Scan:
    tail: bytes = b""  # bytes after the last newline (the first MAX_LINE_BYTES + 1)
    tail_size: int = 0  # their number
    bad_line: int = -1  # index in the segment of the first badly framed line
    bad_reason: str = ""


# What a segment directory may hold besides its segments (side files).
_SIDE_NAMES = frozenset(("fence", "quarantine.ndjson", "lock", "lease"))


def segment_paths(path: str) -> list[str]:
    """The segment files of a log, in order (one file for a single-file log).

    Every reader opens a log through here, so all refuse alike what is no log:
    a FIFO or device (reading one could block forever) and a folder that holds
    no segments but other files (``/etc`` is not an empty log). An empty folder
    is an empty log (``NdjsonStore.open(create=True)`` makes one).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise StoreMissing(path) from None
    if stat.S_ISDIR(mode):
        entries = os.listdir(path)
        names = sorted(n for n in entries if SEGMENT_RE.match(n))
        if not names:
            other = sorted(n for n in entries if n not in _SIDE_NAMES and not n.endswith(".tmp"))
            if other:
                raise NotALog(
                    path,
                    f"a folder without log segments (00000000.ndjson ...); it holds {other[0]}",
                )
        for i, name in enumerate(names):
            if name != f"{i:08d}.ndjson":
                raise CorruptLog(os.path.join(path, name), 0, -1, f"segment {i:08d} is missing")
        for seg in names:
            if not stat.S_ISREG(os.stat(os.path.join(path, seg)).st_mode):
                raise NotALog(os.path.join(path, seg), "a segment that is not a regular file")
        return [os.path.join(path, n) for n in names]
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device or special file"
        raise NotALog(path, f"{kind}, not a regular file")
    return [path]


def side_paths(path: str) -> tuple[str, str]:
    """(fence file, quarantine file) of the log at ``path``."""
    if os.path.isdir(path):
        return os.path.join(path, "fence"), os.path.join(path, "quarantine.ndjson")
    stem = path[: -len(".ndjson")] if path.endswith(".ndjson") else path
    return stem + ".fence", stem + ".quarantine.ndjson"


def lock_path(path: str) -> str:
    """The lock target of the log at ``path`` (held by every append)."""
    if os.path.isdir(path):
        return os.path.join(path, "lock")
    stem = path[: -len(".ndjson")] if path.endswith(".ndjson") else path
    return stem + ".lock"


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class FileOps:
    """The system calls an append makes to a segment; tests swap in one that fails.

    (ENOSPC, EIO and fsync errors are hard to cause for real; the store's answer
    to them is what is tested, through this seam.)
    """

    def open(self, path: str) -> int:
        return os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))

    def write(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        return os.pwrite(fd, data, offset)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def close(self, fd: int) -> None:
        os.close(fd)


def _scan(f: BinaryIO, seg: _Segment, check: bool) -> _Scan:
    """Index the complete lines from ``seg.end`` on; return the tail and first bad line.

    Per block: ``count`` of its newlines (each byte once, split at the marks),
    one ``find`` per mark, one ``count`` for the framing check; no Python loop
    over lines. A block is read from the start of its first line on (a seek
    back over the previous block's unfinished line, not a concatenation).
    """
    result = _Scan()
    base = seg.end  # file offset of buf[0], always a line start
    line = seg.count  # line number of buf[0]
    last = seg.last
    mark_lines, mark_offsets = seg.mark_lines, seg.mark_offsets
    next_mark = mark_offsets[-1] + MARK_BYTES
    f.seek(base)
    while True:
        buf = f.read(BLOCK_BYTES)
        if not buf:
            break
        nl = buf.rfind(b"\n")
        if nl < 0:  # a line longer than a block: read on while it can be a record
            parts = [buf]
            total = len(buf)
            while total <= MAX_LINE_BYTES:
                more = f.read(BLOCK_BYTES)
                if not more:
                    break
                k = more.rfind(b"\n")
                parts.append(more)
                if k >= 0:
                    nl = total + k
                    total += len(more)
                    break
                total += len(more)
            if len(parts) > 1:
                buf = b"".join(parts)
            del parts
        if nl < 0 and len(buf) > MAX_LINE_BYTES:
            # a line longer than any record: find its end without holding it
            size = _skip_line(f, len(buf))
            if size < 0:  # no newline: it is the tail
                result.tail, result.tail_size = buf[: MAX_LINE_BYTES + 1], -size
                break
            if check:
                result.bad_line = line
                result.bad_reason = f"a line of {size:,} bytes: longer than any record"
                return result
            if base >= next_mark:
                mark_lines.append(line)
                mark_offsets.append(base)
                next_mark = base + MARK_BYTES
            last, line, base = base, line + 1, base + size
            f.seek(base)
            continue
        if nl < 0:
            result.tail, result.tail_size = buf, len(buf)
            break
        stop = nl + 1  # buf[:stop] holds whole lines
        cur, cur_line = 0, line  # a line start in buf and its number
        while True:
            rel = next_mark - base
            if rel > cur:
                # the first line start at or after rel that begins a whole line
                j = buf.find(b"\n", rel - 1, nl)
                if j < 0:
                    break
                cur_line += buf.count(b"\n", cur, j + 1)
                cur = j + 1
            mark_lines.append(cur_line)
            mark_offsets.append(base + cur)
            next_mark = base + cur + MARK_BYTES
        n = cur_line - line + buf.count(b"\n", cur, stop)
        if check and not (
            # every line starts with the prefix and ends with a brace
            buf.startswith(_PREFIX)
            and buf[nl - 1] == 0x7D
            and buf.count(_FRAMED_NL, 0, stop) == n - 1
        ):
            i, result.bad_reason = _first_bad(buf, stop)
            result.bad_line = line + i
            return result
        last = base + buf.rfind(b"\n", 0, nl) + 1
        line += n
        base += stop
        if stop < len(buf):
            f.seek(base)
        del buf
    seg.end, seg.count, seg.last = base, line, last
    return result


def _torn_record(tail: bytes, size: int) -> bool:
    """Whether the ``size`` bytes after a log's last newline (``tail``: their head) can be
    a record an append did not finish: a record line's beginning, or zeros (file space
    a crash left unwritten), and no longer than a record line."""
    if size > MAX_LINE_BYTES:
        return False
    head = tail[: len(_PREFIX)]
    return _PREFIX.startswith(head) or not tail.strip(b"\0")


def _refuse_untorn(seg: _Segment, tail: bytes, size: int) -> None:
    """CorruptLog unless the tail of ``seg`` can be a torn record (``_torn_record``)."""
    if not _torn_record(tail, size):
        shown = tail[:24].decode("ascii", "backslashreplace")
        raise CorruptLog(
            seg.path,
            seg.count + 1,
            seg.first + seg.count,
            f"the {size:,} bytes after the last newline ({shown!r}...) are no torn "
            "record: not the start of a record line, or longer than any; left in place",
        )


def _skip_line(f: BinaryIO, have: int) -> int:
    """Read on to the end of a line whose first ``have`` bytes were read: its size with
    the newline, or minus the bytes up to the end of the file when it has none."""
    size = have
    while True:
        piece = f.read(BLOCK_BYTES)
        if not piece:
            return -size
        k = piece.find(b"\n")
        if k >= 0:
            return size + k + 1
        size += len(piece)


def _first_bad(buf: bytes, stop: int) -> tuple[int, str]:
    """(index, reason) of the first badly framed line in ``buf[:stop]`` (whole lines)."""
    start = i = 0
    while start < stop:
        j = buf.index(b"\n", start)
        if not buf.startswith(_PREFIX, start) or j == start or buf[j - 1] != 0x7D:
            return i, "empty line" if j == start else "not a record (bad framing or not canonical)"
        start = j + 1
        i += 1
    raise AssertionError("the block check failed but every line is framed")


_NO_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def _fsync_fd(ops: FileOps, fd: int) -> None:
    """fsync; a file system that cannot (EINVAL/ENOTSUP) is taken as is, any other error raises."""
    try:
        ops.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_FSYNC:
            raise


def _fsync(f: BinaryIO) -> None:
    f.flush()
    _fsync_fd(FileOps(), f.fileno())


class NdjsonStore(LineStore):
    """An event log in NDJSON files; see the module docstring."""

    def __init__(
        self,
        path: str,
        directory: bool,
        segment_bytes: int,
        readonly: bool,
        durable: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.durable = durable
        self.ops = FileOps()  # the system calls of an append (a seam for fault tests)
        self.lock_path = lock_path(path)
        self._lock_fd: int | None = None
        self.path = path
        self.name = path
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.readonly = readonly
        self.fence_path, self.quarantine_path = side_paths(path)
        self.recovered: Recovered | None = None
        self._segments: list[_Segment] = []
        self._firsts: list[int] = []
        self._handles: dict[str, BinaryIO] = {}
        self._hidden_tail = 0  # bytes of a torn tail left in place (read-only)

    # ------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        verify: bool = True,
        readonly: bool = False,
        durable: bool = True,
        **options: Any,
    ) -> NdjsonStore:
        """Open (or with ``create`` make) a log; ``durable=False`` skips fsync (tests).

        ``options``: the receiver's clock for the drift check (``now_ms``,
        ``max_drift_ms``: ``LineStore``)."""
        path = os.fspath(path)
        if not os.path.exists(path):
            if not create or readonly:
                raise StoreMissing(path)
            if os.path.islink(path):  # never made through a link that points nowhere
                raise NotALog(path, f"a symbolic link to {os.readlink(path)}, which is not there")
            # another writer may make it between the test and here: then it is there
            with contextlib.suppress(FileExistsError):
                if path.endswith(".ndjson"):
                    with open(path, "xb"):
                        pass
                else:
                    os.mkdir(path)  # never its parent folders: a missing folder is an error
        store = cls(path, os.path.isdir(path), segment_bytes, readonly, durable, **options)
        store._load_fence()
        store._index(verify)
        return store

    def _load_fence(self) -> None:
        """Read the newest fencing token (at open, and under the lock at every append).

        Strict: one decimal token and a newline, in a regular file of a few
        bytes; anything else is FenceFileCorrupt, never a token. A token never
        goes back: one lower than this handle saw is corrupt too.
        """
        try:
            data = read_side_file(self.fence_path, _FENCE_LIMIT)
        except SideFileUnreadable as exc:
            raise FenceFileCorrupt(self.fence_path, str(exc)) from None
        if data is None:
            if self._fence is not None:
                raise FenceFileCorrupt(
                    self.fence_path, f"removed (this store saw token {self._fence})"
                )
            return
        if not _FENCE_RE.match(data) or int(data) >= 2**63:
            shown = data[:24].decode("ascii", "backslashreplace")
            raise FenceFileCorrupt(
                self.fence_path, f"{shown!r} is not a fencing token (decimal digits, < 2**63)"
            )
        token = int(data)
        if self._fence is not None and token < self._fence:
            raise FenceFileCorrupt(
                self.fence_path, f"token {token} is below {self._fence}, which this store saw"
            )
        self._fence = token

    def _index(self, verify: bool) -> None:
        paths = segment_paths(self.path)
        first = 0
        for i, seg_path in enumerate(paths):
            seg = _Segment(seg_path, first)
            with open(seg_path, "rb") as f:
                seg.identity = _identity(os.fstat(f.fileno()))
                scan = _scan(f, seg, verify)
            if scan.bad_line >= 0:
                line = scan.bad_line
                raise CorruptLog(seg_path, line + 1, first + line, scan.bad_reason)
            self._add_segment(seg)
            if scan.tail:
                if i != len(paths) - 1:
                    raise CorruptLog(
                        seg_path,
                        seg.count + 1,
                        first + seg.count,
                        "segment ends without a newline but is not the last segment",
                    )
                if self.readonly:
                    self._recover(seg, scan.tail, scan.tail_size)  # hidden, nothing written
                else:
                    _refuse_untorn(seg, scan.tail, scan.tail_size)  # (no lock file made)
                    self._recover_locked()
            first += seg.count
        if verify and self._count() > 0:
            self._check_last()

    def _recover_locked(self) -> None:
        """A tail seen at open may be a live writer's record in progress (a record can
        take several writes): only under the writers' lock, once what was completed
        meanwhile is indexed, is what remains a dead writer's torn tail. (Cutting it
        without the lock lost an acknowledged record: the live writer's second half
        landed past the cut, and the next record overwrote it.)"""
        with self._exclusive():
            self._refresh()
            self._cut_torn_tail(self._segments[-1])

    def _add_segment(self, seg: _Segment) -> None:
        self._segments.append(seg)
        self._firsts.append(seg.first)

    def _check_last(self) -> None:
        n = self._count()
        pos = n - 1
        result = decode_record(self._line(pos), pos)
        if isinstance(result, DecodeFailure):
            where = f" ({result.field})" if result.field else ""
            raise self._corrupt(pos, f"{result.reason}{where}")
        prev = self._checksum_at(pos - 1) if pos > 0 else None
        if result.prev != prev:
            raise self._corrupt(pos, link_broken(result.prev, prev))

    def _recover(self, seg: _Segment, tail: bytes, size: int) -> None:
        """Quarantine a torn tail (the ``size`` bytes after ``seg.end``, ``tail`` their
        first MAX_LINE_BYTES + 1 at most), then cut it off.

        Only what can be a torn record is cut: the head of a record line (or zeros a
        crash left), no longer than one. Anything else is no crash of ours (a file that
        is no log, bytes someone appended): CorruptLog, and nothing is moved or cut.
        """
        position = seg.first + seg.count
        if not self.readonly:
            _refuse_untorn(seg, tail, size)
        decoded = decode_record(tail, position)
        reason = f"torn last line: {size} bytes without a trailing newline"
        if isinstance(decoded, DecodeFailure):
            reason += f" ({decoded.reason})"
        else:
            reason += " (a complete record whose newline was lost)"
        if self.readonly:
            self._hidden_tail = size
            self.recovered = Recovered(position, seg.path, seg.end, size, reason, None)
            return
        entry = {
            "bytes_b64": base64.b64encode(tail).decode("ascii"),
            "nbytes": len(tail),
            "offset": seg.end,
            "path": seg.path,
            "position": position,
            "reason": reason,
        }
        try:
            with open(self.quarantine_path, "ab") as q:
                q.write(json.dumps(entry, sort_keys=True).encode("utf-8") + b"\n")
                _fsync(q)
            fd = self.ops.open(seg.path)
            try:
                self.ops.truncate(fd, seg.end)
                _fsync_fd(self.ops, fd)
            finally:
                self.ops.close(fd)
        except OSError as exc:
            raise StoreWriteFailed(seg.path, position, seg.end, exc, False) from exc
        self.recovered = Recovered(
            position, seg.path, seg.end, len(tail), reason, self.quarantine_path
        )

    # ------------------------------------------------ primitives

    def _count(self) -> int:
        if not self._segments:
            return 0
        last = self._segments[-1]
        return last.first + last.count

    def _handle(self, path: str) -> BinaryIO:
        f = self._handles.get(path)
        if f is None:
            f = open(path, "rb")  # noqa: SIM115 - cached until close()
            self._handles[path] = f
        return f

    def _segment_index(self, position: int) -> int:
        return bisect_right(self._firsts, position) - 1

    def _lines(self, start: int, stop: int) -> list[bytes]:
        out: list[bytes] = []
        pos = start
        while pos < stop:
            seg = self._segments[self._segment_index(pos)]
            a = pos - seg.first
            b = min(stop - seg.first, seg.count)
            f = self._handle(seg.path)
            offset = _line_start(f, seg, a)
            f.seek(offset)
            if b == seg.count:
                out.extend(_read_lines(f, seg.end - offset))
            else:
                _read_count(f, b - a, seg.end - offset, out)
            pos = seg.first + b
        return out

    def _locate(self, position: int) -> tuple[str, int]:
        if not self._segments or position < 0:
            return self.path, 0
        seg = self._segments[self._segment_index(position)]
        return seg.path, position - seg.first + 1

    def _refresh(self) -> None:
        """Index what others appended; StoreMissing/StoreTruncated if the log went away."""
        if not self._segments:
            if self.directory:
                if not os.path.isdir(self.path):
                    raise StoreMissing(self.path, "removed under an open store")
                self._pick_up_segments()
            return
        seg = self._segments[-1]
        try:
            st = os.stat(seg.path)
        except FileNotFoundError:
            raise StoreMissing(seg.path, "removed under an open store") from None
        if seg.identity is not None and _identity(st) != seg.identity:
            raise StoreMissing(seg.path, "replaced by another file under an open store")
        if st.st_size < seg.end + self._hidden_tail:
            raise StoreTruncated(seg.path, seg.end + self._hidden_tail, st.st_size)
        if self._hidden_tail:
            return  # read-only over a torn tail: what follows it is not ours to read
        if st.st_size > seg.end:
            f = self._handle(seg.path)
            _scan(f, seg, False)  # a partial line of a writer in progress is left
        if self.directory:
            self._pick_up_segments()

    def _pick_up_segments(self) -> None:
        while True:
            nxt = os.path.join(self.path, f"{len(self._segments):08d}.ndjson")
            if not os.path.exists(nxt):
                return
            seg = _Segment(nxt, self._count())
            with open(nxt, "rb") as f:
                seg.identity = _identity(os.fstat(f.fileno()))
                _scan(f, seg, False)
            self._add_segment(seg)

    # ------------------------------------------------ the writers' lock and the write

    @property
    def process_safe(self) -> bool:
        """Whether appends exclude other processes (False in Pyodide: module docstring)."""
        return CROSS_PROCESS_LOCK

    def _exclusive(self) -> AbstractContextManager[None]:
        """An exclusive ``flock`` on the lock file for the whole append (port docstring)."""
        if self.readonly:
            raise StoreReadOnly(self.path)
        if self._lock_fd is None:
            try:
                self._lock_fd = open_lock(self.lock_path)
            except SideFileUnreadable as exc:
                raise StoreError(f"lock file {self.lock_path} {exc}") from None
        return locked(self._lock_fd)

    def _cut_torn_tail(self, seg: _Segment) -> None:
        """Under the lock: bytes after the last whole line are a dead writer's; quarantine them."""
        size = os.stat(seg.path).st_size
        if size <= seg.end:
            return
        f = self._handle(seg.path)
        f.seek(seg.end)
        tail = f.read(min(size - seg.end, MAX_LINE_BYTES + 1))
        self._recover(seg, tail, size - seg.end)

    def _write(self, lines: list[bytes]) -> None:
        """Write whole lines at the end, fsync; on any OS error cut back and raise.

        Runs under the lock, after ``_refresh``: the file holds ``seg.end``
        bytes of whole lines, plus possibly the torn tail of a writer that died
        (quarantined first). Nothing of this handle's index moves until the
        bytes are durable, so after a failure the handle goes on as before.
        """
        if self.readonly:
            raise StoreReadOnly(self.path)
        position = self._count()
        if self._segments:
            self._cut_torn_tail(self._segments[-1])
        try:
            if self.directory:
                last = self._segments[-1] if self._segments else None
                if last is None or (last.count > 0 and last.end >= self.segment_bytes):
                    seg_path = os.path.join(self.path, f"{len(self._segments):08d}.ndjson")
                    with open(seg_path, "xb") as f:
                        seg = _Segment(seg_path, self._count())
                        seg.identity = _identity(os.fstat(f.fileno()))
                    self._add_segment(seg)
            elif not self._segments:
                seg = _Segment(self.path, 0)
                seg.identity = _identity(os.stat(self.path))
                self._add_segment(seg)
        except FileNotFoundError:
            raise StoreMissing(self.path, "removed under an open store") from None
        except OSError as exc:
            raise StoreWriteFailed(self.path, position, 0, exc, True) from exc
        seg = self._segments[-1]
        data = b"\n".join(lines) + b"\n"
        ops = self.ops
        try:
            fd = ops.open(seg.path)
        except FileNotFoundError:
            raise StoreMissing(seg.path, "removed under an open store") from None
        except OSError as exc:
            raise StoreWriteFailed(seg.path, position, seg.end, exc, True) from exc
        try:
            try:
                view = memoryview(data)
                offset = seg.end
                while view:
                    n = ops.write(fd, view, offset)
                    if n <= 0:
                        raise OSError(errno.EIO, "write wrote nothing")
                    view, offset = view[n:], offset + n
                if self.durable:
                    _fsync_fd(ops, fd)
            except OSError as exc:
                raise StoreWriteFailed(
                    seg.path, position, seg.end, exc, self._cut_back(fd, seg.end)
                ) from exc
        finally:
            ops.close(fd)
        seg.add_lines([len(line) + 1 for line in lines])

    def _cut_back(self, fd: int, size: int) -> bool:
        """Truncate to the last good offset after a failed write; False if that failed too."""
        try:
            self.ops.truncate(fd, size)
            if self.durable:
                _fsync_fd(self.ops, fd)
        except OSError:
            return False
        return True

    def _save_fence(self, token: int) -> None:
        if self.readonly:
            raise StoreReadOnly(self.path)
        try:
            replace_side_file(self.fence_path, b"%d\n" % token, self.durable)
        except OSError as exc:
            raise StoreWriteFailed(self.fence_path, self._count(), 0, exc, True) from exc

    # ------------------------------------------------ raw reads (streaming replay)

    def iter_raw(
        self, start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> Iterator[RawChunk]:
        """Raw lines in chunks of at most ``max_chunk_bytes``, no decoding (``_raw_chunks``)."""
        for f, _, pos, offset, end in self._spans(start):
            yield from _raw_chunks(f, pos, offset, end, max_chunk_bytes)

    def iter_blocks(
        self,
        start: int = 0,
        max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        block_bytes: int = RAW_BLOCK_BYTES,
    ) -> Generator[bytearray, None, int]:
        """The lines of ``iter_raw`` as raw blocks of whole lines (port; ``_raw_blocks``);
        returns the position after the last line."""
        spans = self._spans(start)
        while True:
            try:
                f, seg, _, offset, end = next(spans)
            except StopIteration as done:
                return int(done.value)
            yield from _raw_blocks(f, seg, offset, end, max_chunk_bytes, block_bytes)

    def _spans(self, start: int) -> Generator[tuple[BinaryIO, _Segment, int, int, int], None, int]:
        """``(handle, segment, position, offset, end)``: the stored lines from ``start`` on,
        one span of bytes per segment, as the store is when the read starts (the raw reads');
        returns the position after the last line.

        Records appended while the caller iterates are not visited, a torn tail never is.
        """
        self._check_open()
        self._refresh()
        stop = self._count()
        pos = max(start, 0)
        if pos >= stop:
            return pos
        tip, tip_end = self._segments[-1], self._segments[-1].end
        while pos < stop:
            seg = self._segments[self._segment_index(pos)]
            last = min(stop - seg.first, seg.count)
            end = tip_end if seg is tip else seg.end
            f = self._handle(seg.path)
            yield f, seg, pos, _line_start(f, seg, pos - seg.first), end
            pos = seg.first + last
        return pos

    def _unstored(self, names: set[bytes]) -> set[bytes]:
        """``LineStore._unstored`` in one pass when a read per name would cost more.

        Building the id index confirms every parent named more than once (a
        fork has 2 children) by reading a candidate line: a random read here
        is a seek to a mark and up to ``MARK_BYTES``, so many of them read the
        log several times over; one sorted pass reads it once.
        """
        ids = self._ids
        assert ids is not None
        positions = sorted({pos for name in names for pos in ids.candidates(name)})
        if not positions or len(positions) * MARK_BYTES < sum(s.end for s in self._segments):
            return super()._unstored(names)
        # a stored name is at one of its candidates; a missing one is no stored id
        found: set[bytes] = set()
        k = 0
        for chunk in self.iter_raw(positions[0]):
            stop = chunk.start + len(chunk.lines)
            while k < len(positions) and positions[k] < stop:
                found.add(line_id(chunk.lines[positions[k] - chunk.start]))
                k += 1
            del chunk  # before the next chunk is read: one chunk in memory, not two
            if k == len(positions):
                break
        return names - found

    # ------------------------------------------------ misc

    def segments(self) -> list[tuple[str, int, int]]:
        """(path, first position, record count) of each segment."""
        return [(s.path, s.first, s.count) for s in self._segments]

    def index_bytes(self) -> int:
        """Memory held by the position and id indexes."""
        n = sum(s.nbytes() for s in self._segments)
        return n + (self._ids.nbytes() if self._ids is not None else 0)

    def close(self) -> None:
        for f in self._handles.values():
            f.close()
        self._handles.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        super().close()


# A chunk is read in pieces of this size and split as it comes, so reading one
# never holds the chunk twice (its bytes and its lines): peak = the lines + a
# piece and its lines. Small next to a budget; a read and a split per piece cost
# nothing next to the lines' decoding.
_READ_PIECE = 256 * 1024
# A read of a few lines starts with pieces this small (a page, one checksum).
_SMALL_PIECE = 16 * 1024


def _line_start(f: BinaryIO, seg: _Segment, i: int) -> int:
    """Byte offset of line ``i`` (``0 <= i <= seg.count``) of ``seg``: from the mark below it."""
    if i >= seg.count:
        return seg.end
    if i == seg.count - 1:
        return seg.last
    k = bisect_right(seg.mark_lines, i) - 1
    offset = seg.mark_offsets[k]
    skip = i - seg.mark_lines[k]
    f.seek(offset)
    while skip:
        # the next mark is at most MARK_BYTES + a line away: usually one read
        piece = f.read(min(MARK_BYTES, seg.end - offset))
        if not piece:
            raise CorruptLog(seg.path, i + 1, seg.first + i, "the file shrank under the store")
        n = piece.count(b"\n")
        if n < skip:
            skip -= n
            offset += len(piece)
            continue
        j = -1
        find = piece.find
        for _ in range(skip):
            j = find(b"\n", j + 1)
        return offset + j + 1
    return offset


def _read_count(f: BinaryIO, n: int, limit: int, out: list[bytes]) -> None:
    """Append the ``n`` lines at ``f``'s position to ``out``, reading at most ``limit`` bytes."""
    rest = b""
    size = _SMALL_PIECE
    while n > 0 and limit > 0:
        piece = f.read(min(size, limit))
        if not piece:
            break  # the file shrank under us
        limit -= len(piece)
        size = min(size * 2, _READ_PIECE)
        parts = (rest + piece if rest else piece).split(b"\n")
        del piece
        rest = parts.pop()
        if len(parts) > n:
            del parts[n:]
        out.extend(parts)
        n -= len(parts)


def _raw_chunks(f: BinaryIO, pos: int, offset: int, end: int, budget: int) -> Iterator[RawChunk]:
    """The whole lines in ``[offset, end)`` of ``f`` (line ``pos`` at ``offset``) in chunks.

    Greedy, as a bisect over every line start would cut them: a chunk takes
    lines while they fit in ``budget``. It never reads past its budget: what
    it read is its lines plus the head of the next line (``rest``), which
    opens the next chunk, so a chunk is held once plus one piece.
    """
    left = end - offset
    rest = b""
    while left > 0:
        # ``f`` is the store's shared handle: the caller may read between chunks
        f.seek(end - left)
        lines: list[bytes] = []
        nbytes = 0
        while left > 0:
            free = budget - nbytes - len(rest)
            if free <= 0:
                break  # the next line does not fit
            piece = f.read(min(free, left, _READ_PIECE))
            if not piece:
                left = 0  # the file shrank under us: hand out what was read
                break
            left -= len(piece)
            size = len(rest) + len(piece)
            parts = piece.split(b"\n")
            del piece
            if rest:  # the line that ``rest`` began (no copy of the whole piece)
                parts[0] = rest + parts[0]
            rest = parts.pop()
            nbytes += size - len(rest)
            if lines:
                lines.extend(parts)
            else:
                lines = parts
            del parts
        if not lines:
            if left <= 0:
                return  # bytes without a newline at the end: the file changed under us
            raise RecordTooLarge(pos, _line_size(f, rest, left), budget)
        # Handed over: while the reader has the chunk this frame names none of it,
        # so a reader that drops it (read_lines keeps a copy of the list) frees it
        # then, and nothing of it is alive when the next chunk is read.
        handed = [RawChunk(pos, lines, nbytes)]
        pos += len(lines)
        del lines
        yield handed.pop()


def _raw_blocks(
    f: BinaryIO, seg: _Segment, offset: int, end: int, budget: int, block: int
) -> Iterator[bytearray]:
    """The whole lines in ``[offset, end)`` of ``f`` as blocks of about ``block`` bytes.

    Each block is read into its own buffer after the head of the line the
    previous block could not hold (``rest``, a line's bytes at most), so no
    block is copied; a line longer than a block is read on into a buffer twice
    as large, up to ``budget``: a line without a newline in its first
    ``budget`` bytes is larger than the budget (``RecordTooLarge``, as
    ``_raw_chunks`` names it). Nothing is counted: the position of such a line
    is found from the segment's marks, then.
    """
    size = max(1, min(block, budget))
    left = end - offset
    rest: bytes | bytearray = b""
    while left > 0:
        r = len(rest)
        if r >= budget:
            f.seek(end - left)
            line_size = _line_size(f, rest, left)
            raise RecordTooLarge(_position_at(f, seg, end - left - r), line_size, budget)
        # fill a block; a line longer than one: twice what it has, never past the budget
        want = min(left, budget - r, size - r if r < size else r)
        buf = bytearray(r + want)
        buf[:r] = rest
        f.seek(end - left)  # ``f`` is the store's shared handle: the caller may read
        got = f.readinto(memoryview(buf)[r:])  # type: ignore[attr-defined] # (a BufferedReader)
        if not got:
            return  # the file shrank under us: the lines read so far were handed out
        left -= got
        if got < want:
            del buf[r + got :]
        cut = buf.rfind(b"\n", r) + 1
        if not cut:
            rest = buf  # the head of a line longer than a block
            continue
        rest = bytes(buf[cut:])
        del buf[cut:]
        # handed over as _raw_chunks does: this frame names no block while the reader has it
        handed = [buf]
        del buf
        yield handed.pop()
    # bytes after the last newline (``rest``): the file changed under us, as _raw_chunks


def _position_at(f: BinaryIO, seg: _Segment, offset: int) -> int:
    """The position of the line that starts at byte ``offset`` of ``seg`` (from its marks)."""
    k = bisect_right(seg.mark_offsets, offset) - 1
    base = seg.mark_offsets[k]
    lines = seg.mark_lines[k]
    f.seek(base)
    while base < offset:
        piece = f.read(min(offset - base, _READ_PIECE))
        if not piece:
            break
        lines += piece.count(b"\n")
        base += len(piece)
    return seg.first + lines


def _line_size(f: BinaryIO, head: bytes | bytearray, left: int) -> int:
    """Size (newline included) of the line whose first bytes ``head`` were read from ``f``."""
    size = len(head)
    while left > 0:
        piece = f.read(min(left, _READ_PIECE))
        if not piece:
            break
        j = piece.find(b"\n")
        if j >= 0:
            return size + j + 1
        size += len(piece)
        left -= len(piece)
    return size


def _read_lines(f: BinaryIO, nbytes: int) -> list[bytes]:
    """The ``nbytes`` at ``f``'s position (whole lines) as a list of lines without newlines."""
    lines: list[bytes] = []
    rest = b""
    left = nbytes
    while left > 0:
        piece = f.read(min(left, _READ_PIECE))
        if not piece:
            break  # the file shrank under us: the caller's offsets say what is missing
        left -= len(piece)
        parts = (rest + piece if rest else piece).split(b"\n")
        del piece
        rest = parts.pop()
        lines.extend(parts)
    return lines  # ``rest`` is empty: a chunk ends with a newline
