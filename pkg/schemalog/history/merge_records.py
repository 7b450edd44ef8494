"""Record-level merge: the same merged log as ``merge.merge_logs``, without keeping events.

``merge_record_logs(logs, strategy)`` takes each log as stored lines (a path,
streamed, or a sequence of lines) and writes -- byte for byte -- what
``merge_logs([decode_log(lines) ...], strategy).to_bytes()`` writes, refusing
the same inputs with the same errors (DecodeError at the first bad line of a
log, then ChainBroken, then ForkedEvent, WorkspaceMismatch, MissingParents,
CycleDetected).

How it stays lean (about 150 bytes per input event)
    Every record is verified once, in full: the envelope is checked byte for
    byte, the event slice is hashed against the checksum, parsed (strict JSON),
    shown canonical and rebuilt by ``Event.from_obj`` -- what
    ``codec.decode_record`` proves; any doubt falls back to ``decode_record``
    itself for its exact error. The event object is then dropped. Kept per
    event, in arrays (``_Store``): its hlc (wall, logical) and origin number
    (an id is ``origin@wall.logical``, so no id string is kept; ids are found
    by an open-addressing table while scanning, by bisection once sorted), its
    parents as handles, where its line lives (input, offset, length), 8 bytes
    of its digest (a copy of an event already read -- the shared part of two
    logs -- is recognised by id, that digest and its bytes, and not parsed
    again), and the *coarse keys* of what it touches (merge_lanes.py). Handles
    are then renumbered in causal order (one sort of packed ints).

    Conflicts: merge_lanes.py assigns lanes and clocks (snapshots at joins
    only) and marks the coarse keys several lanes touch; the exact analysis
    (conflicts.analyze_clocks) re-reads and runs over the events touching such
    a key only, and only over those keys. Full events are rebuilt from their
    bytes for those, and for the few that conflict or resolve conflicts.

    Output reuses each event's bytes, read again by position: re-chaining
    (record format v2) hashes the new ``prev`` with the event's digest, one
    short hash per record. Inputs may be v1 or v2 logs; the output is v2.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import re
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from schemalog.history.conflicts import Spec, _spec, _touches, analyze_clocks
from schemalog.history.decisions import Clock
from schemalog.history.merge import (
    BadResolution,
    ConflictReport,
    ForkedEvent,
    Strategy,
    WorkspaceMismatch,
    _resolve,
)
from schemalog.history.merge_lanes import Lanes
from schemalog.history.ordering import MissingParents, sort_key
from schemalog.model.events import Event, Merge
from schemalog.model.parts import parse_event_id

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
    """Per-event facts as integers, by handle (arrival order of first copies, then causal
    order once ``sort`` ran): no event object, no id string per event."""

    def __init__(self) -> None:
        self.walls = array("q")
        self.logicals = array("q")
        self.origins = array("I")  # index into origin_names
        self.origin_names: list[str] = []
        self.origin_index: dict[str, int] = {}
        self.src = array("H")  # which input
        self.loc = array("q")  # where its line is (file offset or line index)
        self.length = array("I")
        self.digest8 = array("q")  # first 8 bytes of the event digest (scan only)
        self.first_rec = array("I")  # record number of the first copy (scan only)
        self.par_start = array("I", [0])  # parents of h: par[par_start[h]:par_start[h + 1]]
        self.par = array("i")  # handles; -1 - k: pending[k], named before it was seen
        self.tch_start = array("I", [0])  # coarse keys of h (merge_lanes.py)
        self.tch = array("q")
        self.cname = array("q")  # a creation's name hash (0: not a creation)
        self.pending: list[str] = []  # parent ids not seen when named
        self.pending_specs: dict[int, Spec] = {}  # events naming a table not read yet
        self.table: array[int] | None = array("i", bytes(4 * 1024))  # id hash table
        self.count = 0
        self.merges: dict[int, Merge] = {}
        self.workspaces: set[str] = set()
        self.records = 0

    def __len__(self) -> int:
        return self.count

    # ------------------------------------------------------------ ids

    def origin_of(self, origin: str) -> int:
        i = self.origin_index.get(origin)
        if i is None:
            i = self.origin_index[origin] = len(self.origin_names)
            self.origin_names.append(origin)
        return i

    def id_of(self, h: int) -> str:
        return f"{self.origin_names[self.origins[h]]}@{self.walls[h]}.{self.logicals[h]}"

    def sort_key(self, h: int) -> tuple[int, int, str, str]:
        return (self.walls[h], self.logicals[h], self.origin_names[self.origins[h]], self.id_of(h))

    def find(self, event_id: str) -> int:
        """The handle of an event id, or -1 (open addressing while scanning, then bisection)."""
        stamp = _stamp(event_id)
        if stamp is None:
            return -1
        wall, logical, origin = stamp
        o = self.origin_index.get(origin)
        if o is None:
            return -1
        walls, logicals, origins = self.walls, self.logicals, self.origins
        table = self.table
        if table is None:  # sorted by (wall, logical, origin name)
            i = bisect_left(walls, wall)
            while i < self.count and walls[i] == wall:
                if logicals[i] == logical and origins[i] == o:
                    return i
                i += 1
            return -1
        mask = len(table) - 1
        slot = hash((wall, logical, o)) & mask
        while True:
            h = table[slot] - 1
            if h < 0:
                return -1
            if walls[h] == wall and logicals[h] == logical and origins[h] == o:
                return h
            slot = (slot + 1) & mask

    def _place(self, table: array[int], h: int) -> None:
        mask = len(table) - 1
        slot = hash((self.walls[h], self.logicals[h], self.origins[h])) & mask
        while table[slot]:
            slot = (slot + 1) & mask
        table[slot] = h + 1

    # ------------------------------------------------------------ adding

    def add(self, event: Event, digest: bytes, src: int, loc: int, size: int, rec: int) -> None:
        h = self.count
        self.count += 1
        self.walls.append(event.hlc.wall_ms)
        self.logicals.append(event.hlc.logical)
        self.origins.append(self.origin_of(event.origin))
        self.src.append(src)
        self.loc.append(loc)
        self.length.append(size)
        self.digest8.append(int.from_bytes(digest[:8], "little", signed=True))
        self.first_rec.append(rec)
        assert self.table is not None
        if 2 * self.count > len(self.table):
            table = array("i", bytes(8 * len(self.table)))
            for old in range(h):
                self._place(table, old)
            self.table = table
        self._place(self.table, h)
        for p in event.parents:
            ph = self.find(p)
            if ph < 0:
                ph = -1 - len(self.pending)
                self.pending.append(p)
            self.par.append(ph)
        self.par_start.append(len(self.par))
        change = event.change
        if isinstance(change, Merge):
            self.merges[h] = change
        self.workspaces.add(event.workspace)
        self._touch(h, _spec(event))

    def _touch(self, h: int, spec: Spec) -> None:
        """The coarse keys of what ``spec`` touches (merge_lanes.py); a creation's name hash."""
        creation = spec is not None and spec[0] in ("N", "R")
        self.cname.append((_hash("t\0" + spec[1]) or 1) if creation else 0)  # type: ignore[index]
        try:
            keys = coarse_keys(spec, self.table_key_now)
        except LookupError:  # a table not read yet: after the scan
            self.pending_specs[h] = spec
            keys = []
        self.tch.extend(keys)
        self.tch_start.append(len(self.tch))

    def table_key_now(self, tid: str) -> int:
        """T(tid): a hash of the name the table's creation gave it, or of the id (no creation)."""
        t = self.find(tid)
        if t < 0:
            raise LookupError(tid)
        return self.cname[t] or _hash(tid)

    def table_key(self, tid: str) -> int:
        t = self.find(tid)
        return (self.cname[t] if t >= 0 else 0) or _hash(tid)

    def digest(self, h: int, sources: Sequence[_Lines]) -> bytes:
        line = sources[self.src[h]].read(self.loc[h], self.length[h])
        return hashlib.sha256(line[_DATA_START : _event_end(line)]).digest()

    # ------------------------------------------------------------ after the scan

    def resolve_pending(self) -> None:
        """Parents and tables named before their event was read; MissingParents if absent."""
        missing: dict[str, tuple[str, ...]] = {}
        if self.pending:
            par = self.par
            for h in range(self.count):
                a, b = self.par_start[h], self.par_start[h + 1]
                lost = []
                for i in range(a, b):
                    if par[i] < 0:
                        p = self.pending[-1 - par[i]]
                        found = self.find(p)
                        if found < 0:
                            lost.append(p)
                        par[i] = found
                if lost:
                    missing[self.id_of(h)] = tuple(lost)
        if missing:
            raise MissingParents(missing)
        if self.pending_specs:
            tch, start = array("q"), array("I", [0])
            for h in range(self.count):
                spec = self.pending_specs.get(h)
                if spec is None:
                    tch.extend(self.touches(h))
                else:
                    tch.extend(coarse_keys(spec, self.table_key))
                start.append(len(tch))
            self.tch, self.tch_start = tch, start
        self.pending, self.pending_specs = [], {}
        self.digest8, self.first_rec = array("q"), array("I")

    def sort(self) -> None:
        """Renumber handles in causal order: (hlc wall, logical, origin), which for valid
        events (every parent's hlc below its child's) is ordering.causal_order's."""
        n = self.count
        self.table = None
        names = self.origin_names
        by_name = sorted(range(len(names)), key=names.__getitem__)
        orank = array("I", bytes(4 * len(names)))
        for r, o in enumerate(by_name):
            orank[o] = r
        # one int per event, (wall, logical, origin rank, handle) packed: walls from the
        # smallest, so that most keys fit two 30-bit digits (32 bytes each while sorting)
        w0 = min(self.walls, default=0)
        lb = max(self.logicals, default=0).bit_length()
        ob = len(names).bit_length()
        hb = n.bit_length()
        keys = [
            (((((w - w0) << lb) | lg) << ob | orank[o]) << hb) | h
            for h, (w, lg, o) in enumerate(
                zip(self.walls, self.logicals, self.origins, strict=True)
            )
        ]
        keys.sort()
        hmask = (1 << hb) - 1
        order = array("I", (k & hmask for k in keys))
        del keys
        rank = array("I", bytes(4 * n))
        for r, h in enumerate(order):
            rank[h] = r
        for name in ("walls", "logicals", "origins", "src", "loc", "length", "cname"):
            old = getattr(self, name)
            code = old.typecode
            if code == "q" and name in ("logicals", "loc") and max(old, default=0) < 1 << 32:
                code = "I"  # positions and logical counters mostly fit 4 bytes
            setattr(self, name, array(code, (old[h] for h in order)))
            del old
        self.par, self.par_start = _permuted(self.par, self.par_start, order, rank)
        self.tch, self.tch_start = _permuted(self.tch, self.tch_start, order, None)
        self.merges = {rank[h]: m for h, m in self.merges.items()}
        for r in range(n):
            for i in range(self.par_start[r], self.par_start[r + 1]):
                if self.par[i] >= r:  # Event validation makes this impossible
                    raise AssertionError(f"parent of {self.id_of(r)} does not sort before it")

    def parents(self, h: int) -> array[int]:
        return self.par[self.par_start[h] : self.par_start[h + 1]]

    def touches(self, h: int) -> array[int]:
        return self.tch[self.tch_start[h] : self.tch_start[h + 1]]


