"""Writing on the view a writer has seen: concurrent appends, their conflicts, Merge events.

A writer (a ``SchemaLog`` handle, a browser tab's ``Workspace``) keeps a
*view*: the replay of the log as far as it has read it (a ``ReplayReport``).
A change is made against that view -- the names the person saw, the heads the
writer had -- and stamped with the view's DAG heads as parents. The view may
be stale: another tab appended and this one has not yet processed the
BroadcastChannel news, or the writer was offline. Nothing is rebased: the
event says truthfully what its writer had seen.

``append_on_view(store, view, events, strategy)``

1. Fast path: the log has not moved since the view (``expected`` = the view's
   head); one event is appended as it is, nothing else to do.
2. Otherwise the records after the view are events the writer did not see;
   the new events are concurrent with every one of them (their parents lie
   inside the view, so none of the unseen ones is an ancestor). The project's
   merge machinery (``merge.merge_events``: union, causal order,
   ``conflicts.find_conflicts``' analysis, the strategy's choice,
   ``merge.resolution_event``) runs over the log plus the new events; the
   conflicts that involve a new event are this write's, and the resolution
   events it creates for them (strategy ``reject``: none, the conflict stays
   open for a person to decide with ``resolve``) are appended in the SAME
   batch as the events, at the log's current head, with the writer's fencing
   token. A log therefore never holds a conflicting write without the
   resolution the writer's strategy gives it. If yet another writer appended
   in between, the analysis runs again on the longer log (bounded attempts).

The result is a ``Written`` value: the events, how many unseen records they
met, the conflicts (as ``merge.ConflictReport``) and the resolution events.

Cost: the fast path is one append. A write on a stale view reads and decodes
the whole log once (merge needs the closed parent DAG for concurrency and
duplicate aliases); such writes are the rare case, and browser logs are small.

Replaying after such writes: a Merge record can make an event *before* it a
loser, so a view cannot simply resume past it; ``catch_up`` resumes, and
replays the whole log when the new records hold a Merge event (the same rule
as snapshots: ``snapshot.replay_with_snapshots``).

``log_conflicts(events)`` lists every conflict of a log and how it stands
(winner and resolution event, or unresolved): ``merge_events`` with
``reject`` resolves nothing and reports the log's own resolutions.
``resolve(store, conflict_key, winner)`` records a person's decision as the
deterministic Merge event of that conflict and winner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from schemalog.encoding.codec import Record
from schemalog.errors import SchemalogError
from schemalog.history.merge import (
    STRATEGIES,
    ConflictReport,
    Strategy,
    merge_events,
    resolution_event,
)
from schemalog.log.effective import EMPTY_PLAN, MERGE_MARK, EffectivePlan
from schemalog.log.replay import ReplayReport, replay, resume
from schemalog.log.store.errors import AppendConflict
from schemalog.log.store.port import EventStore, Head
from schemalog.model.events import Event

__all__ = [
    "ConcurrentWriteFailed",
    "UnknownConflict",
    "Written",
    "append_merged",
    "append_on_view",
    "catch_up",
    "check_strategy",
    "log_conflicts",
    "resolve",
]

ATTEMPTS = 8
_NO_RESOLUTIONS = EffectivePlan(EMPTY_PLAN.plan)  # no losers, duplicates found by the scan


class ConcurrentWriteFailed(SchemalogError):
    """Other writers kept appending while this write analysed the log, ``attempts`` times."""

    def __init__(self, event_ids: Sequence[str], attempts: int, last: AppendConflict) -> None:
        self.event_ids = tuple(event_ids)
        self.attempts = attempts
        super().__init__(
            f"could not append {', '.join(self.event_ids)}: the log moved under each of "
            f"{attempts} attempts (last: {last})"
        )


class UnknownConflict(SchemalogError):
    """``resolve`` named a conflict key the log does not have."""

    def __init__(self, key: str, known: Sequence[str]) -> None:
        self.key = key
        self.known = tuple(known)
        shown = ", ".join(self.known[:5]) or "none"
        super().__init__(f"no conflict {key!r} in the log (its conflicts: {shown})")


@dataclass(frozen=True, slots=True)
class Written:
    """What one write did: its events, the unseen records it met, conflicts, resolutions."""

    events: tuple[Event, ...]
    unseen: int  # records appended by others after the writer's view
    conflicts: tuple[ConflictReport, ...]  # conflicts involving these events
    resolutions: tuple[Event, ...]  # Merge events appended with them
    head: Head

    @property
    def concurrent(self) -> bool:
        return self.unseen > 0

    def to_obj(self) -> dict[str, Any]:
        return {
            "events": [e.id for e in self.events],
            "unseen": self.unseen,
            "conflicts": [c.to_obj() for c in self.conflicts],
            "resolutions": [e.id for e in self.resolutions],
            "position": self.head.position,
        }


def check_strategy(strategy: Strategy) -> Strategy:
    """``strategy`` if it is one of merge's names or a callable; ValueError naming it if not."""
    if not callable(strategy) and strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or a callable, not {strategy!r}")
    return strategy


