"""The effective event stream of a log: what every reader of a log applies, one definition.

A merged log (``merge.merge_events`` / ``schemalog merge``) records each
conflict's resolution as a Merge event that comes *after* the events it
decides, and leaves identical concurrent creations as they are. Replaying it
record by record with ``schema.apply`` would apply the losers and trip over
the duplicates. The effective stream is the log as ``merge.replay_merged``
replays it:

* a **loser** of an effective resolution is not applied (kind ``"loser"``);
* a **duplicate** creation (the later of two concurrent creations of one name
  with the same definition, or of one property added twice identically) is
  not applied (kind ``"duplicate"``), and every later change naming the
  duplicate's table/property ids is applied to the first creation's ids --
  unless the first was left out (a loser, or rejected with a loser): then the
  duplicate takes its place and the ids name it (``EffectiveStream.holders``,
  history/holders.py; batches tell the stream what they left out with a
  loser, ``left_out``);
* a rejected event that makes again the identical change its past made and
  that applied (its writer saw it left out with a loser, in another order of
  concurrent events) is a duplicate of it (``EffectiveStream.repeats``,
  history/holders.py), and its ids name what that change made;
* everything else is applied as it is (descendants of losers included: they
  stay if they still apply).

``EffectivePlan`` is what a pre-pass knows of a log: its losers. A loser can
come before the resolution that names it, so losers need the whole log first;
the pre-pass decodes only lines that contain the bytes ``"kind":"merge"`` (the
canonical encoding writes every change kind exactly so, and a string value
cannot contain those bytes unescaped), so it costs one scan of the raw lines.
Where the store hands out raw blocks (``iter_blocks``: a ``RawReader``'s
``blocks``), the scan is one ``find`` over each block before any line is cut,
and only the lines it hits are cut out: the same lines, in the same order.
For a conflict key named by several resolutions the last in log order counts
-- the rule of ``merge._effective_resolutions`` (a merged log is in causal
order; any log appended by writers that see their parents is a topological
order, where "last" is log order).

``plan.stream()`` gives an ``EffectiveStream`` for one pass over the log:
``stream.step(event)`` maps each decoded event, in log order, to ``(event to
apply, None)`` or ``(None, (kind, reason))``. Whether an event is a duplicate
depends only on the events before it, so the stream finds duplicates as it
goes (duplicates.py: merge's rule, streamed in O(lanes x sync points + open
creations) memory). A pass that starts later than position 0 (a resume, a
snapshot) first ``warm``s the stream with the raw lines before its start. If
the streaming method cannot decide (duplicates.py says when: forged or unusual
logs), the stream re-reads the whole log with merge's own analysis
(``conflicts._analyze_facts``, O(events) memory) when it was given a way to
re-read it, and otherwise goes on without finding further duplicates
(``stream.inexact``).

Records that do not decode are not visited; the replay reports them by its own
policy. (Raw lines before a later start are read for their ids unverified.)

One-shot sources (a generator of chunks or events) cannot be read twice:
without an explicit ``plan`` they replay with the empty plan (plain record by
record semantics). Merged-log semantics need a store, a list, or a plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import compress, islice, repeat
from typing import Any, cast

from schemalog.encoding.codec import Record, decode_record
from schemalog.errors import InvalidEvent
from schemalog.history.conflicts import Facts, _Analysis, _analyze_facts, _spec
from schemalog.history.duplicates import DuplicateScanner
from schemalog.history.holders import Holders, descends
from schemalog.history.merge import Plan, effective_event, takes_over
from schemalog.log.store.errors import RecordTooLarge
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, RawBlock, RawChunk
from schemalog.model.events import (
    CreateNodeTable,
    CreateRelTable,
    DropProperty,
    DropTable,
    Event,
    Merge,
    Resolution,
)
from schemalog.model.state import SchemaState

__all__ = [
    "DUPLICATE",
    "EMPTY_PLAN",
    "LOSER",
    "EffectivePlan",
    "EffectiveStream",
    "RawReader",
    "effective_events",
    "events_of_chunks",
    "lines_of_chunks",
    "plan_of_chunks",
    "plan_of_events",
    "raw_reader",
]

LOSER = "loser"
_RECENT = 2048  # vector clocks kept for goes_with: replay decodes 256 records ahead
DUPLICATE = "duplicate"
_KIND_KEY = b'"kind":"'
MERGE_MARK = _MERGE_KIND = b'"kind":"merge"'
# a Merge that decides something: canonical keys put its resolutions right after its kind
_RESOLVING = b'"kind":"merge","resolutions":[{'
_CREATE_KINDS = (
    b'"kind":"create_node_table"',
    b'"kind":"create_rel_table"',
    b'"kind":"add_property"',
)
# changes that, made twice concurrently, are one (duplicates.py): decoded in full
_TWICE_KINDS = (
    _MERGE_KIND,
    b'"kind":"drop_table"',
    b'"kind":"drop_property"',
    b'"kind":"add_connection"',
    b'"kind":"drop_connection"',
)


@dataclass(frozen=True)
class EffectivePlan:
    """What a pre-pass knows of one log's effective stream (module doc).

    ``plan``: the losers, and duplicates with their aliases when they are known
    up front (otherwise empty). ``scan``: a stream finds duplicates as it goes.
    ``end``: the position up to which a pre-pass read a store (None: not a store's,
    or it ended at a record too large to read). A replay with the plan reads no
    further: a record appended after the pre-pass may hold a resolution it did not
    see, which would decide the records before it otherwise.
    """

    plan: Plan
    scan: bool = True
    end: int | None = field(default=None, compare=False)  # (of the read, not the plan)

    @property
    def merged(self) -> bool:
        """The pre-pass found resolutions or duplicates (a stream may find duplicates later)."""
        return bool(self.plan.losers or self.plan.duplicates)

    def stream(
        self,
        reread: Callable[[], Iterable[Event]] | None = None,
        scanner: DuplicateScanner | None = None,
        holders: Holders | None = None,
    ) -> EffectiveStream:
        """A stream for one pass; ``reread`` re-reads every event if scanning cannot decide;
        ``scanner``: the scan of the records before a later start (a snapshot's), taken over;
        ``holders``: the copies that took creations' places before it (history/holders.py)."""
        return EffectiveStream(self, reread, scanner, holders)

    def read(self, events: Iterable[Event]) -> Iterable[Event]:
        """``events`` (a store's, from position 0) as far as the pre-pass read them: each
        iteration stops at ``end`` (``events`` itself when there is no end)."""
        if self.end is None or iter(events) is events:
            return events
        return _Prefix(events, self.end)


class _Prefix:
    """The first ``end`` events of ``events``, on every iteration."""

    __slots__ = ("end", "events")

    def __init__(self, events: Iterable[Event], end: int) -> None:
        self.events, self.end = events, end

    def __iter__(self) -> Iterator[Event]:
        return islice(self.events, self.end)


EMPTY_PLAN = EffectivePlan(Plan({}, {}, {}, {}), scan=False)


class EffectiveStream:
    """One pass over a log's effective stream, in log order (module doc).

    ``duplicates``, ``table_alias`` and ``prop_alias`` are live dicts: a hot
    loop may hold them and test them as the pass goes.
    """

    def __init__(
        self,
        plan: EffectivePlan,
        reread: Callable[[], Iterable[Event]] | None = None,
        scanner: DuplicateScanner | None = None,
        holders: Holders | None = None,
    ) -> None:
        self.losers = plan.plan.losers
        self._winners = plan.plan.winners
        self._deciders = plan.plan.deciders
        # vector clocks of the events visited last (two generations of _RECENT)
        self._recent: dict[str, list[int]] = {}
        self._older: dict[str, list[int]] = {}
        self._took_over: set[str] = set()  # duplicates applied in their loser's place
        # after a fall back (no scan to tell ancestry, goes_with): every event's parents,
        # read again once, and per event the marked ids (losers, their copies and
        # the Merges deciding them: one bit each) among it and its ancestors
        self._parents: dict[str, Sequence[str]] | None = None
        self._marks: dict[str, int] = {}
        self._bit: dict[str, int] = {}
        self._ids: list[str] = []  # bit -> marked id
        # the log's drops (change -> (position, event id), log order), read once for a
        # repeated drop
        self._drops: dict[object, list[tuple[int, str]]] | None = None
        self.inexact = False
        self._reread = reread
        self.duplicates: dict[str, str] = dict(plan.plan.duplicates)
        self.table_alias: dict[str, str] = dict(plan.plan.table_alias)
        self.prop_alias: dict[str, str] = dict(plan.plan.prop_alias)
        self.twins: dict[str, Sequence[str]] = dict(plan.plan.twins)
        self.scanner: DuplicateScanner | None = None
        self.warmed = False  # the scanner has seen the records before this pass's start
        if plan.scan and scanner is not None:
            self.scanner, self.warmed = scanner, True
            self.duplicates = scanner.duplicates
            self.table_alias = scanner.table_alias
            self.prop_alias = scanner.prop_alias
            self.twins = scanner.twins
        elif plan.scan:
            scanner = self.scanner = DuplicateScanner()
            scanner.duplicates = self.duplicates
            scanner.table_alias = self.table_alias
            scanner.prop_alias = self.prop_alias
            scanner.twins = self.twins
        self._view = Plan(self.losers, self.duplicates, self.table_alias, self.prop_alias)
        # copies of a creation left out that took its place (history/holders.py)
        self.holders = holders.copy() if holders is not None else Holders()

    @property
    def merged(self) -> bool:
        """Resolutions in the log, or duplicates found so far."""
        return bool(self.losers or self.duplicates)

    def visit(self, event: Event) -> None:
        """Take the next decoded event of the log into account (exactly once each)."""
        scanner = self.scanner
        if scanner is not None:
            scanner.visit(event)
            self._visited(scanner, event.id, event.origin)

    def visit_fields(
        self,
        event_id: str,
        origin: str,
        parents: Sequence[str],
        clock: int,
        kind: str,
        fields: tuple[Any, ...],
        line: bytes,
    ) -> None:
        """``visit`` of a flat-kind event given as its fields (replay's fused path:
        ``DuplicateScanner.visit_fields``)."""
        scanner = self.scanner
        if scanner is not None:
            scanner.visit_fields(event_id, origin, parents, clock, kind, fields, line)
            if self.losers or not scanner.exact:  # (else _visited does nothing: a call saved)
                self._visited(scanner, event_id, origin)

    def _visited(self, scanner: DuplicateScanner, event_id: str, origin: str) -> None:
        """After the scan placed an event: fall back if it cannot decide, else keep the
        event's vector clock for ``goes_with`` (a log with resolutions only)."""
        if not scanner.exact:
            self._fall_back()
        elif self.losers:
            vc = scanner.vector_clock(event_id, origin)
            if vc is not None:
                recent = self._recent
                recent[event_id] = vc
                if len(recent) >= _RECENT:
                    self._older, self._recent = recent, {}

    def skip(self, event_id: str, event: Event | None = None) -> tuple[str, str] | None:
        """``(kind, reason)`` when the stream leaves a visited event out (give ``event``
        for a duplicate: merge.takes_over)."""
        if event_id in self.losers:
            return LOSER, f"loser of {self.losers[event_id]}"
        first = self.duplicates.get(event_id)
        if first is not None:
            if event is not None and (
                takes_over(event, self.losers, self.duplicates, self.twins)
                or self.holders.takes_place(
                    event,
                    self.duplicates,
                    self.twins,
                    self.losers,
                    self.table_alias,
                    self.prop_alias,
                )
            ):
                self._took_over.add(event_id)
                return None
            return DUPLICATE, f"duplicate of {first}"
        return None

    def left_out(self, event: Event) -> None:
        """``event`` was rejected and left out with a loser (``goes_with``): a duplicate of
        it, if a creation, may take its place (history/holders.py)."""
        self.holders.rejected(event)

    def repeats(self, event: Event, eff: Event, rule: str, state: SchemaState) -> str | None:
        """For an event the schema rejects (``rule``, applying ``eff``) that goes with no
        loser: the id of the identical change in its past that it makes again, and then
        its ids name what that made (history/holders.py); None in a log without
        resolutions. Ancestry as ``goes_with`` reads it: the scan's vector clocks, else
        the log's parents (read again once); earlier drops: the log read again once."""
        if not self.losers:
            return None
        return self.holders.repeats(
            eff.change,
            rule,
            state,
            partial(self._descends, event),
            partial(self._drops_of, event, eff.change),
        )

    def _descends(self, event: Event, ancestor: str) -> bool:
        vc = self._recent.get(event.id) or self._older.get(event.id)
        scanner = self.scanner
        if scanner is not None and vc is not None:
            return ancestor != event.id and scanner.covers(vc, ancestor)
        if self._reread is None:
            return False  # inexact: nothing tells ancestry
        if self._parents is None:
            self._parents = {e.id: e.parents for e in self._reread()}
        return descends(self._parents, event, ancestor)

    def _drops_of(self, event: Event, change: object) -> list[str]:
        """The log's events before ``event`` that make its drop (as given, or as ``change``
        aliased); the log's drops are read once (only for a drop the schema rejected)."""
        if self._drops is None:
            if self._reread is None:
                return []
            self._drops = {}
            for i, e in enumerate(self._reread()):
                if isinstance(e.change, DropTable | DropProperty):
                    self._drops.setdefault(e.change, []).append((i, e.id))
        found: list[tuple[int, str]] = []
        for made in {event.change, change}:
            for at, x in self._drops.get(made, ()):
                if x == event.id:
                    break  # (in log order: the ones after it are no earlier drops)
                found.append((at, x))
        return [x for _, x in sorted(found)]  # (log order, as replay_merged reads them)

    def goes_with(self, event: Event) -> str | None:
        """For an event the schema rejects: the loser it goes with (merge.py's rule), if any.

        The smallest loser id that ``event`` descends from while not descending
        from the Merge that decided it (its writer built on the losing side
        without knowing the decision). None when it goes with none, or when the
        duplicate scan cannot tell ancestry, or ``event`` was not among the
        last 2,048 visited (then the rejection stays a rejection). The scan's
        vector clocks have no entry for a Merge: an event that descends from
        a loser and from its winner (it saw both sides) may or may not have
        seen the decision, and only then, as after a fall back (``_fall_back``:
        no scan), ancestry is read off the log's parents, read again once, as
        ``merge.replay_merged`` reads it.
        """
        scanner = self.scanner
        if not self.losers:
            return None
        if scanner is None:
            return self._goes_with_parents(event)
        vc = self._recent.get(event.id) or self._older.get(event.id)
        if vc is None:
            return None
        winners = self._winners
        copies: dict[str, list[str]] = {}  # a loser's duplicates share its fate
        for dup, first in self.duplicates.items():
            if first in self.losers and dup not in self._took_over:
                copies.setdefault(first, []).append(dup)

        def descends(x: str) -> bool:
            return x != event.id and scanner.covers(vc, x)

        went: list[str] = []
        for x in self.losers:
            if descends(x) or any(descends(d) for d in copies.get(x, ())):
                if not descends(winners.get(x, x)):
                    went.append(x)  # (so not from the decision, a descendant of both)
                elif self._reread is not None:
                    return self._goes_with_parents(event)  # (rare: a rejection that saw both)
        return min(went) if went else None

    def _goes_with_parents(self, event: Event) -> str | None:
        """``goes_with`` after a fall back: merge's rule (``merge._goes_with``) over the
        log's parents, each event's marked ancestors computed once, as a bit set
        (linear, where a walk over every rejected event's ancestors is quadratic on
        a hostile log)."""
        if self._reread is None:
            return None  # inexact: nothing tells ancestry
        bit, ids = self._bit, self._ids
        if self._parents is None:
            self._parents = {e.id: e.parents for e in self._reread()}
        # the scan may still be going (a rejection that saw a loser and its winner):
        # copies found since the last call get their bits now (no mark is computed for
        # an event before it is visited, so none is stale)
        copies = [d for d, first in self.duplicates.items() if first in self.losers]
        for x in (*self.losers, *copies, *self._deciders.values()):
            if x not in bit:
                bit[x] = len(ids)
                ids.append(x)
        seen = 0
        for p in event.parents:
            seen |= self._marked_above(p)
        losers, duplicates, took_over = self.losers, self.duplicates, self._took_over
        went: set[str] = set()
        rest = seen
        while rest:  # the marked ancestors: losers, and copies of losers that did not
            low = rest & -rest  # take their place (they share their loser's fate)
            rest ^= low
            marked = ids[low.bit_length() - 1]
            if marked in losers:
                went.add(marked)
            first = duplicates.get(marked)
            if first is not None and first in losers and marked not in took_over:
                went.add(first)
        for x in list(went):
            decider = self._deciders.get(x)
            if decider is not None and decider in bit and (seen >> bit[decider]) & 1:
                went.discard(x)  # its writer saw the decision
        return min(went) if went else None

    def _marked_above(self, event_id: str) -> int:
        """The bits of the marked ids among ``event_id`` and its ancestors (memoized, no
        recursion: parents are earlier than their children, so the walk ends)."""
        marks, parents, bit = self._marks, self._parents, self._bit
        assert parents is not None
        stack = [event_id]
        while stack:
            node = stack[-1]
            if node in marks:
                stack.pop()
                continue
            ps = parents.get(node, ())
            todo = [p for p in ps if p not in marks]
            if todo:
                stack.extend(todo)
                continue
            found = 1 << bit[node] if node in bit else 0
            for p in ps:
                found |= marks[p]
            marks[node] = found
            stack.pop()
        return marks[event_id]

    def effective(self, event: Event) -> Event:
        """``event`` with aliased ids (call only for events ``skip`` keeps)."""
        holders = self.holders
        if holders.table or holders.prop:  # a copy took a creation's place, or a change
            t, p = holders.aliases(self.table_alias, self.prop_alias)  # made again's ids
            out = effective_event(event, Plan(self.losers, {}, t, p), skip=False)
        elif not (self.table_alias or self.prop_alias):
            return event
        else:
            out = effective_event(event, self._view, skip=False)
        assert out is not None
        return out

    def step(self, event: Event) -> tuple[Event | None, tuple[str, str] | None]:
        """Visit ``event``; ``(event to apply, None)`` or ``(None, (kind, reason))``."""
        self.visit(event)
        why = self.skip(event.id, event)
        if why is not None:
            return None, why
        return self.effective(event), None

    def warm(self, lines: Iterable[bytes]) -> None:
        """Visit the raw record lines before a pass's start (read unverified; module doc)."""
        scanner = self.scanner
        if scanner is None:
            return
        for line in lines:
            _visit_line(scanner, line)
            if not scanner.exact:
                self._fall_back()
                return

    def lost_history(self) -> None:
        """Events before this pass's start cannot be visited: decide without them."""
        if self.scanner is not None:
            self._fall_back()

    def _fall_back(self) -> None:
        """The streaming method cannot decide: merge's analysis over the whole log."""
        self.scanner = None
        if self._reread is None:
            self.inexact = True
            return
        analysis = _analysis(self._reread())
        duplicates, table_alias, prop_alias = _found(analysis)
        twins = analysis.twins
        for live, exact in (
            (self.duplicates, duplicates),
            (self.table_alias, table_alias),
            (self.prop_alias, prop_alias),
        ):
            live.clear()
            live.update(exact)
        self.twins.clear()
        self.twins.update(twins)


_NO_EVENT = cast(Event, None)  # conflicts found on the way are discarded: no events for them


def _duplicates(
    events: Iterable[Event],
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The duplicates and aliases merge's analysis finds in a whole log, in its order."""
    return _found(_analysis(events))


def _found(analysis: _Analysis) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    return analysis.duplicates, analysis.table_alias, analysis.prop_alias


def _analysis(events: Iterable[Event]) -> _Analysis:
    """merge's duplicate analysis over a whole log in its order (the fallback; module doc)."""
    ids: list[str] = []
    origins: list[str] = []
    parents: list[tuple[str, ...]] = []
    merges: set[int] = set()
    specs: list[tuple[object, ...] | None] = []
    creations: dict[int, Event] = {}  # the only events the analysis rebuilds (merge._alias)
    known: set[str] = set()
    for h, event in enumerate(events):
        ids.append(event.id)
        origins.append(event.origin)
        # a parent that did not decode is not in the set: leave it out (merge needs closure)
        ps = event.parents
        parents.append(ps if all(p in known for p in ps) else tuple(p for p in ps if p in known))
        known.add(event.id)
        if isinstance(event.change, Merge):
            merges.add(h)
        if isinstance(event.change, CreateNodeTable | CreateRelTable):
            creations[h] = event
        specs.append(_spec(event))
    del known

    def event_at(h: int) -> Event:
        return creations.get(h, _NO_EVENT)

    facts = Facts(ids, origins, parents, merges, specs, event_at)
    return _analyze_facts(range(len(ids)), facts)


def plan_of_events(events: Iterable[Event]) -> EffectivePlan:
    """The plan of a log given as events in log order (losers; a stream finds duplicates).

    A one-shot iterator cannot be read again by the pass that follows: it
    gets the empty plan (module doc); pass a sequence.
    """
    if iter(events) is events:
        return EMPTY_PLAN
    raw_chunks = getattr(events, "raw_chunks", None)  # a store's view (store.events)
    if callable(raw_chunks):
        return plan_of_chunks(RawReader(raw_chunks, getattr(events, "raw_blocks", None)))
    resolutions: dict[str, tuple[str, Resolution]] = {}
    for event in events:
        if isinstance(event.change, Merge):
            for r in event.change.resolutions:
                resolutions[r.conflict_key] = (event.id, r)  # later in log order overrides
    return _plan(resolutions)


def _plan(resolutions: dict[str, tuple[str, Resolution]]) -> EffectivePlan:
    """The losers (id -> conflict key), their winners and the Merges deciding them, as
    ``merge.resolution_plan`` (``resolutions``: key -> (Merge id, resolution))."""
    losers: dict[str, str] = {}
    winners: dict[str, str] = {}
    deciders: dict[str, str] = {}
    for key, (mid, res) in sorted(resolutions.items()):
        for loser in res.losers:
            if loser not in losers:
                losers[loser], winners[loser], deciders[loser] = key, res.winner, mid
    return EffectivePlan(Plan(losers, {}, {}, {}, winners, deciders))


class RawReader:
    """``read()``: a log's raw chunks, again on each call; ``blocks()``, when not None:
    the same lines as raw blocks (a store's ``iter_blocks``), for a search in C."""

    __slots__ = ("_chunks", "blocks", "start")

    def __init__(
        self,
        chunks: Callable[[], Iterable[RawChunk]],
        blocks: Callable[[], Iterable[RawBlock]] | None = None,
        start: int = 0,
    ) -> None:
        self._chunks = chunks
        self.blocks = blocks
        self.start = start  # the position of the first line read (a store's)

    def __call__(self) -> Iterable[RawChunk]:
        return self._chunks()


def raw_reader(source: Any, start: int = 0, budget: int = DEFAULT_CHUNK_BYTES) -> RawReader:
    """A ``RawReader`` of a store's lines from ``start`` within ``budget`` (its blocks if
    it has ``iter_blocks``)."""
    iter_raw = source.iter_raw
    iter_blocks = getattr(source, "iter_blocks", None)
    return RawReader(
        lambda: iter_raw(start, budget),
        None if iter_blocks is None else lambda: iter_blocks(start, budget),
        start,
    )


def _decoded(lines: Iterable[bytes]) -> Iterator[Event]:
    for line in lines:
        rec = decode_record(line, 0)
        if type(rec) is Record:
            yield rec.event


def _all_lines(
    read: Callable[[], Iterable[RawChunk]],
    containing: bytes | None = None,
    seen: list[int | None] | None = None,
) -> Iterator[bytes]:
    """Every line of ``read()``'s chunks, or only those ``containing`` a marker.

    The marker filter runs in C (``compress`` over ``map``): the pre-pass looks
    at every line of the log and keeps a few. ``seen[0]`` counts the lines read
    (None after a record too large for the budget).
    """
    it = iter(read())
    try:
        while True:
            try:
                lines = next(it).lines
            except StopIteration:
                return
            except RecordTooLarge:
                if seen is not None:
                    seen[0] = None
                return
            if seen is not None and seen[0] is not None:
                seen[0] += len(lines)
            if containing is None:
                yield from lines
            else:
                yield from compress(lines, map(bytes.__contains__, lines, repeat(containing)))
            # dropped before the next chunk is read: one chunk in memory, not two
            del lines
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def _marked_lines(
    read: Callable[[], Iterable[RawBlock]], marker: bytes, seen: list[int | None] | None = None
) -> Iterator[bytes]:
    """The lines of ``read()``'s blocks that contain ``marker``, in order, each once.

    One ``find`` runs over a whole block (every line of a block ends with a
    newline); a hit's line is cut out between the newlines around it, and the
    search goes on after that line. A record too large for the budget ends it.
    ``seen[0]``: the position after the last line, as the store's blocks return
    it (port; None after a record too large, or if they do not).
    """
    it = iter(read())
    try:
        while True:
            try:
                block = next(it)
            except StopIteration as done:
                if seen is not None:
                    seen[0] = done.value if type(done.value) is int else None
                return
            except RecordTooLarge:
                if seen is not None:
                    seen[0] = None
                return
            find = block.find
            i = find(marker)
            while i >= 0:
                end = find(b"\n", i)
                yield bytes(block[block.rfind(b"\n", 0, i) + 1 : end])
                i = find(marker, end + 1)
            # dropped before the next block is read: one block in memory, not two
            del block, find
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def plan_of_chunks(read: Callable[[], Iterable[RawChunk]]) -> EffectivePlan:
    """The plan of a log whose raw chunks ``read()`` yields from position 0.

    Decodes only the lines marked as Merge events with resolutions (module doc;
    a merge that only joins heads decides nothing), found in the raw blocks
    when ``read`` is a ``RawReader`` that has them. A record too large for the
    chunk budget ends the pre-pass there (replay reports it).
    """
    resolutions: dict[str, tuple[str, Resolution]] = {}
    blocks = getattr(read, "blocks", None)
    seen: list[int | None] = [0]
    marked = (
        _marked_lines(blocks, _RESOLVING, seen)
        if blocks is not None
        else _all_lines(read, _RESOLVING, seen)
    )
    for line in marked:
        rec = decode_record(line, 0)
        if type(rec) is Record and isinstance(rec.event.change, Merge):
            for r in rec.event.change.resolutions:
                resolutions[r.conflict_key] = (rec.event.id, r)  # later in log order overrides
    plan = _plan(resolutions)
    if type(read) is not RawReader or seen[0] is None:
        return plan
    # a store's lines, which can grow: where this read of them ended
    return replace(plan, end=seen[0] if blocks is not None else read.start + seen[0])


def events_of_chunks(read: Callable[[], Iterable[RawChunk]]) -> Callable[[], Iterator[Event]]:
    """A re-reader of every decodable event of raw chunks (a stream's ``reread``)."""
    return lambda: _decoded(_all_lines(read))


def lines_of_chunks(read: Callable[[], Iterable[RawChunk]]) -> Iterator[bytes]:
    """Every raw line of ``read()``'s chunks, up to a record too large for the budget."""
    return _all_lines(read)


def _visit_line(scanner: DuplicateScanner, line: bytes) -> None:
    """Visit one raw record line: creations parsed, other events by their ids only."""
    k = line.find(_KIND_KEY)  # the first "kind" of a canonical record is its change's
    try:
        if k >= 0 and line.startswith(_TWICE_KINDS, k):
            rec = decode_record(line, 0)
            if type(rec) is Record:
                scanner.visit(rec.event)
        elif k >= 0 and line.startswith(_CREATE_KINDS, k):
            _visit_creation(scanner, line)
        else:
            facts = _line_facts(line)
            if facts is not None:
                scanner.visit_facts(*facts)
    except (InvalidEvent, ValueError, TypeError, KeyError):
        pass  # damaged: the replay reports this record by its own policy


_ID_KEY, _ORIGIN_KEY, _PARENTS_KEY, _WORKSPACE_KEY = (
    b',"id":"',
    b'","origin":"',
    b'","parents":[',
    b'],"workspace":"',
)


def _line_facts(line: bytes) -> tuple[str, str, list[str]] | None:
    """``(id, origin, parents)`` of a canonical record line, read off its tail (unverified).

    Canonical JSON sorts the event's keys (``change`` < ``format`` < ``hlc`` <
    ``id`` < ``origin`` < ``parents`` < ``workspace``) and escapes every quote
    inside a string, so the last ``,"id":"`` of a line is the event's id key.
    """
    i = line.rfind(_ID_KEY)
    if i < 0:
        return None
    j = line.find(_ORIGIN_KEY, i)
    k = line.find(_PARENTS_KEY, j)
    m = line.find(_WORKSPACE_KEY, k)
    if j < 0 or k < 0 or m < 0:
        return None
    try:
        event_id = line[i + len(_ID_KEY) : j].decode()
        origin = line[j + len(_ORIGIN_KEY) : k].decode()
        body = line[k + len(_PARENTS_KEY) : m]
        parents = [p.decode() for p in body[1:-1].split(b'","')] if body else []
    except UnicodeDecodeError:
        return None
    return event_id, origin, parents


def _visit_creation(scanner: DuplicateScanner, line: bytes) -> None:
    """A create/add record: its ids and name from the parsed JSON; its event only if needed."""
    event = json.loads(line)["event"]
    change = event["change"]
    if change["kind"] == "add_property":
        name, add_to = change["property"]["name"], change["table_id"]
    else:
        name, add_to = change["name"], None
    if type(name) is not str or type(event["id"]) is not str:
        raise TypeError("not an event")
    scanner.visit_creation(event["id"], event["origin"], event["parents"], name, add_to, line)


def effective_events(
    events: Iterable[Event], plan: EffectivePlan | None = None
) -> Iterator[tuple[Event, Event | None, tuple[str, str] | None]]:
    """``(event, event to apply or None, skip (kind, reason) or None)`` in log order.

    The caller applies: a creation it leaves out with a loser is not known here, so
    a copy of it does not take its place (a replay tells its stream: ``left_out``), and
    no rejection is asked whether it makes a change again (``EffectiveStream.repeats``)."""
    p = plan if plan is not None else plan_of_events(events)
    events = p.read(events)  # a store's: no record appended after the pre-pass (its end)
    reread = (lambda: events) if iter(events) is not events else None
    stream = p.stream(reread)
    for event in events:
        eff, why = stream.step(event)
        yield event, eff, why
