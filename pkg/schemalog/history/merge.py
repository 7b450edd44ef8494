"""Merging the logs of several origins: union, conflicts, resolutions, partition recovery.

Union
    Events are united by id. The same id with other content is a forked or
    rewritten history and raises ForkedEvent naming both copies. The merged log
    is the union in causal order (ordering.causal_order), re-chained with
    codec.encode_record: a function of the SET of events alone, so merging the
    same inputs in any order or grouping, or a result with its own inputs
    again, gives the same bytes.

Concurrency and conflict kinds
    See conflicts.py: the element keys, the vector-clock concurrency test and
    the conflict kinds; this module unites, orders and resolves. The record-level
    path (merge_records.py) writes the same bytes without keeping events.

Specification: who wins (strategies per merge, optionally per kind)
    ``reject`` decides nothing (the conflict stays open, the merge exits 1),
    ``lww``/``fww`` pick the later/earlier event in causal order ((hlc,
    origin, id) between concurrent events), ``drop-wins``/``rename-wins`` the
    side whose change is a drop (DropTable, DropProperty) / a rename
    (RenameTable, RenameProperty), falling back to ``lww`` when neither or
    both sides are; a callable ``(Conflict) -> winner id | None`` decides
    itself. For a conflict decided on its own (rule 1 below):

    ======================== ====== ======= ======= ============= =============
    kind (first vs second)   reject lww     fww     drop-wins     rename-wins
    ======================== ====== ======= ======= ============= =============
    rename-rename            open   later   earlier later         later
    rename-drop              open   later   earlier the drop      the rename
    rename-to-created-name   open   later   earlier later         the rename
    name-clash               open   later   earlier later         later
    property-add-mismatch    open   later   earlier later         later
    change-on-dropped        open   later   earlier the drop [1]  the rename,
                                                                  else later
    create-create-mismatch   open   later   earlier later         later
    connection-drop-drop     open   later   earlier later         later
    ======================== ====== ======= ======= ============= =============

    [1] the change is itself a drop (a property dropped in the dropped
    table): both sides drop, so the later wins.

Causal consistency (decisions.py; the rules a merge guarantees)
    1. A conflict between X and Y on an element whose sides depend on an
       earlier conflict on that element between their own pasts (an event X
       depends on vs an event Y depends on; *depends*: itself or an ancestor
       touching that element -- the same table, property, name, or a rename
       chain of it) is decided as the earliest such conflict was: the side
       that won there wins here. So an add_property and a later rename of
       that property on one side lose or win together against a concurrent
       drop of their table. Otherwise the table above decides (or a
       resolution already in the set).
    2. A loser is left out of the merged schema; every event that causally
       follows it without knowing the decision (it descends from the loser,
       not from the Merge event that decided it: an event built on both sides
       of a conflict still open when its writer saw them knows no decision
       either) and that the schema then rejects, because
       it needs what the loser created or changed, is left out with it
       (``with-loser``: replay and ``replay_merged``). Descendants that still
       apply are kept (dropping every descendant would discard whole branches
       of unrelated work).
    3. Hence the invariant, tested as a property over synthetic replicas and
       adversarial forks (tests/test_merge_replays.py): a merge that reports
       no open conflict replays with ``ok`` and no ``concurrent`` rejection,
       and its state applies to a fresh Kuzu database without drift.

Resolutions
    One Merge event per resolved conflict pair, parents = the two conflicting
    events (the heads it joins, as far as that conflict is concerned), origin
    ``merge-<20 hex of sha256(conflict key, winner)>``, hlc = the greater parent
    hlc + 1 logical. It depends on the pair and the choice alone, and the
    choice on the pair and its ancestors alone (rule 1), so replicas
    resolving the same conflict the same way produce byte-identical events
    (the union collapses them), and merging is associative: a conflict found
    in any grouping yields the same event. A conflict already carrying a
    resolution in the set is not resolved again. When several resolutions
    name one conflict key (replicas chose differently, or a person re-decided
    later), the last in causal order counts.

How a merged log replays (``replay_merged`` / ``resolution_plan``)
    Events apply in causal order, except: a loser of an effective resolution
    is not applied; a duplicate (a creation, a drop, a connection change made
    twice concurrently, conflicts.py) is not applied and a duplicate
    creation's ids alias the first's (a duplicate drop or connection change
    whose first copy lost takes its place when none of its other twins
    applies: ``takes_over``); a rejected event that goes with a loser
    (rule 2) is left out with it. Any other rejection is a failure of the log
    (a forged or hand-edited one): replay names it, kind ``concurrent``.

    A duplicate of a table or property creation takes its place when no copy
    before it holds it: the first copy, and every copy that took its place
    since, was left out (a loser, or rejected and left out with a loser). It
    applies with its own ids, and from then on every copy's ids (the first's
    too) name it (history/holders.py). Its writer made that change whatever
    became of the other copies; the analysis held all copies for one element,
    so their conflicts are already decided. A copy rejected for another
    reason keeps the place (so a log without resolutions never moves one).
    The decision reads the log's order, its resolutions and what replay left
    out before: both replays keep one ``Holders`` and decide alike.

    A change made again is a duplicate: in a log with resolutions, a rejected
    event that goes with no loser, whose change is in effect because the
    identical change in its own past applied (a table or property created
    again under a name the identical one its past made holds; a table or
    property dropped again after a drop of it in its past), is not applied,
    and its ids name what the first made (history/holders.py). Whether an
    event goes with a loser reads the state, so the order concurrent events
    replay in: a writer whose log replayed the first before a concurrent event
    it needed saw it left out and made it again; in causal order the first
    applies. This only turns what would be a failure into a skip.

Partition recovery
    See replica.py (``Replica``, ``PrefixRewritten``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from schemalog.encoding.codec import (
    Record,
    canonical_bytes,
    check_chain,
    checksum,
    decode_record_or_raise,
    encode_record,
    event_bytes,
    state_hash,
)
from schemalog.errors import SchemalogError
from schemalog.history.conflicts import (
    Conflict,
    _Analysis,
    _analyze,
    _analyze_facts,
    _facts,
    find_conflicts,
)
from schemalog.history.decisions import Clock, clocks_of, decide
from schemalog.history.holders import Holders, Redirected, descends
from schemalog.history.ordering import ForkedEvent, MissingParents, causal_order, sort_key
from schemalog.model.clock import Timestamp
from schemalog.model.events import (
    FORMAT,
    AddConnection,
    AddProperty,
    CommentOnTable,
    Connection,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
    RenameProperty,
    RenameTable,
    Resolution,
    SetSortedBy,
    event_id,
)
from schemalog.model.schema import Applied, SchemaState, apply, empty_state

__all__ = [
    "CONFLICT_KINDS",
    "STRATEGIES",
    "BadResolution",
    "Conflict",
    "ConflictReport",
    "ForkedEvent",
    "MergeResult",
    "MergedReplay",
    "MissingParents",
    "Plan",
    "WorkspaceMismatch",
    "decode_log",
    "effective_event",
    "find_conflicts",
    "merge_events",
    "merge_logs",
    "replay_merged",
    "resolution_event",
    "resolution_plan",
]

CONFLICT_KINDS = (
    "change-on-dropped",
    "connection-drop-drop",
    "create-create-mismatch",
    "name-clash",
    "property-add-mismatch",
    "rename-drop",
    "rename-rename",
    "rename-to-created-name",
)
STRATEGIES = ("reject", "lww", "fww", "drop-wins", "rename-wins")
MERGE_ORIGIN_PREFIX = "merge-"


class BadResolution(SchemalogError):
    """A strategy named a winner that is not one of the conflict's events, or is unknown."""

    def __init__(self, conflict_key: str, reason: str) -> None:
        self.conflict_key = conflict_key
        self.reason = reason
        super().__init__(f"cannot resolve {conflict_key}: {reason}")