def _records(store: EventStore) -> list[Record]:
    out: list[Record] = []
    cursor: str | None = None
    while True:
        page = store.read(cursor, 1000)
        if not page.records:
            return out
        out.extend(page.records)
        cursor = page.cursor


def append_on_view(
    store: EventStore,
    view: ReplayReport,
    events: Sequence[Event],
    strategy: Strategy = "reject",
    *,
    fencing_token: int | None = None,
    attempts: int = ATTEMPTS,
) -> Written:
    """Append ``events`` (stamped on ``view``'s heads) and resolve what they conflict with."""
    if not events:
        raise ValueError("append_on_view needs at least one event")
    if len(events) == 1:
        try:
            head = store.append(list(events), expected=view.head, fencing_token=fencing_token)
            return Written(tuple(events), 0, (), (), head)
        except AppendConflict:
            pass  # the log moved since the view: a concurrent write
    return append_merged(
        store,
        events,
        strategy,
        seen=view.position,
        fencing_token=fencing_token,
        attempts=attempts,
    )


def append_merged(
    store: EventStore,
    events: Sequence[Event],
    strategy: Strategy = "reject",
    *,
    seen: int,
    fencing_token: int | None = None,
    attempts: int = ATTEMPTS,
) -> Written:
    """Step 2 of ``append_on_view``: append ``events`` at the log's current head with
    the resolutions of their conflicts. ``seen``: how many leading records of the
    log the writer had seen (the rest are the unseen ones). The sync of a browser's
    offline writes (``log.sync``) pushes through here."""
    mine = {e.id for e in events}
    last: AppendConflict | None = None
    for _ in range(attempts):
        records = _records(store)
        expected = records[-1].checksum if records else None
        logged = [r.event for r in records]
        result = merge_events([logged, events], strategy)
        conflicts = tuple(r for r in result.conflicts if mine.intersection(r.conflict.ids))
        added = tuple(e for e in result.added if mine.intersection(e.parents))
        try:
            head = store.append([*events, *added], expected=expected, fencing_token=fencing_token)
        except AppendConflict as exc:
            last = exc
            continue
        return Written(tuple(events), len(records) - seen, conflicts, added, head)
    assert last is not None
    raise ConcurrentWriteFailed([e.id for e in events], attempts, last)


def catch_up(store: EventStore, view: ReplayReport) -> ReplayReport:
    """The view moved to the log's head: resumed, or replayed whole past a new Merge record.

    O(new records) when the view carries its duplicate scan (a log without
    resolutions): the scan goes on from the view's position instead of a
    pre-pass and a warm-up over the whole log. The scan is handed over: the
    view must not be resumed again (on a stopped result, drop its scanner).
    """
    if view.scanner is not None and view.position > 0:
        # No resolution before the view (its scan exists only then); the delta is
        # checked for one below, so the plan of the log is the empty one.
        report = resume(store, view, plan=_NO_RESOLUTIONS, start_scanner=view.scanner)
    else:
        report = resume(store, view)
    if report.stopped is None and report.position > view.position and _merged(store, view.position):
        return replay(store)
    return report


def _merged(store: EventStore, start: int) -> bool:
    """Whether a record from ``start`` on is a Merge; one chunk in memory at a time,
    and none once it answers (a whole replay may follow)."""
    for chunk in store.iter_raw(start):
        found = any(MERGE_MARK in line for line in chunk.lines)
        del chunk  # before the next chunk is read: one chunk in memory, not two
        if found:
            return True
    return False


def log_conflicts(events: Iterable[Event]) -> tuple[ConflictReport, ...]:
    """Every conflict of a log and how it stands (``winner`` None: unresolved)."""
    return merge_events([events], "reject").conflicts


def resolve(
    store: EventStore,
    conflict_key: str,
    winner: str,
    *,
    fencing_token: int | None = None,
    attempts: int = ATTEMPTS,
) -> Event:
    """Append the Merge event that decides ``conflict_key`` for ``winner`` (idempotent)."""
    last: AppendConflict | None = None
    for _ in range(attempts):
        records = _records(store)
        reports = log_conflicts(r.event for r in records)
        found = [r for r in reports if r.conflict.key == conflict_key]
        if not found:
            raise UnknownConflict(conflict_key, [r.conflict.key for r in reports])
        event = resolution_event(found[0].conflict, winner)
        expected = records[-1].checksum if records else None
        try:
            store.append([event], expected=expected, fencing_token=fencing_token)
        except AppendConflict as exc:
            last = exc
            continue
        return event
    assert last is not None
    raise ConcurrentWriteFailed([conflict_key], attempts, last)