def _permuted(
    flat: array[int], start: array[int], order: Sequence[int], rank: Sequence[int] | None
) -> tuple[array[int], array[int]]:
    out, out_start = array(flat.typecode), array(start.typecode, [0])
    for h in order:
        part = flat[start[h] : start[h + 1]]
        out.extend(part if rank is None else (rank[p] for p in part))
        out_start.append(len(out))
    return out, out_start


class _Ids(Sequence[str]):
    """Event ids by handle, made when asked (the analysis reads a few)."""

    def __init__(self, store: _Store) -> None:
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, h: int) -> str:  # type: ignore[override]
        return self.store.id_of(h)


def _stamp(event_id: str) -> tuple[int, int, str] | None:
    try:
        t = parse_event_id(event_id)
    except InvalidEvent:
        return None
    return t.wall_ms, t.logical, t.origin


def coarse_key(key: tuple[Any, ...], table_key: Callable[[str], int]) -> int:
    """The coarse key of an element key (conflicts.py), the same whatever the aliases.

    The analysis aliases a duplicate table to the first of its name, and its
    properties to theirs: so a table counts by the name its creation gave it
    (``table_key``), a property by its table (property ids alias across
    tables' creations), a property name by its table and name.
    """
    kind = key[0]
    if kind == "t":
        return table_key(key[1])
    if kind == "n":
        return _hash(key[1])
    if kind == "pn":
        return _hash(f"pn\0{table_key(key[1])}\0{key[2]}")
    if kind == "c":
        return _hash(f"c\0{table_key(key[1])}\0{table_key(key[2])}\0{table_key(key[3])}")
    return _hash(f"{kind}\0{table_key(key[1])}")  # "p", "cs"


