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

Strategies (per merge, optionally per kind)
    ``reject`` records nothing (the conflict stays unresolved; replay applies
    both events in causal order and Kuzu's rules reject what cannot apply),
    ``lww``/``fww`` the later/earlier event in causal order ((hlc, origin, id)
    between concurrent events), ``drop-wins``/``rename-wins`` prefer the side
    that drops/renames (and fall back to ``lww`` when neither or both sides
    do), or a callable ``(Conflict) -> winner id | None``.

Resolutions
    One Merge event per resolved conflict pair, parents = the two conflicting
    events (the heads it joins, as far as that conflict is concerned), origin
    ``merge-<20 hex of sha256(conflict key, winner)>``, hlc = the greater parent
    hlc + 1 logical. It depends on the pair and the choice alone, so replicas
    resolving the same conflict the same way produce byte-identical events
    (the union collapses them), and merging is associative: a conflict found in
    any grouping yields the same event. A conflict already carrying a
    resolution in the set is not resolved again. When several resolutions name
    one conflict key (replicas chose differently, or a person re-decided later),
    the last in causal order counts.

How a merged log replays (``replay_merged`` / ``resolution_plan``)
    Events apply in causal order, except: a loser of an effective resolution is
    not applied; a duplicate creation is not applied and its ids alias the
    first's. Descendants of a loser are kept and applied if still applicable;
    those Kuzu's rules now reject are skipped and reported (dropping every
    descendant would discard a whole branch of unrelated work).

Partition recovery
    See replica.py (``Replica``, ``PrefixRewritten``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from schemalog.history.conflicts import Conflict, _analyze, find_conflicts
from schemalog.history.ordering import ForkedEvent, MissingParents, causal_order, sort_key
from schemalog.model.clock import Timestamp
from schemalog.model.events import (
    FORMAT,
    AddConnection,
    AddProperty,
    CommentOnTable,
    Connection,
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

    def to_obj(self) -> dict[str, Any]:
        c = self.conflict
        return {
            "kind": c.kind,
            "key": c.key,
            "element": c.element,
            "events": list(c.ids),
            "winner": self.winner,
            "losers": list(self.losers),
            "resolved_by": self.resolved_by,
            "new": self.new,
        }


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
    analysis = _analyze(ordered)
    existing = _effective_resolutions(ordered)
    reports: list[ConflictReport] = []
    added: dict[str, Event] = {}
    for conflict in analysis.conflicts:
        done = existing.get(conflict.key)
        if done is not None:
            mid, res = done
            reports.append(ConflictReport(conflict, res.winner, res.losers, mid, False))
            continue
        chosen = (per_kind or {}).get(conflict.kind, strategy)
        winner = _choose(conflict, chosen)
        if winner is None:
            reports.append(ConflictReport(conflict, None, (), None, False))
            continue
        event = resolution_event(conflict, winner)
        added[event.id] = event
        res = event.change.resolutions[0]  # type: ignore[union-attr]
        reports.append(ConflictReport(conflict, winner, res.losers, event.id, True))
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

    def skip_reason(self, event_id: str) -> str | None:
        if event_id in self.losers:
            return f"loser of {self.losers[event_id]}"
        if event_id in self.duplicates:
            return f"duplicate of {self.duplicates[event_id]}"
        return None


def resolution_plan(events: Iterable[Event]) -> Plan:
    ordered = causal_order(events)
    analysis = _analyze(ordered)
    losers: dict[str, str] = {}
    for key, (_, res) in sorted(_effective_resolutions(ordered).items()):
        for loser in res.losers:
            losers.setdefault(loser, key)
    return Plan(losers, analysis.duplicates, analysis.table_alias, analysis.prop_alias)


def effective_event(event: Event, plan: Plan) -> Event | None:
    """The event replay should apply (ids aliased), or None when the plan skips it."""
    if plan.skip_reason(event.id) is not None:
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
    current = state if state is not None else empty_state()
    skipped: list[tuple[str, str]] = []
    applied = 0
    for event in ordered:
        reason = plan.skip_reason(event.id)
        if reason is not None:
            skipped.append((event.id, reason))
            continue
        eff = effective_event(event, plan)
        assert eff is not None
        result = apply(current, eff)
        if isinstance(result, Applied):
            current = result.state
            applied += 1
        else:
            skipped.append((event.id, f"rejected ({result.rule}): {result.message}"))
    return MergedReplay(current, state_hash(current), applied, tuple(skipped))
