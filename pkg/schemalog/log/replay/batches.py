"""Stage 4, apply in transactional batches: decoded records onto a schema state.

``Batches`` holds one replay's mutable state: the open batch (a working copy
of the state that ``apply`` updates in place, the chain head, the DAG heads,
skips) and the committed one (``c_*``). Every write to the working state
first logs what it overwrites (``state.working_copy``'s undo log). Every
``batch_events`` records it commits: it clears the log (nothing is copied:
the working state is the committed one), hands skipped lines to the
quarantine callback and records a tracer span; a failure rolls the open batch
back to the last commit by undoing the log, the last write first. The chain
link, the skip policy, dependents and the effective stream's skips are
decided per record here (``irregular`` for everything off the fast path);
the rules are in the package doc.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence

from schemalog.encoding.codec import CHECKSUM_PREFIX, V1_PREFIX, Record, decode_record
from schemalog.history.holders import Holders
from schemalog.history.known_ids import KnownIds, id_digest
from schemalog.log.effective import DUPLICATE, EMPTY_PLAN, EffectiveStream
from schemalog.log.replay.decode import Window
from schemalog.log.replay.report import ChainBreak, Failure, Policy, Quarantine, Skipped
from schemalog.log.trace import Tracer
from schemalog.model.schema import (
    Applied,
    Rejected,
    SchemaState,
    UndoLog,
    apply,
    working_copy,
)

__all__ = ["ANY", "UNKNOWN", "Batches", "Crash", "Stop", "record_id", "salvage"]

UNKNOWN = object()  # a chain head that no prev can equal: the link cannot be checked
ANY = object()  # start of a slice without expected_prev: accept the first link as given


class Stop(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure


class Crash(Exception):
    def __init__(self, position: int, line: bytes | None, exc: Exception) -> None:
        self.position = position
        self.line = line
        self.exc = exc


def salvage(line: bytes) -> tuple[str | None, str | None]:
    """Best effort on a record that failed to decode: (event id, claimed checksum)."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: brackets nested too deep
        return None, None
    if type(obj) is not dict:
        return None, None
    claimed = obj.get("checksum")
    if type(claimed) is not str or not claimed.startswith((CHECKSUM_PREFIX, V1_PREFIX)):
        claimed = None
    event = obj.get("event")
    eid = event.get("id") if type(event) is dict else None
    return (eid if type(eid) is str else None), claimed


def record_id(line: bytes) -> str | None:
    result = decode_record(line, 0)
    return result.event.id if type(result) is Record else salvage(line)[0]


