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
  duplicate's table/property ids is applied to the first creation's ids;
* everything else is applied as it is (descendants of losers included: they
  stay if they still apply).

``EffectivePlan`` holds the losers and duplicates/aliases of one log,
``plan.step(event)`` maps a decoded event to ``(event to apply, None)`` or
``(None, (kind, reason))``. The plan is a function of the whole log, found by a
pre-pass; ``plan_of_events`` (an event sequence) and ``plan_of_chunks`` (raw
chunks that can be read twice: a store, a list) compute it.

How the pre-pass stays cheap
    Losers: only lines that contain the bytes ``"kind":"merge"`` are decoded
    (the canonical encoding writes every change kind exactly so, and a string
    value cannot contain those bytes unescaped). For a conflict key named by
    several resolutions the last in log order counts -- the rule of
    ``merge._effective_resolutions`` (a merged log is in causal order; any log
    appended by writers that see their parents is a topological order, where
    "last" is log order).

    Duplicates: defined by ``merge._analyze_facts`` itself (concurrency by
    vector clocks, "identical" by merge's definition fingerprints), which this
    module imports rather than re-derives. That analysis needs the whole
    parent DAG, so it runs only when a duplicate is possible at all: when some
    table name key (``names.catalog_key``) is created twice, or one property
    name added twice to one table id. Only lines carrying a create/add kind are
    decoded to find out. A log without such a repeat (every linear log built by
    one writer's checked appends, most merged logs) costs one scan of the raw
    lines; a log with one costs a second pass that decodes every line and keeps
    compact per-event facts (id, origin, parents, a small spec): O(events)
    memory, like merge itself. (A state-based "the name is taken by an
    identical table" test would be streaming, but it is not merge's rule: a
    first copy renamed or dropped concurrently before the duplicate in causal
    order is still aliased by merge.)

    Records that do not decode are left out of the plan; the replay reports
    them by its own policy.

One-shot sources (a generator of chunks or events) cannot be read twice:
without an explicit ``plan`` they replay with the empty plan (plain record by
record semantics). Merged-log semantics need a store, a list, or a plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import cast

from schemalog.codec import Record, decode_record
from schemalog.events import AddProperty, CreateNodeTable, CreateRelTable, Event, Merge, Resolution
from schemalog.merge import Facts, Plan, _analyze_facts, _spec, effective_event
from schemalog.names import catalog_key
from schemalog.store.errors import RecordTooLarge
from schemalog.store.port import RawChunk

__all__ = [
    "DUPLICATE",
    "EMPTY_PLAN",
    "LOSER",
    "EffectivePlan",
    "PlanBuilder",
    "effective_events",
    "plan_of_chunks",
    "plan_of_events",
]

LOSER = "loser"
DUPLICATE = "duplicate"
MERGE_MARK = b'"kind":"merge"'
_CREATE_MARKS = (
    b'"kind":"create_node_table"',
    b'"kind":"create_rel_table"',
    b'"kind":"add_property"',
)


@dataclass(frozen=True)
class EffectivePlan:
    """Losers and duplicates (with their id aliases) of one log; see the module doc.

    ``merged``: the log has a resolution or a duplicate, i.e. its effective
    stream is not the raw one.
    """

    plan: Plan
    merged: bool
    skip_ids: frozenset[str] = field(init=False)
    aliasing: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "skip_ids", frozenset(self.plan.losers) | frozenset(self.plan.duplicates)
        )
        object.__setattr__(self, "aliasing", bool(self.plan.table_alias or self.plan.prop_alias))

    def skip(self, event_id: str) -> tuple[str, str] | None:
        """``(kind, reason)`` when the effective stream leaves ``event_id`` out."""
        if event_id not in self.skip_ids:
            return None
        reason = self.plan.skip_reason(event_id)
        assert reason is not None
        return (LOSER if event_id in self.plan.losers else DUPLICATE), reason

    def effective(self, event: Event) -> Event:
        """``event`` with aliased ids (call only for events ``skip`` keeps)."""
        if not self.aliasing:
            return event
        out = effective_event(event, self.plan)
        assert out is not None
        return out

    def step(self, event: Event) -> tuple[Event | None, tuple[str, str] | None]:
        """``(event to apply, None)`` or ``(None, (kind, reason))``."""
        why = self.skip(event.id)
        if why is not None:
            return None, why
        return self.effective(event), None


EMPTY_PLAN = EffectivePlan(Plan({}, {}, {}, {}), False)


class PlanBuilder:
    """Collects, in log order, what decides whether the full duplicate analysis is needed."""

    def __init__(self) -> None:
        self.resolutions: dict[str, Resolution] = {}
        self.table_names: set[str] = set()
        self.prop_names: set[tuple[str, str]] = set()
        self.repeat = False  # a duplicate is possible: run the analysis

    def feed(self, event: Event) -> None:
        c = event.change
        if isinstance(c, Merge):
            for r in c.resolutions:
                self.resolutions[r.conflict_key] = r  # later in log order overrides
        elif isinstance(c, CreateNodeTable | CreateRelTable):
            key = catalog_key(c.name)
            if key in self.table_names:
                self.repeat = True
            self.table_names.add(key)
        elif isinstance(c, AddProperty):
            pkey = (c.table_id, catalog_key(c.property.name))
            if pkey in self.prop_names:
                self.repeat = True
            self.prop_names.add(pkey)

    def losers(self) -> dict[str, str]:
        """Loser id -> conflict key, as ``merge.resolution_plan`` names them."""
        out: dict[str, str] = {}
        for key, res in sorted(self.resolutions.items()):
            for loser in res.losers:
                out.setdefault(loser, key)
        return out

    def finish(self, all_events: Callable[[], Iterable[Event]] | None) -> EffectivePlan:
        """The plan; ``all_events`` re-reads every event (log order) if a duplicate is possible."""
        losers = self.losers()
        if self.repeat and all_events is not None:
            duplicates, table_alias, prop_alias = _duplicates(all_events())
        else:
            duplicates, table_alias, prop_alias = {}, {}, {}
        plan = Plan(losers, duplicates, table_alias, prop_alias)
        return EffectivePlan(plan, bool(losers or duplicates))


_NO_EVENT = cast(Event, None)  # conflicts found on the way are discarded: no events for them


def _duplicates(
    events: Iterable[Event],
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """merge's duplicate analysis over a log in its order (compact facts; see module doc)."""
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
    analysis = _analyze_facts(range(len(ids)), facts)
    return analysis.duplicates, analysis.table_alias, analysis.prop_alias


def plan_of_events(events: Iterable[Event]) -> EffectivePlan:
    """The plan of a log given as events in log order; read twice when duplicates are possible.

    A one-shot iterator is read once: if a duplicate is possible its plan
    cannot be completed, and the empty plan is returned for it (see the module
    doc); pass a sequence.
    """
    if iter(events) is events:
        return EMPTY_PLAN
    builder = PlanBuilder()
    for event in events:
        builder.feed(event)
    return builder.finish(lambda: events)


def _decoded(lines: Iterable[bytes]) -> Iterator[Event]:
    for line in lines:
        rec = decode_record(line, 0)
        if type(rec) is Record:
            yield rec.event


def _all_lines(read: Callable[[], Iterable[RawChunk]]) -> Iterator[bytes]:
    it = iter(read())
    try:
        while True:
            try:
                chunk = next(it)
            except (StopIteration, RecordTooLarge):
                return
            yield from chunk.lines
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def plan_of_chunks(read: Callable[[], Iterable[RawChunk]]) -> EffectivePlan:
    """The plan of a log whose raw chunks ``read()`` yields from position 0 (callable twice).

    Decodes only the lines marked as Merge or create/add events, then, if a
    duplicate is possible, every line once more (module doc). A record too
    large for the chunk budget ends the pre-pass there (replay reports it).
    """
    builder = PlanBuilder()
    merge_mark, (node_mark, rel_mark, prop_mark) = MERGE_MARK, _CREATE_MARKS
    for line in _all_lines(read):
        if merge_mark in line or node_mark in line or rel_mark in line or prop_mark in line:
            rec = decode_record(line, 0)
            if type(rec) is Record:
                builder.feed(rec.event)
    return builder.finish(lambda: _decoded(_all_lines(read)))


def effective_events(
    events: Iterable[Event], plan: EffectivePlan | None = None
) -> Iterator[tuple[Event, Event | None, tuple[str, str] | None]]:
    """``(event, event to apply or None, skip (kind, reason) or None)`` in log order."""
    p = plan if plan is not None else plan_of_events(events)
    for event in events:
        eff, why = p.step(event)
        yield event, eff, why
