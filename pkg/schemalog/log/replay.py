"""Streaming, transactional replay of a log into a schema state.

``replay(source, ...)`` reads raw lines chunk by chunk (``RawChunk``s from a
store's ``iter_raw`` within a byte budget, or any iterable of them), verifies
every record (``codec.decode_record``: canonical form and checksum) and the
hash link (each record's ``prev`` is the checksum of the record before it),
applies the events to the schema model and returns a ``ReplayReport``: errors
are values, nothing raises for a bad log.

Batches and transactions. Records are taken ``batch_events`` at a time. A
batch that fails is rolled back as a whole and the report's state is exactly
the state after the last good batch; a batch fails on

* a crash: an exception raised by ``apply`` or by a tracer hook
  (``Failure.kind == "crash"``), under either policy;
* under ``on_corrupt="stop"``: a record that does not decode (``"corrupt"``),
  a broken hash link (``"chain"``), an event the schema rejects
  (``"rejected"``).

A record larger than the chunk budget (the store raises ``RecordTooLarge``)
ends the replay with ``kind="too-large"`` naming its position and size, under
either policy (the chunk stream cannot go past it). A batch applies its
events to a working copy of the state that ``apply`` updates in place
(``schema.working_copy``: a dict update instead of a path copy per event); a
commit copies it (a few thousand dict entries per batch), a rollback takes
the committed copy back, and the report's state is persistent. Skips found
in a batch, their quarantine callbacks, the chain head and the DAG heads are
committed with the batch, so re-running from the report's checkpoint
(``resume``) reprocesses the failed batch exactly as an uninterrupted replay
would: ``resume(source, report)`` after a crash gives the same final report
fields as one replay that never crashed.

``report.position`` is the number of committed records (records
``[start, position)`` are done) and ``report.head`` the checksum of record
``position - 1``, the chain tip a resumed replay expects.

Skip policy (``on_corrupt="skip"``). A corrupt or rejected event is skipped,
listed in ``report.skipped`` with its position, event id if it can be read and
reason, handed to ``quarantine(skipped, line)`` and replay goes on. An intact
event whose parents include a skipped event id is skipped too
(``kind="dependent"``, ``because_of`` = the skipped parent), transitively. So
in a linear history (each event's parent is the one before) everything after a
rejected event is skipped: that is the point, those changes were made on top
of one that is not in the state. (The ids of corrupt records can be read in
the common case, a damaged body under an intact envelope; a record damaged
beyond reading its id cannot pass its skip on to dependents.)

The hash link after a skipped corrupt record: the skipped line's own checksum
field is read if it is still well formed (the usual damage is in the body,
which the checksum then does not match). The next intact record is accepted
without comment if its ``prev`` is that claimed checksum (the damaged record
was in its place in the chain) or the checksum before the skipped line (the
skipped line was inserted garbage). Otherwise the link is broken there: under
"skip" it is listed in ``report.breaks`` and replay re-anchors on that
record's checksum (the record itself verified against its own checksum and
still goes through the schema); under "stop" it is a ``"chain"`` failure.

A batch does not end right after a skipped corrupt line (the chain head is
provisional until the next intact record settles it): it is extended by one
record until it does, so a checkpoint always carries a settled chain head.
(Only an input that *ends* inside such a run commits an unsettled head: the
report warns, ``head`` is None, and a resumed replay takes the next link as
given.)

Merged logs: the effective stream (effective.py). Replay applies the log's
effective stream, the one definition shared with ``merge.replay_merged``,
versions, compat and metrics: losers of the log's resolutions and duplicate
creations are skipped (``Skipped.kind`` ``"loser"`` / ``"duplicate"``, reason
as merge words it) and later changes naming a duplicate's ids are applied to
the first creation's ids. These skips are not failures: they do not make
descendants dependents (merge keeps a loser's descendants that still apply),
are not quarantined, and leave ``report.ok`` true. The plan comes from a
pre-pass over the log from position 0 (``effective.plan_of_chunks``) when the
source is a store or a re-iterable collection of chunks; a one-shot iterable of
chunks replays with the empty plan unless ``plan=`` is given: merged-log
semantics need a store (or the plan). The plan is a function of the log, so a
resume or a snapshot needs nothing more than before: it is recomputed from the
log on every call (snapshots carry no alias map or loser set; the cost is that
pre-pass over the whole log, not only the delta).

Rejections in concurrent history (a Merge-aware policy). In a merged log an
unresolved conflict (strategy ``reject``) leaves both events, and the schema
rejects what cannot apply; ``merge.replay_merged`` skips such a rejection. So
replay, under either policy, skips a rejected event with ``kind="concurrent"``
(no dependents, no quarantine) when its state is not the state its writer
applied it to: the log has a resolution or duplicate, or some applied DAG head
is not among the event's parents (it was written without seeing that head).
A rejected event whose writer saw exactly the applied history is what it
always was: a stop under "stop", a skip with dependents under "skip". (Known
limit: in a log without resolutions or duplicates, an event that joins every
head after an earlier concurrent rejection is judged as if its writer saw
the state; ``merge.replay_merged`` would skip it if it is rejected.)

Default batch size 1024: the batch size sets how much work a crash repeats
and how many batch spans a tracer keeps; per-batch bookkeeping is the copy of
the working state (three dicts of about a table each) and a few attribute
writes, under 1 % of a batch at 1024.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec, Protocol, TypeVar

from schemalog.encoding.codec import CHECKSUM_PREFIX, Record, decode_record, state_hash
from schemalog.errors import SchemalogError
from schemalog.history.duplicates import DuplicateScanner
from schemalog.log.effective import (
    EMPTY_PLAN,
    EffectivePlan,
    EffectiveStream,
    events_of_chunks,
    lines_of_chunks,
    plan_of_chunks,
)
from schemalog.log.store.errors import RecordTooLarge
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, RawChunk
from schemalog.log.trace import Tracer
from schemalog.model.schema import (
    Applied,
    SchemaState,
    apply,
    empty_state,
    persistent,
    working_copy,
)

__all__ = [
    "DEFAULT_BATCH_EVENTS",
    "ChainBreak",
    "Failure",
    "RawSource",
    "ReplayGap",
    "ReplayReport",
    "Skipped",
    "replay",
    "resume",
]

DEFAULT_BATCH_EVENTS = 1024
_DECODE_WINDOW = 256  # records decoded ahead of apply (run_chunk)
Policy = Literal["stop", "skip"]


class RawSource(Protocol):
    """Anything with a store's ``iter_raw`` (the EventStore port has it)."""

    def iter_raw(
        self, start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> Iterator[RawChunk]: ...


class ReplayGap(SchemalogError):
    """The chunks given to replay do not cover the positions it needs (a caller bug)."""

    def __init__(self, expected: int, got: int) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"replay needs record {expected} next, the chunk starts at {got}")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record left out of the state.

    ``kind``: corrupt, rejected, dependent (failures of the log), or loser,
    duplicate, concurrent (the effective stream of a merged log: see module doc).
    """

    position: int
    event_id: str | None
    kind: str
    reason: str
    because_of: str | None = None  # dependent: the skipped parent it builds on

    def to_obj(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "kind": self.kind,
            "reason": self.reason,
            "because_of": self.because_of,
        }


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Under "skip": record ``position``'s prev is not the expected checksum; replay re-anchored."""

    position: int
    event_id: str | None
    expected: str | None
    actual: str | None

    def to_obj(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass(frozen=True, slots=True)
class Failure:
    """Why replay stopped. ``kind``: corrupt, chain, rejected, crash, too-large."""

    position: int
    event_id: str | None
    kind: str
    reason: str

    def to_obj(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "kind": self.kind,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ReplayReport:
    """What a replay did. ``position``/``head``/``state``/``heads``/``skipped_ids`` resume it."""

    state: SchemaState
    state_hash: str
    start_position: int
    position: int  # records before this position are committed
    head: str | None  # checksum of record position-1 (None at 0)
    applied: int  # events applied by this run (committed batches only)
    skipped: tuple[Skipped, ...]
    skipped_ids: frozenset[str]  # every skipped id so far (including those given at start)
    breaks: tuple[ChainBreak, ...]
    stopped: Failure | None
    heads: tuple[str, ...]  # sorted ids of applied events no applied event names as parent
    batches: int
    chunks: int
    bytes_read: int
    warnings: tuple[str, ...] = ()
    error: BaseException | None = field(default=None, compare=False, repr=False)
    # The duplicate scan of records [0, position) when the replay completed on a log
    # without resolutions (a snapshot saves it: the next replay need not re-read them).
    scanner: DuplicateScanner | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when the effective stream applied: no stop, no break, no skip but merge's own.

        Losers and duplicates of a merged log are part of its effective stream,
        not problems; a ``concurrent`` rejection (an unresolved conflict) is.
        """
        return (
            self.stopped is None
            and not self.breaks
            and all(s.kind in _MERGE_SKIPS for s in self.skipped)
        )

    def to_obj(self) -> dict[str, Any]:
        """JSON-able summary (the state itself is left out; its hash is in)."""
        return {
            "applied": self.applied,
            "batches": self.batches,
            "breaks": [b.to_obj() for b in self.breaks],
            "bytes_read": self.bytes_read,
            "chunks": self.chunks,
            "head": self.head,
            "heads": list(self.heads),
            "ok": self.ok,
            "position": self.position,
            "skipped": [s.to_obj() for s in self.skipped],
            "start_position": self.start_position,
            "state_hash": self.state_hash,
            "stopped": self.stopped.to_obj() if self.stopped else None,
            "tables": len(self.state.tables),
            "warnings": list(self.warnings),
        }


Quarantine = Callable[[Skipped, bytes], object]
_MERGE_SKIPS = frozenset({"loser", "duplicate"})

_UNKNOWN = object()  # a chain head that no prev can equal: the link cannot be checked
_ANY = object()  # start of a slice without expected_prev: accept the first link as given


class _Stop(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure


class _Crash(Exception):
    def __init__(self, position: int, line: bytes | None, exc: Exception) -> None:
        self.position = position
        self.line = line
        self.exc = exc


def _salvage(line: bytes) -> tuple[str | None, str | None]:
    """Best effort on a record that failed to decode: (event id, claimed checksum)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None, None
    if type(obj) is not dict:
        return None, None
    claimed = obj.get("checksum")
    if type(claimed) is not str or not claimed.startswith(CHECKSUM_PREFIX):
        claimed = None
    event = obj.get("event")
    eid = event.get("id") if type(event) is dict else None
    return (eid if type(eid) is str else None), claimed


def _record_id(line: bytes) -> str | None:
    result = decode_record(line, 0)
    return result.event.id if type(result) is Record else _salvage(line)[0]


class _Replayer:
    """Mutable state of one replay; ``c_*`` is committed, the rest belongs to the open batch."""

    def __init__(
        self,
        state: SchemaState,
        position: int,
        head: object,
        heads: set[str],
        skipped_ids: set[str],
        policy: Policy,
        batch_events: int,
        tracer: Tracer | None,
        quarantine: Quarantine | None,
        stream: EffectiveStream | None = None,
    ) -> None:
        self.skip = policy == "skip"
        self.stream = stream if stream is not None else EMPTY_PLAN.stream()
        self.batch_events = batch_events
        self.tracer = tracer
        self.quarantine = quarantine
        # the open batch: a working copy (schema.working_copy), updated in place
        self.state = working_copy(state)
        self.position = position
        self.head = head
        self.alt: object = _UNKNOWN  # a second acceptable prev right after a skipped line
        self.heads = heads
        self.applied = 0
        self.skipped: list[Skipped] = []
        self.pending: list[tuple[Skipped, bytes]] = []
        self.new_ids: list[str] = []
        self.breaks: list[ChainBreak] = []
        self.skipped_ids = skipped_ids
        self.batch_end = position + batch_events
        self.batch_t0 = tracer.now() if tracer else 0.0
        # committed
        self.c_state, self.c_position, self.c_head = state, position, head
        self.c_alt: object = _UNKNOWN
        self.c_heads = set(heads)
        self.c_applied = 0
        self.c_skipped = 0
        self.c_breaks = 0
        self.batches = 0

    # ------------------------------------------------------------ transactions

    def commit(self) -> None:
        if self.tracer is not None:
            self.tracer.batch(
                self.c_position, self.position, self.applied - self.c_applied, self.batch_t0, True
            )
            self.batch_t0 = self.tracer.now()
        # the committed state must not see the next batch's in-place updates
        self.c_state = working_copy(self.state)
        self.c_position, self.c_head = self.position, self.head
        self.c_alt = self.alt
        if self.heads != self.c_heads:
            self.c_heads = set(self.heads)
        self.c_applied = self.applied
        self.c_skipped = len(self.skipped)
        self.c_breaks = len(self.breaks)
        self.new_ids.clear()
        pending, self.pending = self.pending, []
        if self.quarantine is not None:
            for skipped, line in pending:
                self.quarantine(skipped, line)
        self.batches += 1
        self.batch_end = self.position + self.batch_events

    def rollback(self) -> None:
        if self.tracer is not None:
            # the tracer may be what failed; the rollback itself must not
            with contextlib.suppress(Exception):
                self.tracer.batch(
                    self.c_position,
                    self.position,
                    self.applied - self.c_applied,
                    self.batch_t0,
                    False,
                )
        self.state = working_copy(self.c_state)  # the failed batch updated its copy
        self.position, self.head = self.c_position, self.c_head
        self.alt = self.c_alt
        self.heads = set(self.c_heads)
        self.applied = self.c_applied
        del self.skipped[self.c_skipped :]
        del self.breaks[self.c_breaks :]
        self.skipped_ids.difference_update(self.new_ids)
        self.new_ids.clear()
        self.pending.clear()

    # ------------------------------------------------------------ records

    def _skip(self, entry: Skipped, line: bytes) -> None:
        self.skipped.append(entry)
        self.pending.append((entry, line))
        if entry.event_id is not None and entry.event_id not in self.skipped_ids:
            self.skipped_ids.add(entry.event_id)
            self.new_ids.append(entry.event_id)

    def _skip_effective(self, entry: Skipped) -> None:
        """A skip of the effective stream: reported, but no dependents and no quarantine."""
        self.skipped.append(entry)

    def irregular(self, line: bytes, pos: int, rec: object, state: SchemaState) -> SchemaState:
        """Everything off the fast path, for the record at ``pos``; may raise _Stop.

        Returns the state to go on with; leaves ``self.head`` at the new chain head.
        """
        if type(rec) is not Record:
            eid, claimed = _salvage(line)
            reason = str(rec)
            if not self.skip:
                raise _Stop(Failure(pos, eid, "corrupt", reason))
            self._skip(Skipped(pos, eid, "corrupt", reason), line)
            if self.alt is _UNKNOWN:  # first of a run of skipped lines
                self.alt = self.head
            self.head = claimed if claimed is not None else _UNKNOWN
            return state
        event = rec.event
        if rec.prev != self.head:
            if (
                self.head is _ANY
                or self.alt is _ANY
                or (self.alt is not _UNKNOWN and rec.prev == self.alt)
            ):
                pass  # see the module doc: re-anchored without a break
            elif not self.skip:
                expected = self.head if isinstance(self.head, str) else None
                raise _Stop(
                    Failure(
                        pos,
                        event.id,
                        "chain",
                        f"hash link broken: prev is {rec.prev!r}, expected {expected!r}",
                    )
                )
            else:
                expected = self.head if isinstance(self.head, str) else None
                self.breaks.append(ChainBreak(pos, event.id, expected, rec.prev))
        self.alt = _UNKNOWN
        self.head = rec.checksum
        if self.skipped_ids and not self.skipped_ids.isdisjoint(event.parents):
            parent = min(p for p in event.parents if p in self.skipped_ids)
            self._skip(
                Skipped(pos, event.id, "dependent", f"depends on skipped event {parent}", parent),
                line,
            )
            return state
        stream = self.stream
        why = stream.skip(event.id)
        if why is not None:
            self._skip_effective(Skipped(pos, event.id, why[0], why[1]))
            return state
        result = apply(state, stream.effective(event))
        if type(result) is Applied:
            self.applied += 1
            self.heads.difference_update(event.parents)
            self.heads.add(event.id)
            return result.state
        reason = str(result)
        if stream.merged or not self.heads.issubset(event.parents):
            self._skip_effective(Skipped(pos, event.id, "concurrent", reason))
            return state
        if not self.skip:
            raise _Stop(Failure(pos, event.id, "rejected", reason))
        self._skip(Skipped(pos, event.id, "rejected", reason), line)
        return state

    def run_chunk(self, lines: list[bytes], offset: int, pos: int) -> None:
        """The hot loop over ``lines[offset:]`` (first at position ``pos``)."""
        decode = decode_record
        apply_ = apply
        record_t = Record
        applied_t = Applied
        tracer = self.tracer
        clock = tracer.clock if tracer is not None else None
        t0 = tracer._t0 if tracer is not None else 0.0
        slow_s = tracer.slow_s if tracer is not None else 0.0
        per_event = tracer.per_event if tracer is not None else False
        heads = self.heads
        state = self.state
        head = self.head
        applied = self.applied
        skipped_ids = self.skipped_ids
        batch_end = self.batch_end
        stream = self.stream
        visit = stream.visit if stream.scanner is not None else None
        losers, duplicates = stream.losers, stream.duplicates  # live dicts (effective.py)
        table_alias, prop_alias = stream.table_alias, stream.prop_alias
        effective = stream.effective
        line = None
        # Without a tracer, records are decoded a window ahead, then applied:
        # decoding is pure (the state is untouched until its record's turn),
        # and the two stages' code and data do not evict each other from the
        # CPU caches on every record (one loop over both ran about 15 % slower).
        # A tracer times each record's decode and apply together, one by one.
        window = 1 if clock is not None else _DECODE_WINDOW
        decoded: list[Any] = []
        first = offset
        try:
            for i in range(offset, len(lines)):
                line = lines[i]
                if clock is not None:
                    start = clock()
                    rec = decode(line, pos)
                else:
                    if i - first >= len(decoded):
                        first = i
                        try:
                            decoded = list(
                                map(decode, lines[i : i + window], range(pos, pos + window))
                            )
                        except Exception:  # a bug: raise it at the record it belongs to
                            decoded = [decode(line, pos)]
                    rec = decoded[i - first]
                if type(rec) is record_t and visit is not None:
                    visit(rec.event)
                if (
                    type(rec) is record_t
                    and rec.prev == head
                    and not (skipped_ids and not skipped_ids.isdisjoint(rec.event.parents))
                    and not (losers and rec.event.id in losers)
                    and not (duplicates and rec.event.id in duplicates)
                ):
                    event = rec.event
                    aliasing = table_alias or prop_alias
                    result = apply_(state, effective(event) if aliasing else event)
                    if type(result) is applied_t:
                        state = result.state
                        head = rec.checksum
                        applied += 1
                        parents = event.parents
                        if parents:
                            heads.difference_update(parents)
                        heads.add(event.id)
                    else:
                        self.head, self.applied = head, applied
                        state = self.irregular(line, pos, rec, state)
                        head, applied = self.head, self.applied
                else:
                    self.head, self.applied = head, applied
                    state = self.irregular(line, pos, rec, state)
                    head, applied = self.head, self.applied
                if clock is not None:
                    seconds = clock() - start
                    if per_event or seconds >= slow_s:
                        ok = type(rec) is record_t
                        assert tracer is not None
                        tracer.event(
                            pos,
                            rec.event.id if ok else None,  # type: ignore[union-attr]
                            rec.event.kind if ok else None,  # type: ignore[union-attr]
                            start - t0,
                            seconds,
                        )
                pos += 1
                if pos == batch_end:
                    if self.alt is not _UNKNOWN:
                        # right after a skipped corrupt line the chain head is only
                        # provisional: commit once the next intact record settles it
                        batch_end += 1
                        continue
                    self.state, self.head, self.applied, self.position = state, head, applied, pos
                    self.commit()
                    heads = self.heads
                    batch_end = self.batch_end
        except _Stop:
            raise
        except Exception as exc:
            raise _Crash(pos, line, exc) from exc
        self.state, self.head, self.applied, self.position = state, head, applied, pos
        self.batch_end = batch_end


_GC_YOUNG = 20_000
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _rare_collections(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with the cyclic collector's young generation 30x larger.

    A replay allocates millions of small objects that reference counting
    frees (records, events, derived tables; almost no cycles) while the live
    state and caches stay large: at the default threshold (700 allocations)
    the collector's passes took about a tenth of a replay. The previous
    thresholds are restored on the way out.
    """

    @functools.wraps(fn)
    def with_rare_collections(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        old = gc.get_threshold()
        gc.set_threshold(max(old[0], _GC_YOUNG), *old[1:])
        try:
            return fn(*args, **kwargs)
        finally:
            gc.set_threshold(*old)

    return with_rare_collections


@_rare_collections
def replay(
    source: RawSource | Iterable[RawChunk],
    *,
    start_state: SchemaState | None = None,
    start_position: int = 0,
    expected_prev: str | None = None,
    start_heads: Iterable[str] = (),
    skipped_ids: Iterable[str] = (),
    on_corrupt: Policy = "stop",
    batch_events: int = DEFAULT_BATCH_EVENTS,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    tracer: Tracer | None = None,
    quarantine: Quarantine | None = None,
    plan: EffectivePlan | None = None,
    start_scanner: DuplicateScanner | None = None,
) -> ReplayReport:
    """Replay ``source`` from ``start_position`` onto ``start_state``; see the module doc.

    ``source`` is a store (its ``iter_raw(start_position, max_chunk_bytes)`` is
    read) or an iterable of ``RawChunk``s; chunk lines before ``start_position``
    are passed over, a gap raises ``ReplayGap``. ``expected_prev`` is the
    checksum of record ``start_position - 1`` (None at 0); if it is None at a
    later start, the first link is taken as given and the report warns.
    ``start_heads`` and ``skipped_ids`` carry a checkpoint's DAG heads and
    skipped ids (``resume`` passes them from a report). ``plan`` is the log's
    effective-stream plan; None computes it by a pre-pass over the log from
    position 0 when ``source`` can be read twice (a store, a list of chunks),
    else replays without one (module doc: merged logs). ``start_scanner``: the
    duplicate scan of records ``[0, start_position)`` (a snapshot's), so that
    they are not read again.
    """
    if on_corrupt not in ("stop", "skip"):
        raise ValueError(f"on_corrupt must be 'stop' or 'skip', not {on_corrupt!r}")
    if batch_events < 1:
        raise ValueError("batch_events must be at least 1")
    if start_position < 0:
        raise ValueError("start_position must be >= 0")
    warnings: list[str] = []
    head: object = expected_prev
    if start_position > 0 and expected_prev is None:
        head = _ANY
        warnings.append(
            f"no expected_prev for start position {start_position}: "
            "the hash link into it was not verified"
        )
    state = start_state if start_state is not None else empty_state()
    iter_raw = getattr(source, "iter_raw", None)
    read = _reader(source, iter_raw, max_chunk_bytes)
    if plan is None:
        plan = plan_of_chunks(read) if read is not None else EMPTY_PLAN
    stream = plan.stream(events_of_chunks(read) if read is not None else None, start_scanner)
    warm_inline = False  # the lines before the start pass by in the chunks below
    if start_position > 0 and stream.scanner is not None and not stream.warmed:
        if read is not None:
            stream.warm(itertools.islice(lines_of_chunks(read), start_position))
        else:
            warm_inline = True
    if tracer is not None:
        tracer.begin()
    run = _Replayer(
        state,
        start_position,
        head,
        set(start_heads),
        set(skipped_ids),
        on_corrupt,
        batch_events,
        tracer,
        quarantine,
        stream,
    )
    chunks: Iterable[RawChunk]
    if iter_raw is not None:
        chunks = iter_raw(start=start_position, max_chunk_bytes=max_chunk_bytes)
    else:
        chunks = source  # type: ignore[assignment]
    stopped: Failure | None = None
    error: BaseException | None = None
    n_chunks = 0
    n_bytes = 0
    n_warmed = 0
    it = iter(chunks)
    while True:
        chunk: RawChunk | None = None
        try:
            chunk = next(it)
        except StopIteration:
            break
        except RecordTooLarge as exc:
            run.rollback()
            stopped = Failure(exc.position, None, "too-large", str(exc))
            break
        lines = chunk.lines
        pos = run.position
        if warm_inline:
            if chunk.start > n_warmed:
                stream.lost_history()  # the source starts after position 0
            else:
                stream.warm(lines[n_warmed - chunk.start : max(0, pos - chunk.start)])
            n_warmed = min(pos, chunk.start + len(lines))
            warm_inline = n_warmed < pos
        if chunk.start + len(lines) <= pos:
            continue  # entirely before the start
        if chunk.start > pos:
            raise ReplayGap(pos, chunk.start)
        n_chunks += 1
        n_bytes += chunk.nbytes
        try:
            if tracer is not None:
                tracer.chunk(chunk.start, len(lines), chunk.nbytes)
            run.run_chunk(lines, pos - chunk.start, pos)
        except _Stop as stop:
            run.rollback()
            stopped = stop.failure
            break
        except _Crash as crash:
            run.rollback()
            eid = _record_id(crash.line) if crash.line is not None else None
            cause = crash.exc
            stopped = Failure(crash.position, eid, "crash", f"{type(cause).__name__}: {cause}")
            error = cause
            break
        except Exception as exc:  # a tracer hook outside the loop
            run.rollback()
            stopped = Failure(run.position, None, "crash", f"{type(exc).__name__}: {exc}")
            error = exc
            break
        finally:
            del lines
            chunk = None
    if stopped is None and run.position != run.c_position:
        try:
            run.commit()
        except Exception as last:  # a tracer hook at the last commit
            run.rollback()
            stopped = Failure(run.position, None, "crash", f"{type(last).__name__}: {last}")
            error = last
    close = getattr(it, "close", None)
    if close is not None:
        close()
    if tracer is not None:
        tracer.end()
    head_out = run.c_head if isinstance(run.c_head, str) or run.c_head is None else None
    if run.c_head is _UNKNOWN:
        warnings.append(
            f"the log ends with skipped corrupt record(s) at {run.c_position - 1}: "
            "the chain head after them is unknown"
        )
    if run.c_head is _ANY:
        head_out = expected_prev
    final = persistent(run.c_state)
    return ReplayReport(
        state=final,
        state_hash=state_hash(final),
        start_position=start_position,
        position=run.c_position,
        head=head_out,
        applied=run.c_applied,
        skipped=tuple(run.skipped[: run.c_skipped]),
        skipped_ids=frozenset(run.skipped_ids),
        breaks=tuple(run.breaks[: run.c_breaks]),
        stopped=stopped,
        heads=tuple(sorted(run.c_heads)),
        batches=run.batches,
        chunks=n_chunks,
        bytes_read=n_bytes,
        warnings=tuple(warnings),
        error=error,
        scanner=(
            stream.scanner if stopped is None and not stream.losers and not warm_inline else None
        ),
    )


def _reader(
    source: object, iter_raw: Any, max_chunk_bytes: int
) -> Callable[[], Iterable[RawChunk]] | None:
    """A re-reader of the source's raw chunks from position 0, if it can be read again."""
    if iter_raw is not None:
        return lambda: iter_raw(start=0, max_chunk_bytes=max_chunk_bytes)
    if isinstance(source, Iterable) and iter(source) is not source:
        chunks = source
        return lambda: chunks
    return None


def resume(
    source: RawSource | Iterable[RawChunk], report: ReplayReport, **options: Any
) -> ReplayReport:
    """Replay on from a report's checkpoint (same policy options as ``replay``)."""
    return replay(
        source,
        start_state=report.state,
        start_position=report.position,
        expected_prev=report.head,
        start_heads=report.heads,
        skipped_ids=report.skipped_ids,
        **options,
    )
