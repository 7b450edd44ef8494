"""Record-level merge: the same merged log as ``merge.merge_logs``, without keeping events.

``merge_record_logs(logs, strategy)`` takes each log as stored lines (a path,
streamed, or a sequence of lines) and writes -- byte for byte -- what
``merge_logs([decode_log(lines) ...], strategy).to_bytes()`` writes, refusing
the same inputs with the same errors (DecodeError at the first bad line of a
log, then ChainBroken, then ForkedEvent, WorkspaceMismatch, MissingParents,
CycleDetected).

How it stays lean
    Every record is verified once, in full: the envelope is checked byte for
    byte, the event slice is hashed against the checksum, parsed (strict JSON),
    shown canonical and rebuilt by ``Event.from_obj`` -- what
    ``codec.decode_record`` proves; any doubt falls back to ``decode_record``
    itself for its exact error. The event object is then dropped: kept per
    event are its id, origin, hlc, parents, a small alias-free ``spec`` of the
    elements it touches (merge._spec), its 32-byte digest and where its line
    lives (path offset or line index). A copy of an event already verified
    (the shared part of two logs) is recognised by id and checksum and only
    re-hashed. Full events are rebuilt from their bytes only for the few
    that conflict, duplicate a creation, or resolve conflicts.

    Output reuses each event's bytes: re-chaining (record format v2) hashes
    the new ``prev`` with the event's digest kept from the scan, one short
    hash per record. Inputs may be v1 or v2 logs; the output is v2.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import re
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from schemalog.encoding.codec import (
    DEFAULT_MAX_EVENT_BYTES,
    _decode_json,
    _dumps_sorted,
    decode_record_or_raise,
    encode_record,
)
from schemalog.encoding.fast_event import event_from_obj
from schemalog.errors import ChainBroken, InvalidEvent, SchemalogError
from schemalog.history.conflicts import Facts, _analyze_facts, _spec
from schemalog.history.merge import (
    BadResolution,
    ConflictReport,
    ForkedEvent,
    Strategy,
    WorkspaceMismatch,
    _resolve,
)
from schemalog.history.ordering import MissingParents, order_ids, sort_key
from schemalog.model.events import Event, Merge

__all__ = ["BadResolution", "RecordMerge", "merge_files", "merge_record_logs"]

_HEAD = b'{"checksum":"sha256-v'  # then the format digit (1 or 2) and ':'
_MID = b'","event":'
_NULL_TAIL = b',"prev":null}'
_PREV_HEAD = b',"prev":"sha256-v'
_HEX64 = re.compile(rb"[0-9a-f]{64}\Z")
_DATA_START = 97  # len('{"checksum":"') + 74 + len('","event":')
_ID_RE = re.compile(rb'"id":"([^"\\]*)"')

LogSource = str | os.PathLike[str] | Sequence[bytes]


def _accept(line: bytes, max_bytes: int) -> tuple[bytes, bytes, bytes | None, int] | None:
    """(event digest, checksum, prev, end of event slice) when the envelope is canonical and hashes.

    The checksum and prev are their text (``sha256-vN:<hex>``) as bytes.
    """
    n = len(line)
    if not line.startswith(_HEAD) or line[22:23] != b":" or line[87:_DATA_START] != _MID:
        return None
    version = line[21:22]
    if line.endswith(_NULL_TAIL):
        prev, end = None, n - 13
    elif (
        line.endswith(b'"}')
        and line[n - 85 : n - 68] == _PREV_HEAD
        and line[n - 68 : n - 67] == version  # one record format per log
        and line[n - 67 : n - 66] == b":"
    ):
        if _HEX64.match(line, n - 66, n - 2) is None:
            return None
        prev, end = line[n - 76 : n - 2], n - 85
    else:
        return None
    hexsum = line[23:87]
    if end < _DATA_START or end - _DATA_START > max_bytes or _HEX64.match(hexsum) is None:
        return None
    digest = hashlib.sha256(line[_DATA_START:end]).digest()
    if version == b"2":
        actual = hashlib.sha256((prev or b"") + b"\n" + digest).hexdigest()
    elif version == b"1":
        actual = digest.hex()
    else:
        return None
    if actual.encode("ascii") != hexsum:
        return None
    return digest, line[13:87], prev, end


def _full_event(line: bytes, end: int) -> Event | None:
    """The event of an accepted line when it is canonical and valid, else None."""
    try:
        text = line[_DATA_START:end].decode("utf-8")
        obj = _decode_json(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError; deep nesting
        return None
    if type(obj) is not dict or _dumps_sorted(obj) != text:
        return None
    try:
        return event_from_obj(obj)
    except InvalidEvent:
        return None


class _Lines:
    """Where each event's line lives: a file (offset, length) or a list of lines."""

    def __init__(self, source: LogSource, drop_torn_tail: bool = False) -> None:
        self.drop_torn_tail = drop_torn_tail  # a last line without newline is not read
        self.path: str | None = None
        self.lines: Sequence[bytes] | None = None
        self.fd: int | None = None
        if isinstance(source, str | os.PathLike):
            self.path = os.fspath(source)
        else:
            self.lines = source

    def scan(self) -> Iterator[tuple[int, int, bytes]]:
        """(line number, locator, line) for every line, as ``bytes.splitlines`` splits them."""
        if self.lines is not None:
            for i, line in enumerate(self.lines):
                yield i, i, line[:-1] if line.endswith(b"\n") else line  # as decode_record
            return
        assert self.path is not None
        number = offset = 0
        with open(self.path, "rb", buffering=1 << 20) as fh:
            for raw in fh:
                if self.drop_torn_tail and not raw.endswith(b"\n"):
                    break
                line = raw[:-1] if raw.endswith(b"\n") else raw
                if b"\r" in line:  # splitlines also splits on \r and \r\n
                    sub = offset
                    if line.endswith(b"\r") and raw.endswith(b"\n"):
                        line = line[:-1]
                    for part in line.split(b"\r"):
                        yield number, sub, part
                        number += 1
                        sub += len(part) + 1
                else:
                    yield number, offset, line
                    number += 1
                offset += len(raw)

    def read(self, locator: int, length: int) -> bytes:
        if self.lines is not None:
            line = self.lines[locator]
            return line[:-1] if line.endswith(b"\n") else line
        if self.fd is None:
            assert self.path is not None
            self.fd = os.open(self.path, os.O_RDONLY)
        return os.pread(self.fd, length, locator)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Store:
    """Per-event facts by handle (0, 1, ... in arrival order of first copies)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.origins: list[str] = []
        self.parents: list[tuple[str, ...]] = []
        self.walls = array("q")
        self.logicals = array("q")
        self.specs: list[Any] = []
        self.digests = bytearray()
        self.src = array("B")
        self.loc = array("q")
        self.length = array("q")
        self.where: dict[str, int] = {}  # id -> handle
        self.first_at: list[tuple[int, int]] = []  # handle -> (log, record) of first copy
        self.merges: dict[int, Event] = {}
        self.workspaces: set[str] = set()
        self.strings: dict[str, str] = {}
        self.records = 0

    def add(self, event: Event, digest: bytes, src: int, loc: int, size: int) -> None:
        h = len(self.ids)
        intern = self.strings.setdefault
        self.ids.append(intern(event.id, event.id))
        self.origins.append(intern(event.origin, event.origin))
        self.parents.append(tuple(intern(p, p) for p in event.parents))
        self.walls.append(event.hlc.wall_ms)
        self.logicals.append(event.hlc.logical)
        spec = _spec(event)
        if spec is not None:
            spec = tuple(intern(v, v) if type(v) is str else v for v in spec)
        self.specs.append(spec)
        self.digests += digest
        self.src.append(src)
        self.loc.append(loc)
        self.length.append(size)
        self.where[self.ids[h]] = h
        if isinstance(event.change, Merge):
            self.merges[h] = event
        self.workspaces.add(event.workspace)

    def digest(self, h: int) -> bytes:
        return bytes(self.digests[32 * h : 32 * h + 32])

    def sort_key(self, h: int) -> tuple[int, int, str, str]:
        return (self.walls[h], self.logicals[h], self.origins[h], self.ids[h])


def _scan(
    store: _Store, lines: _Lines, log_no: int, max_bytes: int
) -> tuple[ChainBroken | None, ForkedEvent | None]:
    """Verify one log into ``store``; raise its first DecodeError; return its first break/fork."""
    head: bytes | None = None  # the previous record's checksum text
    broken: ChainBroken | None = None
    forked: ForkedEvent | None = None
    record_no = 0
    for number, loc, line in lines.scan():
        if not line.strip():
            continue
        ok = _accept(line, max_bytes)
        event: Event | None = None
        copy_of: int | None = None
        if ok is not None:
            m = _ID_RE.search(line, _DATA_START, ok[3])
            seen = store.where.get(m.group(1).decode("utf-8", "replace")) if m else None
            if seen is not None and store.digest(seen) == ok[0]:
                copy_of = seen  # the very bytes of an event verified already
            else:
                event = _full_event(line, ok[3])
        if ok is None or (event is None and copy_of is None):
            decode_record_or_raise(line, number, max_bytes)  # raises the exact DecodeError
            raise AssertionError("decode_record accepted a line the fast path refused")
        digest, sum_, prev, _ = ok
        eid = store.ids[copy_of] if copy_of is not None else event.id  # type: ignore[union-attr]
        if broken is None and prev != head:
            hex_head = None if head is None else head.decode("ascii")
            hex_prev = None if prev is None else prev.decode("ascii")
            broken = ChainBroken(record_no, eid, hex_head, hex_prev)
        head = sum_
        if copy_of is None:
            h = store.where.get(eid)
            if h is None:
                assert event is not None
                store.add(event, digest, log_no, loc, len(line))
                store.first_at.append((log_no, record_no))
            elif forked is None:
                first_log, first_rec = store.first_at[h]
                forked = ForkedEvent(
                    eid,
                    "sha256-v1:" + store.digest(h).hex(),
                    "sha256-v1:" + digest.hex(),
                    f"log {first_log} record {first_rec} vs log {log_no} record {record_no}",
                )
        record_no += 1
    store.records += record_no
    return broken, forked


def _order(store: _Store) -> tuple[list[int], bool]:
    """Handles in causal order (ordering.causal_order's result) and whether sorting sufficed."""
    n = len(store.ids)
    order = sorted(range(n), key=store.sort_key)
    rank = array("q", bytes(8 * n))
    for r, h in enumerate(order):
        rank[h] = r
    where, parents = store.where, store.parents
    fast = True
    missing: dict[str, tuple[str, ...]] = {}
    for h in order:
        for p in parents[h]:
            ph = where.get(p)
            if ph is None:
                missing[store.ids[h]] = tuple(q for q in parents[h] if q not in where)
            elif rank[ph] > rank[h]:
                fast = False
    if missing:
        raise MissingParents(missing)
    if fast:
        return order, True
    ids = order_ids(
        {store.ids[h]: store.sort_key(h) for h in range(n)},
        {store.ids[h]: store.parents[h] for h in range(n)},
    )
    return [where[eid] for eid in ids], False


@dataclass
class RecordMerge:
    """A record-level merge: reports as ``MergeResult``; the log is written by ``write``."""

    conflicts: tuple[ConflictReport, ...]
    added: tuple[Event, ...]  # resolution events this merge created
    events: int  # number of events in the merged log
    records: int  # input records read (copies included)
    timings: dict[str, float]  # scan_s: reading and verifying the inputs
    _lines: Iterator[bytes]

    @property
    def unresolved(self) -> tuple[ConflictReport, ...]:
        return tuple(r for r in self.conflicts if r.winner is None)

    def lines(self) -> Iterator[bytes]:
        """The merged records (hash chained, no newlines); one pass only."""
        return self._lines

    def write(self, fh: IO[bytes], chunk: int = 1 << 20) -> int:
        """Write the merged log; returns the bytes written."""
        total = 0
        buf: list[bytes] = []
        size = 0
        for line in self._lines:
            buf.append(line)
            buf.append(b"\n")
            size += len(line) + 1
            if size >= chunk:
                fh.write(b"".join(buf))
                total += size
                buf, size = [], 0
        fh.write(b"".join(buf))
        return total + size

    def to_bytes(self) -> bytes:
        return b"".join(line + b"\n" for line in self._lines)


def merge_record_logs(
    logs: Sequence[LogSource],
    strategy: Strategy = "reject",
    per_kind: Mapping[str, Strategy] | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    drop_torn_tail: bool = False,
) -> RecordMerge:
    """Merge stored logs (paths or line sequences) at record level; see the module docstring.

    ``drop_torn_tail``: a path's last line without a newline (a crashed append) is not read.
    """
    t0 = time.perf_counter()
    sources = [_Lines(src, drop_torn_tail) for src in logs]
    store = _Store()
    problems = []
    for i, src in enumerate(sources):
        try:
            problems.append(_scan(store, src, i, max_event_bytes))
        except SchemalogError as exc:
            exc.log_index = i  # which input: the CLI names it
            raise
    timings = {"scan_s": time.perf_counter() - t0}
    for i, (broken, forked) in enumerate(problems):  # as merge_logs: chain, then ids
        for problem in (broken, forked):
            if problem is not None:
                problem.log_index = i
                raise problem
    store.first_at = []
    store.strings = {}
    if len(store.workspaces) > 1:
        raise WorkspaceMismatch(tuple(sorted(store.workspaces)))

    def event_at(h: int) -> Event:
        cached = store.merges.get(h)
        if cached is not None:
            return cached
        line = sources[store.src[h]].read(store.loc[h], store.length[h])
        return decode_record_or_raise(line, h, max_event_bytes).event

    order, fast = _order(store)
    facts = Facts(store.ids, store.origins, store.parents, set(store.merges), store.specs, event_at)
    analysis = _analyze_facts(order, facts)
    store.specs = []
    existing: dict[str, tuple[str, Any]] = {}
    for h in _in_order(order, store.merges):  # later in causal order overrides
        change = store.merges[h].change
        assert isinstance(change, Merge)
        for r in change.resolutions:
            existing[r.conflict_key] = (store.ids[h], r)
    reports, added = _resolve(analysis, order, facts, existing, strategy, per_kind)
    new = sorted(added.values(), key=sort_key)
    merged = _with_added(store, order, fast, new)
    count = len(order) + len(new)
    lines = _emit(store, sources, merged)
    return RecordMerge(tuple(reports), tuple(new), count, store.records, timings, lines)


def _in_order(order: Sequence[int], wanted: Mapping[int, Any]) -> list[int]:
    return [h for h in order if h in wanted]


def _with_added(
    store: _Store, order: list[int], fast: bool, new: Sequence[Event]
) -> Iterable[int | Event]:
    """The final causal order: stored handles and new resolution events."""
    if not new:
        return order
    if fast:
        # Each new event sorts after its parents (its hlc is above theirs), so the
        # sorted order stays topological: insert by key, as causal_order would.
        keyed_new = [(sort_key(e), 1, e) for e in new]
        keyed_old = ((store.sort_key(h), 0, h) for h in order)
        return (item for _, _, item in heapq.merge(keyed_old, keyed_new))  # type: ignore[misc]
    n = len(store.ids)
    keys: dict[str, Any] = {store.ids[h]: store.sort_key(h) for h in range(n)}
    parents: dict[str, Sequence[str]] = {store.ids[h]: store.parents[h] for h in range(n)}
    by_id = {e.id: e for e in new}
    for e in new:
        keys[e.id], parents[e.id] = sort_key(e), e.parents
    return [by_id[eid] if eid in by_id else store.where[eid] for eid in order_ids(keys, parents)]


def _emit(store: _Store, sources: list[_Lines], merged: Iterable[int | Event]) -> Iterator[bytes]:
    """The merged records, chained anew in format v2 (each event's bytes reused)."""
    prev: bytes | None = None
    sha256 = hashlib.sha256
    try:
        for item in merged:
            if isinstance(item, Event):
                line = encode_record(item, None)
                end = len(line) - 13
                digest = sha256(line[_DATA_START:end]).digest()
            else:
                line = sources[store.src[item]].read(store.loc[item], store.length[item])
                end = len(line) - (13 if line.endswith(_NULL_TAIL) else 85)
                digest = store.digest(item)
            sum_ = b"sha256-v2:" + sha256((prev or b"") + b"\n" + digest).hexdigest().encode()
            tail = b',"prev":null}' if prev is None else b',"prev":"' + prev + b'"}'
            yield b'{"checksum":"' + sum_ + line[87:end] + tail
            prev = sum_
    finally:
        for src in sources:
            src.close()


def merge_files(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    strategy: Strategy = "reject",
    per_kind: Mapping[str, Strategy] | None = None,
    drop_torn_tail: bool = False,
) -> RecordMerge:
    """Merge log files into ``out`` (written to a temporary name, then renamed)."""
    result = merge_record_logs(paths, strategy, per_kind, drop_torn_tail=drop_torn_tail)
    target = Path(out)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as fh:
        result.write(fh)
    os.replace(tmp, target)
    return result