def coarse_keys(spec: Spec, table_key: Callable[[str], int]) -> list[int]:
    """The coarse keys of every element an event touches (ids as it names them)."""
    same = str.__str__
    return list(dict.fromkeys(coarse_key(k, table_key) for k, _, _ in _touches(spec, same, same)))


def _hash(text: str) -> int:
    """A coarse key: 64 bits of BLAKE2b (the same in every run and runtime)."""
    data = text.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def _event_end(line: bytes) -> int:
    """Where the event slice of a canonical record line ends."""
    return len(line) - (13 if line.endswith(_NULL_TAIL) else 85)


def _scan(
    store: _Store, lines: _Lines, log_no: int, max_bytes: int, sources: Sequence[_Lines]
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
        copy_of = -1
        seen = -1
        if ok is not None:
            m = _ID_RE.search(line, _DATA_START, ok[3])
            seen = store.find(m.group(1).decode("utf-8", "replace")) if m else -1
            if seen >= 0 and store.digest8[seen] == int.from_bytes(
                ok[0][:8], "little", signed=True
            ):
                first = sources[store.src[seen]].read(store.loc[seen], store.length[seen])
                if first[_DATA_START : _event_end(first)] == line[_DATA_START : ok[3]]:
                    copy_of = seen  # the very bytes of an event verified already
            if copy_of < 0:
                event = _full_event(line, ok[3])
        if ok is None or (event is None and copy_of < 0):
            decode_record_or_raise(line, number, max_bytes)  # raises the exact DecodeError
            raise AssertionError("decode_record accepted a line the fast path refused")
        digest, sum_, prev, _ = ok
        eid = store.id_of(copy_of) if copy_of >= 0 else event.id  # type: ignore[union-attr]
        if broken is None and prev != head:
            hex_head = None if head is None else head.decode("ascii")
            hex_prev = None if prev is None else prev.decode("ascii")
            broken = ChainBroken(record_no, eid, hex_head, hex_prev)
        head = sum_
        if copy_of < 0:
            h = store.find(eid)
            if h < 0:
                assert event is not None
                store.add(event, digest, log_no, loc, len(line), record_no)
            elif forked is None:
                forked = ForkedEvent(
                    eid,
                    "sha256-v1:" + store.digest(h, sources).hex(),
                    "sha256-v1:" + digest.hex(),
                    f"log {store.src[h]} record {store.first_rec[h]} vs log {log_no} "
                    f"record {record_no}",
                )
        record_no += 1
    store.records += record_no
    return broken, forked


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
            problems.append(_scan(store, src, i, max_event_bytes, sources))
        except SchemalogError as exc:
            exc.log_index = i  # which input: the CLI names it
            raise
    timings = {"scan_s": time.perf_counter() - t0}
    for i, (broken, forked) in enumerate(problems):  # as merge_logs: chain, then ids
        for problem in (broken, forked):
            if problem is not None:
                problem.log_index = i
                raise problem
    if len(store.workspaces) > 1:
        raise WorkspaceMismatch(tuple(sorted(store.workspaces)))
    store.resolve_pending()
    store.sort()
    n = len(store)
    lanes = Lanes(n, store.origins, store.parents, set(store.merges), store.touches, len(store.tch))
    cache: dict[int, Event] = {}

    def event_at(h: int) -> Event:
        event = cache.get(h)
        if event is None:
            line = sources[store.src[h]].read(store.loc[h], store.length[h])
            event = cache[h] = decode_record_or_raise(line, h, max_event_bytes).event
        return event

    def spec_of(h: int) -> Spec:
        line = sources[store.src[h]].read(store.loc[h], store.length[h])
        event = _full_event(line, _event_end(line))
        assert event is not None  # verified in full by the scan
        return _spec(event)

    ids = _Ids(store)

    def keep(key: tuple[Any, ...]) -> bool:
        return lanes.hot((coarse_key(key, store.table_key),))

    analysis = analyze_clocks(lanes.clocks(n, store.touches), ids, spec_of, event_at, keep)
    existing: dict[str, tuple[str, Any]] = {}
    for h in sorted(store.merges):  # later in causal order overrides
        for r in store.merges[h].resolutions:
            existing[r.conflict_key] = (store.id_of(h), r)

    def clocks(wanted: set[str]) -> dict[str, Clock]:
        out: dict[str, Clock] = {}
        for eid in wanted:
            h = store.find(eid)
            out[eid] = (lanes.lane[h], lanes.pos[h], lanes.vc(h))
        return out

    reports, added = _resolve(analysis, clocks, existing, strategy, per_kind)
    new = sorted(added.values(), key=sort_key)
    count = n + len(new)
    lines = _emit(store, sources, _with_added(store, new))
    return RecordMerge(tuple(reports), tuple(new), count, store.records, timings, lines)


def _with_added(store: _Store, new: Sequence[Event]) -> Iterable[int | Event]:
    """The final causal order: stored handles and new resolution events.

    Each new event sorts after its parents (its hlc is above theirs), so the
    sorted order stays topological: insert by key, as causal_order would.
    """
    n = len(store)
    if not new:
        return range(n)
    keyed_new = [(sort_key(e), 1, e) for e in new]
    keyed_old = ((store.sort_key(h), 0, h) for h in range(n))
    return (item for _, _, item in heapq.merge(keyed_old, keyed_new))  # type: ignore[misc]


def _emit(store: _Store, sources: list[_Lines], merged: Iterable[int | Event]) -> Iterator[bytes]:
    """The merged records, chained anew in format v2 (each event's bytes reused)."""
    prev: bytes | None = None
    sha256 = hashlib.sha256
    try:
        for item in merged:
            if isinstance(item, Event):
                line = encode_record(item, None)
            else:
                line = sources[store.src[item]].read(store.loc[item], store.length[item])
            end = _event_end(line)
            digest = sha256(line[_DATA_START:end]).digest()
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