class WorkspaceMismatch(SchemalogError):
    """Logs of different workspaces cannot merge."""

    def __init__(self, workspaces: tuple[str, ...]) -> None:
        self.workspaces = workspaces
        super().__init__(f"cannot merge events of several workspaces: {', '.join(workspaces)}")


Strategy = str | Callable[[Conflict], str | None]


@dataclass(frozen=True, slots=True)
class ConflictReport:
    """A conflict and how it stands after the merge."""

    conflict: Conflict
    winner: str | None  # None: unresolved
    losers: tuple[str, ...]
    resolved_by: str | None  # id of the Merge event recording the resolution
    new: bool  # the resolution event was created by this merge

    def to_obj(self, sides: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
        """JSON-able; ``sides``: conflict key -> both sides in words (sides.describe_sides)."""
        c = self.conflict
        obj = {
            "kind": c.kind,
            "key": c.key,
            "element": c.element,
            "events": list(c.ids),
            "winner": self.winner,
            "losers": list(self.losers),
            "resolved_by": self.resolved_by,
            "new": self.new,
        }
        if sides is not None:
            obj["sides"] = list(sides.get(c.key, c.ids))
        return obj


@dataclass(frozen=True, slots=True)
class MergeResult:
    events: tuple[Event, ...]  # causal order
    conflicts: tuple[ConflictReport, ...]
    added: tuple[Event, ...]  # resolution events this merge created
    _lines: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @property
    def unresolved(self) -> tuple[ConflictReport, ...]:
        return tuple(r for r in self.conflicts if r.winner is None)

    def lines(self) -> list[bytes]:
        """The merged log's records (hash chained, no newlines)."""
        if not self._lines and self.events:
            prev: str | None = None
            for event in self.events:
                line = encode_record(event, prev)
                prev = line_checksum(line)
                self._lines.append(line)
        return self._lines

    def to_bytes(self) -> bytes:
        return b"".join(line + b"\n" for line in self.lines())


def line_checksum(line: bytes) -> str:
    """The checksum of a canonical record line (it opens with ``{"checksum":"<sum>"``)."""
    return line[13 : line.index(b'"', 13)].decode("ascii")


# ---------------------------------------------------------------- resolutions


def _choose(conflict: Conflict, strategy: Strategy) -> str | None:
    a, b = conflict.first, conflict.second
    if callable(strategy):
        winner = strategy(conflict)
        if winner is not None and winner not in conflict.ids:
            raise BadResolution(conflict.key, f"winner {winner!r} is not one of {conflict.ids}")
        return winner
    if strategy == "reject":
        return None
    if strategy == "fww":
        return a.id
    if strategy in ("drop-wins", "rename-wins"):
        kinds = (
            (DropTable, DropProperty) if strategy == "drop-wins" else (RenameTable, RenameProperty)
        )
        hits = [e.id for e in (a, b) if isinstance(e.change, kinds)]
        if len(hits) == 1:
            return hits[0]
        return b.id
    if strategy == "lww":
        return b.id
    raise BadResolution(conflict.key, f"unknown strategy {strategy!r} (one of {STRATEGIES})")


def resolution_event(conflict: Conflict, winner: str) -> Event:
    """The deterministic Merge event recording ``winner`` for ``conflict``."""
    if winner not in conflict.ids:
        raise BadResolution(conflict.key, f"winner {winner!r} is not one of {conflict.ids}")
    a, b = conflict.first, conflict.second
    loser = a.id if winner == b.id else b.id
    digest = hashlib.sha256(canonical_bytes([conflict.key, winner])).hexdigest()[:20]
    origin = MERGE_ORIGIN_PREFIX + digest
    top = max(a.hlc, b.hlc)
    hlc = Timestamp(top.wall_ms, top.logical + 1, origin)
    return Event(
        event_id(origin, hlc),
        a.workspace,
        origin,
        hlc,
        tuple(sorted((a.id, b.id))),
        FORMAT,
        Merge((Resolution(conflict.key, winner, (loser,)),)),
    )


def _effective_resolutions(
    ordered: Sequence[Event],
) -> dict[str, tuple[str, Resolution]]:
    out: dict[str, tuple[str, Resolution]] = {}
    for event in ordered:
        if isinstance(event.change, Merge):
            for r in event.change.resolutions:
                out[r.conflict_key] = (event.id, r)  # later in causal order overrides
    return out


def _resolve(
    analysis: _Analysis,
    clocks: Callable[[set[str]], Mapping[str, Clock]],
    existing: Mapping[str, tuple[str, Resolution]],
    strategy: Strategy,
    per_kind: Mapping[str, Strategy] | None,
) -> tuple[list[ConflictReport], dict[str, Event]]:
    """Reports of every conflict and the resolution events new to the set (decisions.py)."""

    def choose(conflict: Conflict) -> str | None:
        return _choose(conflict, (per_kind or {}).get(conflict.kind, strategy))

    recorded = {key: res.winner for key, (_, res) in existing.items()}
    winners = decide(
        analysis.conflicts,
        clocks,
        analysis.table_alias,
        analysis.prop_alias,
        recorded,
        choose,
    )
    reports: list[ConflictReport] = []
    added: dict[str, Event] = {}
    for conflict, winner in zip(analysis.conflicts, winners, strict=True):
        done = existing.get(conflict.key)
        if done is not None:
            mid, res = done
            reports.append(ConflictReport(conflict, res.winner, res.losers, mid, False))
            continue
        if winner is None:
            reports.append(ConflictReport(conflict, None, (), None, False))
            continue
        event = resolution_event(conflict, winner)
        added[event.id] = event
        res = event.change.resolutions[0]  # type: ignore[union-attr]
        reports.append(ConflictReport(conflict, winner, res.losers, event.id, True))
    return reports, added


def merge_events(
    inputs: Iterable[Iterable[Event]],
    strategy: Strategy = "reject",
    per_kind: Mapping[str, Strategy] | None = None,
) -> MergeResult:
    """Union of the inputs plus one resolution event per newly resolved conflict."""
    union: dict[str, Event] = {}
    for log_no, events in enumerate(inputs):
        for event in events:
            seen = union.get(event.id)
            if seen is None:
                union[event.id] = event
            elif seen != event:
                raise ForkedEvent(
                    event.id,
                    checksum(event_bytes(seen)),
                    checksum(event_bytes(event)),
                    f"input {log_no}",
                )
    workspaces = tuple(sorted({e.workspace for e in union.values()}))
    if len(workspaces) > 1:
        raise WorkspaceMismatch(workspaces)
    ordered = causal_order(union.values())
    facts = _facts(ordered)
    order = range(len(ordered))
    analysis = _analyze_facts(order, facts)
    existing = _effective_resolutions(ordered)
    reports, added = _resolve(analysis, clocks_of(order, facts), existing, strategy, per_kind)
    if added:
        ordered = causal_order([*ordered, *added.values()])
    new = tuple(sorted(added.values(), key=sort_key))
    return MergeResult(tuple(ordered), tuple(reports), new)


# ---------------------------------------------------------------- logs


def decode_log(lines: Iterable[bytes]) -> list[Record]:
    """Decode and chain-verify one log's lines (raises DecodeError / ChainBroken)."""
    records = [decode_record_or_raise(line, i) for i, line in enumerate(lines) if line.strip()]
    check_chain(records)
    return records


def merge_logs(
    logs: Sequence[Sequence[Record]],
    strategy: Strategy = "reject",
    per_kind: Mapping[str, Strategy] | None = None,
) -> MergeResult:
    """Merge decoded logs; each must chain; a forked id names both logs and positions."""
    where: dict[str, tuple[int, int, Event]] = {}
    for log_no, records in enumerate(logs):
        check_chain(records)
        for pos, rec in enumerate(records):
            seen = where.get(rec.event.id)
            if seen is None:
                where[rec.event.id] = (log_no, pos, rec.event)
            elif seen[2] != rec.event:  # record checksums are per log (v2): compare events
                raise ForkedEvent(
                    rec.event.id,
                    checksum(event_bytes(seen[2])),
                    checksum(event_bytes(rec.event)),
                    f"log {seen[0]} record {seen[1]} vs log {log_no} record {pos}",
                )
    return merge_events(([r.event for r in records] for records in logs), strategy, per_kind)


# ---------------------------------------------------------------- replaying a merged log


@dataclass(frozen=True, slots=True)
class Plan:
    """What replay of a merged set skips and how it renames ids (see module docstring)."""

    losers: Mapping[str, str]  # loser event id -> conflict key
    duplicates: Mapping[str, str]  # duplicate creation id -> the creation it duplicates
    table_alias: Mapping[str, str]
    prop_alias: Mapping[str, str]
    winners: Mapping[str, str] = field(default_factory=dict)  # loser id -> its winner
    deciders: Mapping[str, str] = field(default_factory=dict)  # loser id -> the Merge deciding
    # a duplicate -> its other concurrent identical twins (when it has more than one)
    twins: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def skip_reason(self, event_id: str, event: Event | None = None) -> str | None:
        """Why the plan leaves ``event_id`` out (None: applied). Give ``event`` for a
        duplicate: a repeated drop or connection change of a loser takes its place."""
        if event_id in self.losers:
            return f"loser of {self.losers[event_id]}"
        if event_id in self.duplicates:
            if event is not None and takes_over(event, self.losers, self.duplicates, self.twins):
                return None
            return f"duplicate of {self.duplicates[event_id]}"
        return None


def takes_over(
    event: Event,
    losers: Mapping[str, str],
    duplicates: Mapping[str, str],
    twins: Mapping[str, Sequence[str]],
) -> bool:
    """A duplicate that applies after all: the same drop or connection change made
    concurrently, whose first copy lost (nothing to alias, so the copy takes its
    place: its writer made that change whatever became of the other's).

    Only when none of its other twins (``twins``: every concurrent identical
    change before it, conflicts.py) applies: a twin that is no loser and no
    duplicate, or a copy that takes the place itself. Otherwise that twin made
    the change already, and a second copy applied would be rejected (a drop of
    something dropped). Two copies of one lost drop are each other's twins, so
    the first that is not a loser takes the place; and a writer's stale copy of
    a lost drop stays a duplicate when another writer, who saw the decision, made
    the drop again concurrently. A function of the log's causal structure and
    its resolutions alone: replay, ``replay_merged`` and a resumed replay agree.
    """
    if duplicates.get(event.id) is None or isinstance(
        event.change, CreateNodeTable | CreateRelTable | AddProperty
    ):
        return False
    return _replaces(event.id, losers, duplicates, twins, {})


def _replaces(
    x: str,
    losers: Mapping[str, str],
    duplicates: Mapping[str, str],
    twins: Mapping[str, Sequence[str]],
    memo: dict[str, bool],
) -> bool:
    """``takes_over`` by id (memoized: a copy's twins are earlier copies, asked again)."""
    done = memo.get(x)
    if done is not None:
        return done
    first = duplicates[x]
    out = first in losers and not any(
        t not in losers and (t not in duplicates or _replaces(t, losers, duplicates, twins, memo))
        for t in twins.get(x, ())
    )
    memo[x] = out
    return out


def resolution_plan(events: Iterable[Event]) -> Plan:
    ordered = causal_order(events)
    analysis = _analyze(ordered)
    losers: dict[str, str] = {}
    winners: dict[str, str] = {}
    deciders: dict[str, str] = {}
    for key, (mid, res) in sorted(_effective_resolutions(ordered).items()):
        for loser in res.losers:
            if loser not in losers:
                losers[loser], winners[loser], deciders[loser] = key, res.winner, mid
    return Plan(
        losers,
        analysis.duplicates,
        analysis.table_alias,
        analysis.prop_alias,
        winners,
        deciders,
        analysis.twins,
    )


def effective_event(event: Event, plan: Plan, skip: bool = True) -> Event | None:
    """The event replay should apply (ids aliased), or None when the plan skips it
    (``skip`` False: the caller decided it applies)."""
    if skip and plan.skip_reason(event.id, event) is not None:
        return None
    t, p = plan.table_alias, plan.prop_alias
    if not t and not p:
        return event
    # Replay calls this for every event once a log has a duplicate: most name
    # no aliased id, and those return at once, before any object is built.
    c = event.change
    new: Any
    if isinstance(c, AddProperty | RenameTable | DropTable | CommentOnTable):
        if c.table_id not in t:
            return event
        new = replace(c, table_id=t[c.table_id])
    elif isinstance(c, DropProperty | RenameProperty):
        if c.table_id not in t and c.property_id not in p:
            return event
        new = replace(
            c,
            table_id=t.get(c.table_id, c.table_id),
            property_id=p.get(c.property_id, c.property_id),
        )
    elif isinstance(c, AddConnection | DropConnection):
        x = c.connection
        if c.table_id not in t and x.from_table_id not in t and x.to_table_id not in t:
            return event
        new = replace(c, table_id=t.get(c.table_id, c.table_id), connection=_aliased(x, t))
    elif isinstance(c, SetSortedBy):
        if c.table_id not in t and all(k.property_id not in p for k in c.keys):
            return event
        keys = tuple(replace(k, property_id=p.get(k.property_id, k.property_id)) for k in c.keys)
        new = replace(c, table_id=t.get(c.table_id, c.table_id), keys=keys)
    elif isinstance(c, CreateRelTable):
        if all(x.from_table_id not in t and x.to_table_id not in t for x in c.connections):
            return event
        new = replace(c, connections=tuple(sorted({_aliased(x, t) for x in c.connections})))
    else:
        return event
    return event if new == c else replace(event, change=new)


def _aliased(x: Connection, table_alias: Mapping[str, str]) -> Connection:
    return Connection(
        table_alias.get(x.from_table_id, x.from_table_id),
        table_alias.get(x.to_table_id, x.to_table_id),
    )


@dataclass(frozen=True, slots=True)
class MergedReplay:
    state: SchemaState
    state_hash: str
    applied: int
    skipped: tuple[tuple[str, str], ...]  # (event id, reason)


def replay_merged(events: Iterable[Event], state: SchemaState | None = None) -> MergedReplay:
    """Reference replay of a merged set: causal order, losers and duplicates out, aliases in."""
    ordered = causal_order(events)
    plan = resolution_plan(ordered)
    parents = {e.id: e.parents for e in ordered}
    current = state if state is not None else empty_state()
    skipped: list[tuple[str, str]] = []
    applied = 0
    took_over: set[str] = set()
    holders = Holders()  # copies of a creation left out that take its place (holders.py)
    t, p = Redirected(plan.table_alias, holders.table), Redirected(plan.prop_alias, holders.prop)
    view = replace(plan, table_alias=t, prop_alias=p)  # (live: a copy may take a place)
    for event in ordered:
        reason = plan.skip_reason(event.id, event)
        if (
            reason is not None
            and event.id in plan.duplicates
            and event.id not in plan.losers
            and holders.takes_place(
                event, plan.duplicates, plan.twins, plan.losers, plan.table_alias, plan.prop_alias
            )
        ):
            reason = None
        if reason is not None:
            skipped.append((event.id, reason))
            continue
        if event.id in plan.duplicates:
            took_over.add(event.id)
        # (the plain maps until a copy takes a place: Redirected looks up in Python)
        eff = effective_event(event, view if holders.table or holders.prop else plan, skip=False)
        assert eff is not None
        result = apply(current, eff)
        if isinstance(result, Applied):
            current = result.state
            applied += 1
            continue
        rule = f"({result.rule}): {result.message}"
        went = _goes_with(event.id, plan, parents, took_over) if plan.losers else None
        if went is not None:
            holders.rejected(event)
            skipped.append((event.id, f"with loser {went} of {plan.losers[went]}: {rule}"))
            continue
        again = (
            holders.repeats(
                eff.change,
                result.rule,
                current,
                partial(descends, parents, event),
                partial(_drops, ordered, event, eff.change),
            )
            if plan.losers
            else None
        )
        if again is not None:  # a change made again (holders.py): a duplicate
            skipped.append((event.id, f"duplicate: makes {again} again {rule}"))
        else:
            skipped.append((event.id, f"rejected {rule}"))
    return MergedReplay(current, state_hash(current), applied, tuple(skipped))


def _drops(ordered: Sequence[Event], event: Event, change: object) -> list[str]:
    """The events before ``event`` making its drop (as given, or as ``change`` aliased)."""
    out: list[str] = []
    for e in ordered:
        if e.id == event.id:
            break
        if type(e.change) is type(change) and e.change in (event.change, change):
            out.append(e.id)
    return out


def _goes_with(
    event_id: str, plan: Plan, parents: Mapping[str, Sequence[str]], took_over: set[str]
) -> str | None:
    """The smallest loser id that ``event_id`` descends from, not descending from the
    Merge that decided it (the module docstring: a rejected event goes with it), if any."""
    seen: set[str] = set()
    todo = list(parents[event_id])
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(parents.get(p, ()))
    went = [
        x
        for x in plan.losers
        if (x in seen or any(d in seen and d not in took_over for d in _copies(x, plan)))
        and plan.deciders.get(x) not in seen
    ]
    return min(went) if went else None


def _copies(event_id: str, plan: Plan) -> list[str]:
    """The duplicates of ``event_id`` (made the same change concurrently): its fate is theirs."""
    return [d for d, first in plan.duplicates.items() if first == event_id]