class Batches:
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
        # the open batch: a working copy (state.working_copy), updated in place;
        # what its writes overwrote since the last commit, to roll them back
        self.undo = UndoLog()
        self.state = working_copy(state, self.undo)
        self.position = position
        self.head = head
        self.alt: object = UNKNOWN  # a second acceptable prev right after a skipped line
        self.heads = heads
        self.applied = 0
        self.skipped: list[Skipped] = []
        self.pending: list[tuple[Skipped, bytes]] = []
        self.new_ids: list[str] = []
        self.breaks: list[ChainBreak] = []
        self.skipped_ids = skipped_ids
        # digests of applied events that descend from a skipped one (skip policy):
        # a later rejection among them is a dependent, not a conflict
        self.tainted = KnownIds()
        self.batch_end = position + batch_events
        self.batch_t0 = tracer.now() if tracer else 0.0
        # committed: ``c_state`` (after a commit, the working state itself)
        self._c_state = state
        self.c_position, self.c_head = position, head
        self.c_alt: object = UNKNOWN
        self.c_heads = set(heads)
        self.c_applied = 0
        self.c_skipped = 0
        self.c_breaks = 0
        # the committed copies of the stream's Holders (history/holders.py), None: empty
        holders = self.stream.holders
        self.c_holders: Holders | None = holders.copy() if holders else None
        self.batches = 0

    @property
    def c_state(self) -> SchemaState:
        """The committed state: only between batches, right after a commit or a rollback
        (it shares the working state's maps, which the next batch changes in place)."""
        if self.undo:
            raise AssertionError("the committed state is asked for inside an open batch")
        return self._c_state

    # ------------------------------------------------------------ transactions

    def commit(self) -> None:
        if self.tracer is not None:
            self.tracer.batch(
                self.c_position, self.position, self.applied - self.c_applied, self.batch_t0, True
            )
            self.batch_t0 = self.tracer.now()
        # the working state is the committed one now: the next batch's writes are logged
        self.undo.clear()
        self._c_state = self.state
        self.c_position, self.c_head = self.position, self.head
        self.c_alt = self.alt
        if self.heads != self.c_heads:
            self.c_heads = set(self.heads)
        self.c_applied = self.applied
        self.c_skipped = len(self.skipped)
        self.c_breaks = len(self.breaks)
        self.new_ids.clear()
        holders = self.stream.holders
        if holders or self.c_holders is not None:  # (rare: a copy took a creation's place)
            self.c_holders = holders.copy() if holders else None
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
        self.undo.undo()  # the failed batch's writes, in place: self.state is committed
        self.position, self.head = self.c_position, self.c_head
        self.alt = self.c_alt
        self.heads = set(self.c_heads)
        self.applied = self.c_applied
        del self.skipped[self.c_skipped :]
        del self.breaks[self.c_breaks :]
        self.skipped_ids.difference_update(self.new_ids)
        self.new_ids.clear()
        # (the stream's Holders are not rolled back: a rollback ends the replay, whose
        # report hands out ``c_holders``)
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

    def _descends_from_skipped(self, parents: Sequence[str]) -> bool:
        tainted = self.tainted
        return tainted.count > 0 and any(id_digest(p) in tainted for p in parents)

    def irregular(self, line: bytes, pos: int, rec: object, state: SchemaState) -> SchemaState:
        """Everything off the fast path, for the record at ``pos``; may raise Stop.

        Returns the state to go on with; leaves ``self.head`` at the new chain head.
        """
        if type(rec) is not Record:
            eid, claimed = salvage(line)
            reason = str(rec)
            if not self.skip:
                raise Stop(Failure(pos, eid, "corrupt", reason))
            self._skip(Skipped(pos, eid, "corrupt", reason), line)
            if self.alt is UNKNOWN:  # first of a run of skipped lines
                self.alt = self.head
            self.head = claimed if claimed is not None else UNKNOWN
            return state
        event = rec.event
        if rec.prev != self.head:
            if (
                self.head is ANY
                or self.alt is ANY
                or (self.alt is not UNKNOWN and rec.prev == self.alt)
            ):
                pass  # see the module doc: re-anchored without a break
            elif not self.skip:
                expected = self.head if isinstance(self.head, str) else None
                raise Stop(
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
        self.alt = UNKNOWN
        self.head = rec.checksum
        # Skip means continue: an event after a skipped one is applied when it
        # applies; only one that is then rejected is a dependent (its reason says
        # what it lacked, e.g. an unknown table), and its own children likewise.
        needs = None
        if self.skipped_ids and not self.skipped_ids.isdisjoint(event.parents):
            needs = min(p for p in event.parents if p in self.skipped_ids)
        tainted = needs is not None or self._descends_from_skipped(event.parents)
        stream = self.stream
        why = stream.skip(event.id, event)
        if why is not None:
            self._skip_effective(Skipped(pos, event.id, why[0], why[1]))
            return state
        eff = stream.effective(event)
        result = apply(state, eff)
        if type(result) is Applied:
            self.applied += 1
            self.heads.difference_update(event.parents)
            self.heads.add(event.id)
            if tainted:
                self.tainted.add(id_digest(event.id))
            return result.state
        reason = str(result)
        if tainted:
            after = f"skipped event {needs}" if needs else "a skipped event it descends from"
            self._skip(
                Skipped(pos, event.id, "dependent", f"{reason} (after {after})", needs), line
            )
            return state
        went = stream.goes_with(event)
        if went is not None:  # built on a losing side: left out with its loser (merge.py)
            stream.left_out(event)  # (a copy of a creation may take its place: holders.py)
            with_ = f"with loser {went} of {stream.losers[went]}: {reason}"
            self._skip_effective(Skipped(pos, event.id, "with-loser", with_))
            return state
        again = None
        if stream.losers and isinstance(result, Rejected):
            again = stream.repeats(event, eff, result.rule, state)
        if again is not None:  # its writer saw that change left out (holders.py)
            made = f"makes {again} again: {reason}"
            self._skip_effective(Skipped(pos, event.id, DUPLICATE, made))
            return state
        if stream.merged or not self.heads.issubset(event.parents):
            self._skip_effective(Skipped(pos, event.id, "concurrent", reason))
            return state
        if not self.skip:
            raise Stop(Failure(pos, event.id, "rejected", reason))
        self._skip(Skipped(pos, event.id, "rejected", reason), line)
        return state

    def run_window(
        self, window: Window, resolve: Callable[[int, object], None] | None = None
    ) -> None:
        """The loop over one decoded window; commits every ``batch_events`` records.

        ``resolve(position, record)`` visits each record right before its decision
        (``resolve.Resolver``); None when the records were visited already.
        """
        apply_ = apply  # looked up per window: tests inject a crashing apply
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
        tainted = self.tainted
        batch_end = self.batch_end
        stream = self.stream
        losers, duplicates = stream.losers, stream.duplicates  # live dicts (effective.py)
        table_alias, prop_alias = stream.table_alias, stream.prop_alias
        effective = stream.effective
        lines = window.lines
        pos = window.position
        i = window.first
        line = None
        try:
            for rec in window.records:
                line = lines[i]
                i += 1
                if resolve is not None:
                    resolve(pos, rec)
                if (
                    type(rec) is record_t
                    and rec.prev == head
                    and not (skipped_ids and not skipped_ids.isdisjoint(rec.event.parents))
                    and not (tainted.count and self._descends_from_skipped(rec.event.parents))
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
                        if self.alt is not UNKNOWN:  # the next intact record settled the
                            self.alt = UNKNOWN  # head: no later one re-anchors (package doc)
                    else:
                        self.head, self.applied = head, applied
                        state = self.irregular(line, pos, rec, state)
                        head, applied = self.head, self.applied
                else:
                    self.head, self.applied = head, applied
                    state = self.irregular(line, pos, rec, state)
                    head, applied = self.head, self.applied
                if clock is not None:
                    seconds = clock() - window.started
                    if per_event or seconds >= slow_s:
                        ok = type(rec) is record_t
                        assert tracer is not None
                        tracer.event(
                            pos,
                            rec.event.id if ok else None,  # type: ignore[union-attr]
                            rec.event.kind if ok else None,  # type: ignore[union-attr]
                            window.started - t0,
                            seconds,
                        )
                pos += 1
                if pos == batch_end:
                    if self.alt is not UNKNOWN:
                        # right after a skipped corrupt line the chain head is only
                        # provisional: commit once the next intact record settles it
                        batch_end += 1
                        continue
                    self.state, self.head, self.applied, self.position = state, head, applied, pos
                    self.commit()
                    heads = self.heads
                    batch_end = self.batch_end
            if window.crash is not None:
                line = lines[i]
                raise window.crash
        except Stop:
            raise
        except Exception as exc:
            raise Crash(pos, line, exc) from exc
        self.state, self.head, self.applied, self.position = state, head, applied, pos
        self.batch_end = batch_end
