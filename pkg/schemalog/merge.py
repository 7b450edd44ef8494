"""Merging the logs of several origins: union, conflicts, resolutions, partition recovery.

Union
    Events are united by id. The same id with other content is a forked or
    rewritten history and raises ForkedEvent naming both copies. The merged log
    is the union in causal order (ordering.causal_order), re-chained with
    codec.encode_record: a function of the SET of events alone, so merging the
    same inputs in any order or grouping, or a result with its own inputs
    again, gives the same bytes.

Concurrency (and why it is cheap)
    Two events are concurrent when neither is an ancestor of the other. Only
    events touching one element can conflict, so events are indexed by element
    key -- ``("t", table id)``, ``("p", table id, property id)``, ``("n", table
    name)``, ``("pn", table id, property name)`` -- and pairs are only looked for
    inside a key's group. Ancestry uses vector clocks over *lanes*: each origin's
    events form a chain (each has the previous one as an ancestor), so an event
    is (lane, position) and ``vc(x)[lane]`` = the highest position of that lane
    among x's ancestors-or-self. Because a lane is a chain, y is an ancestor of x
    iff ``vc(x)[lane(y)] >= pos(y)``. An origin that is not a chain (a forged or
    unusual log) simply opens another lane: correct for any chain decomposition.
    Events are visited in causal order, so an earlier group member y is never a
    descendant of x; the concurrent ones of each lane are the members with
    ``pos > vc(x)[lane]`` -- a suffix found by bisection (interval reasoning).
    Cost: O(n log n + n*L + conflicting pairs) for L lanes (about the number of
    origins); vector clocks are dropped once all children of an event are seen.
    Merge events (resolutions) have no lane: nothing conflicts with them.

Conflict kinds (stable ids)
    ``rename-rename``           one table or property renamed to two names
    ``rename-drop``             one side renames, the other drops (table or property)
    ``rename-to-created-name``  a rename to a name the other side created
                                (table name, or property name in one table)
    ``name-clash``              two different tables (or properties of one table)
                                renamed to the same name
    ``property-add-mismatch``   a property added twice by name with different
                                type or default
    ``change-on-dropped``       any change to (or reference of) a table the other
                                side dropped
    ``create-create-mismatch``  two creations of one table name, different definitions
    Two creations of one name with the SAME definition (or the same property
    added twice identically) are no conflict: the later one in causal order is
    a duplicate, an alias of the first. Replay skips it and applies every change
    naming the duplicate's table/property ids to the first one's ids.

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

Partition recovery (``Replica``)
    Replicas exchange logs and merge; re-delivery changes nothing. Refused:
    a log whose hash chain is broken (ChainBroken), an event id with other
    content (ForkedEvent naming the id, both checksums and positions), events
    with parents nowhere in the union (MissingParents), and a peer whose log
    at the position we last agreed on no longer carries the agreed checksum
    (PrefixRewritten): its history for those positions was rewritten.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from schemalog.clock import Timestamp
from schemalog.codec import (
    Record,
    canonical_bytes,
    check_chain,
    checksum,
    decode_record_or_raise,
    encode_record,
    event_bytes,
)
from schemalog.errors import SchemalogError
from schemalog.events import (
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
    event_id,
)
from schemalog.names import catalog_key
from schemalog.ordering import ForkedEvent, MissingParents, causal_order, sort_key
from schemalog.schema import Applied, SchemaState, apply, empty_state, state_hash

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
    "PrefixRewritten",
    "Replica",
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


class PrefixRewritten(SchemalogError):
    """A peer's log lost or changed ``event_id``, a head both sides agreed on at the last exchange.

    Merged logs are in canonical causal order, so positions move when older
    concurrent events arrive; the agreed heads (and, through the closure check
    and the per-id content check, all their ancestors) are what must persist.
    """

    def __init__(self, peer: str, event_id: str, expected: str, actual: str | None) -> None:
        self.peer = peer
        self.event_id = event_id
        self.expected = expected
        self.actual = actual
        got = "missing" if actual is None else actual
        super().__init__(
            f"peer {peer} rewrote its history: event {event_id} agreed at the last exchange "
            f"as {expected} is {got}"
        )


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two concurrent events touching one element incompatibly; ``first`` precedes in order."""

    kind: str
    element: str
    first: Event
    second: Event

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.first.id}:{self.second.id}"

    @property
    def ids(self) -> tuple[str, str]:
        return (self.first.id, self.second.id)


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


# ---------------------------------------------------------------- element keys

Key = tuple[str, ...]


def _fingerprint_node(c: CreateNodeTable) -> bytes:
    props = tuple((p.name, p.type, p.default) for p in c.properties)
    pk = [p.property_id for p in c.properties].index(c.primary_key)
    return _canonical_shared(("NODE", props, pk), tuple(type(p[2]) for p in props))


@lru_cache(maxsize=4096)
def _canonical_shared(value: Any, default_types: tuple[type, ...]) -> bytes:
    # Fingerprints repeat (same definitions across tables): one bytes object each.
    # ``default_types`` is part of the cache key: 1 == True, yet they encode apart.
    return canonical_bytes(value)


# What an event touches, before aliasing: a small tuple per change kind, kept
# per event by the record-level merge instead of the event (see _touches).
Spec = tuple[Any, ...] | None


def _spec(event: Event) -> Spec:
    """The alias-independent facts ``_touches`` needs about ``event`` (None: touches nothing)."""
    c = event.change
    if isinstance(c, CreateNodeTable):
        return ("N", catalog_key(c.name), _fingerprint_node(c), c.table_id)
    if isinstance(c, CreateRelTable):
        props = tuple((p.name, p.type, p.default) for p in c.properties)
        conns = tuple((x.from_table_id, x.to_table_id) for x in c.connections)
        return ("R", catalog_key(c.name), props, conns, c.multiplicity, c.table_id)
    if isinstance(c, RenameTable):
        return ("RT", c.table_id, catalog_key(c.new_name))
    if isinstance(c, DropTable):
        return ("DT", c.table_id)
    if isinstance(c, AddProperty):
        p = c.property
        fp = _canonical_shared((p.type, p.default), (type(p.default),))
        return ("AP", c.table_id, catalog_key(p.name), fp, p.property_id)
    if isinstance(c, DropProperty):
        return ("DP", c.table_id, c.property_id)
    if isinstance(c, RenameProperty):
        return ("RP", c.table_id, c.property_id, catalog_key(c.new_name))
    if isinstance(c, AddConnection):
        return ("C", c.table_id, c.connection.from_table_id, c.connection.to_table_id)
    if isinstance(c, DropConnection):
        return ("C", c.table_id)
    if isinstance(c, CommentOnTable):
        return ("CM", c.table_id)
    return None


def _touches(
    spec: Spec, table: Callable[[str], str], prop: Callable[[str], str]
) -> list[tuple[Key, str, Any]]:
    """(element key, role, detail) for each element touched (ids aliased by table/prop)."""
    if spec is None:
        return []
    tag = spec[0]
    if tag == "N":
        return [(("n", spec[1]), "create", (spec[2], spec[3]))]
    if tag == "R":
        _, name, props, conns, multiplicity, tid = spec
        ends = sorted([table(f), table(t)] for f, t in conns)
        fp = canonical_bytes(["REL", props, ends, multiplicity])
        out: list[tuple[Key, str, Any]] = [(("n", name), "create", (fp, tid))]
        ends_set = {t for pair in ends for t in pair}
        out.extend((("t", t), "change", None) for t in sorted(ends_set))
        return out
    if tag == "RT":
        tid, new = table(spec[1]), spec[2]
        return [(("t", tid), "rename", new), (("n", new), "rename-to", tid)]
    if tag == "DT":
        return [(("t", table(spec[1])), "drop", None)]
    if tag == "AP":
        tid = table(spec[1])
        return [(("t", tid), "change", None), (("pn", tid, spec[2]), "add", (spec[3], spec[4]))]
    if tag == "DP":
        tid = table(spec[1])
        return [(("t", tid), "change", None), (("p", tid, prop(spec[2])), "drop", None)]
    if tag == "RP":
        tid, pid, new = table(spec[1]), prop(spec[2]), spec[3]
        return [
            (("t", tid), "change", None),
            (("p", tid, pid), "rename", new),
            (("pn", tid, new), "rename-to", pid),
        ]
    if tag == "C":
        return [(("t", t), "change", None) for t in sorted({table(x) for x in spec[1:]})]
    return [(("t", table(spec[1])), "change", None)]  # "CM"


# (key type, role of the later event) -> roles of earlier events it may conflict with
_RIVALS: dict[tuple[str, str], tuple[str, ...]] = {
    ("t", "rename"): ("rename", "drop"),
    ("t", "drop"): ("rename", "change"),
    ("t", "change"): ("drop",),
    ("p", "rename"): ("rename", "drop"),
    ("p", "drop"): ("rename",),
    ("n", "create"): ("create", "rename-to"),
    ("n", "rename-to"): ("create", "rename-to"),
    ("pn", "add"): ("add", "rename-to"),
    ("pn", "rename-to"): ("add", "rename-to"),
}


def _describe(key: Key) -> str:
    if key[0] == "t":
        return f"table {key[1]}"
    if key[0] == "p":
        return f"property {key[2]} of table {key[1]}"
    if key[0] == "n":
        return f"table name {key[1]!r}"
    return f"property name {key[2]!r} of table {key[1]}"


def _classify(key: Key, r1: str, d1: Any, r2: str, d2: Any) -> str | None:
    """Conflict kind between an earlier (r1, d1) and a later (r2, d2) concurrent touch, if any."""
    roles = {r1, r2}
    if key[0] in ("t", "p"):
        if r1 == r2 == "rename":
            return "rename-rename" if d1 != d2 else None
        if roles == {"rename", "drop"}:
            return "rename-drop"
        if roles == {"change", "drop"}:
            return "change-on-dropped"
        return None
    if r1 == r2 == "rename-to":
        return "name-clash" if d1 != d2 else None
    if "rename-to" in roles:
        return "rename-to-created-name"
    if r1 == r2:  # create/create or add/add
        if d1[0] == d2[0]:
            return None  # identical definition: a duplicate, aliased by the caller
        return "create-create-mismatch" if key[0] == "n" else "property-add-mismatch"
    return None  # pragma: no cover - _RIVALS lists no other pairs


@dataclass
class _Analysis:
    conflicts: list[Conflict]
    table_alias: dict[str, str]
    prop_alias: dict[str, str]
    duplicates: dict[str, str]  # duplicate event id -> the creation it duplicates


class _Group:
    """Members of one (key, role) by lane: parallel sorted positions, handles and details."""

    __slots__ = ("lanes",)

    def __init__(self) -> None:
        self.lanes: dict[int, tuple[array[int], array[int], list[Any]]] = {}


@dataclass(frozen=True, slots=True)
class Facts:
    """What the analysis reads of each event, by handle (an int naming one event).

    ``specs`` entries are released (set to None) once visited; ``event_at``
    builds the full event of a handle, asked only for conflicting or duplicate
    events.
    """

    ids: Sequence[str]
    origins: Sequence[str]
    parents: Sequence[tuple[str, ...]]
    merges: frozenset[int] | set[int]  # handles of Merge events
    specs: list[Spec]
    event_at: Callable[[int], Event]


def _facts(ordered: Sequence[Event]) -> Facts:
    return Facts(
        [e.id for e in ordered],
        [e.origin for e in ordered],
        [e.parents for e in ordered],
        {i for i, e in enumerate(ordered) if isinstance(e.change, Merge)},
        [_spec(e) for e in ordered],
        ordered.__getitem__,
    )


def _analyze(ordered: Sequence[Event]) -> _Analysis:
    """Find every conflicting concurrent pair in a causally ordered, closed set."""
    return _analyze_facts(range(len(ordered)), _facts(ordered))


def _analyze_facts(order: Iterable[int], facts: Facts) -> _Analysis:
    """``_analyze`` over handles in causal order (see the module docstring for the method)."""
    ids, parents_of, specs, merges = facts.ids, facts.parents, facts.specs, facts.merges
    order = list(order) if not isinstance(order, Sequence) else order
    children: dict[str, int] = {}
    for h in order:
        for p in parents_of[h]:
            children[p] = children.get(p, 0) + 1
    vcs: dict[str, list[int]] = {}
    lane_len: list[int] = []
    lane_of_origin: dict[str, int] = {}
    index: dict[tuple[Key, str], _Group] = {}
    result = _Analysis([], {}, {}, {})
    seen_keys: set[str] = set()
    table_alias, prop_alias = result.table_alias, result.prop_alias

    def table(tid: str) -> str:
        return table_alias.get(tid, tid)

    def prop(pid: str) -> str:
        return prop_alias.get(pid, pid)

    for h in order:
        xid = ids[h]
        # vector clock of the parents: pointwise max
        vc: list[int] = []
        for p in parents_of[h]:
            pv = vcs[p]
            if not vc:
                vc = list(pv)
            else:
                if len(pv) > len(vc):
                    vc.extend([0] * (len(pv) - len(vc)))
                for i, v in enumerate(pv):
                    if v > vc[i]:
                        vc[i] = v
            left = children[p] - 1
            if left:
                children[p] = left
            else:
                del children[p]
                del vcs[p]
        if h in merges:
            if xid in children:
                vcs[xid] = vc
            continue
        origin = facts.origins[h]
        lane = lane_of_origin.get(origin)
        if lane is None or (vc[lane] if lane < len(vc) else 0) != lane_len[lane]:
            lane = len(lane_len)
            lane_len.append(0)
            lane_of_origin[origin] = lane
        lane_len[lane] += 1
        pos = lane_len[lane]
        if len(vc) <= lane:
            vc.extend([0] * (lane + 1 - len(vc)))
        vc[lane] = pos
        if xid in children:
            vcs[xid] = vc
        spec, specs[h] = specs[h], None
        for key, role, detail in _touches(spec, table, prop):
            for rival in _RIVALS.get((key[0], role), ()):
                group = index.get((key, rival))
                if group is None:
                    continue
                for ylane, (positions, handles, details) in group.lanes.items():
                    seen = vc[ylane] if ylane < len(vc) else 0
                    for j in range(bisect_right(positions, seen), len(positions)):
                        y = handles[j]
                        if ids[y] == xid:
                            continue
                        ydetail = details[j]
                        kind = _classify(key, rival, ydetail, role, detail)
                        if kind is not None:
                            conflict_key = f"{kind}:{ids[y]}:{xid}"
                            if conflict_key not in seen_keys:
                                seen_keys.add(conflict_key)
                                conflict = Conflict(
                                    kind, _describe(key), facts.event_at(y), facts.event_at(h)
                                )
                                result.conflicts.append(conflict)
                        elif rival == role and role in ("create", "add"):
                            _alias(result, ids[y], ydetail, xid, detail, role, facts, h)
            group = index.get((key, role))
            if group is None:
                group = index[(key, role)] = _Group()
            slot = group.lanes.get(lane)
            if slot is None:
                slot = group.lanes[lane] = (array("q"), array("q"), [])
            slot[0].append(pos)
            slot[1].append(h)
            slot[2].append(detail)
    return result


def _alias(
    result: _Analysis, yid: str, yd: Any, xid: str, xd: Any, role: str, facts: Facts, x: int
) -> None:
    if xid in result.duplicates:
        return
    if role == "create":
        first = result.table_alias.get(yd[1], yd[1])
        result.table_alias[xd[1]] = first
        change = facts.event_at(x).change
        assert isinstance(change, CreateNodeTable | CreateRelTable)
        for i, p in enumerate(change.properties):
            result.prop_alias[p.property_id] = f"{first}/p{i}"
    else:
        result.prop_alias[xd[1]] = result.prop_alias.get(yd[1], yd[1])
    result.duplicates[xid] = yid


def find_conflicts(events: Iterable[Event]) -> list[Conflict]:
    """Every conflicting concurrent pair in a closed set of events, in a stable order."""
    return _analyze(causal_order(events)).conflicts


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


def _effective_resolutions(ordered: Sequence[Event]) -> dict[str, tuple[str, Resolution]]:
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
    where: dict[str, tuple[int, int, str]] = {}
    for log_no, records in enumerate(logs):
        check_chain(records)
        for pos, rec in enumerate(records):
            seen = where.get(rec.event.id)
            if seen is None:
                where[rec.event.id] = (log_no, pos, rec.checksum)
            elif seen[2] != rec.checksum:
                raise ForkedEvent(
                    rec.event.id,
                    seen[2],
                    rec.checksum,
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
    if not plan.table_alias and not plan.prop_alias:
        return event
    t = plan.table_alias

    def tab(tid: str) -> str:
        return t.get(tid, tid)

    def conn(x: Connection) -> Connection:
        return Connection(tab(x.from_table_id), tab(x.to_table_id))

    c = event.change
    new: Any = c
    if isinstance(c, CreateRelTable):
        new = replace(c, connections=tuple(sorted({conn(x) for x in c.connections})))
    elif isinstance(c, AddConnection | DropConnection):
        new = replace(c, table_id=tab(c.table_id), connection=conn(c.connection))
    elif isinstance(c, DropProperty | RenameProperty):
        pid = plan.prop_alias.get(c.property_id, c.property_id)
        new = replace(c, table_id=tab(c.table_id), property_id=pid)
    elif isinstance(c, AddProperty | RenameTable | DropTable | CommentOnTable):
        new = replace(c, table_id=tab(c.table_id))
    return event if new == c else replace(event, change=new)


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


# ---------------------------------------------------------------- partition recovery


class Replica:
    """One partitioned instance: its log (canonical merged form) and what it agreed with peers."""

    def __init__(
        self,
        name: str,
        events: Iterable[Event] = (),
        strategy: Strategy = "lww",
        per_kind: Mapping[str, Strategy] | None = None,
    ) -> None:
        self.name = name
        self.strategy = strategy
        self.per_kind = per_kind
        self.result = merge_events([list(events)], strategy, per_kind)
        self.agreed: dict[str, dict[str, str]] = {}  # peer -> agreed heads (id -> checksum)

    @property
    def lines(self) -> list[bytes]:
        return self.result.lines()

    @property
    def events(self) -> tuple[Event, ...]:
        return self.result.events

    def receive(self, peer: str, lines: Sequence[bytes]) -> MergeResult:
        """Merge a peer's whole log into ours; refuse forks and rewritten histories."""
        records = decode_log(lines)
        agreed = self.agreed.get(peer)
        if agreed:
            theirs = {r.event.id: r.checksum for r in records}
            for eid, expected in sorted(agreed.items()):
                if theirs.get(eid) != expected:
                    raise PrefixRewritten(peer, eid, expected, theirs.get(eid))
        ours = decode_log(self.lines)
        self.result = merge_logs([ours, records], self.strategy, self.per_kind)
        return self.result

    def heads(self) -> dict[str, str]:
        """Event id -> checksum of the events no other event names as parent."""
        parents = {p for e in self.events for p in e.parents}
        return {
            e.id: line_checksum(line)
            for e, line in zip(self.events, self.lines, strict=True)
            if e.id not in parents
        }

    def exchange(self, other: Replica) -> None:
        """Both sides send their logs; afterwards both hold the same bytes."""
        self.receive(other.name, other.lines)
        other.receive(self.name, self.lines)
        heads = self.heads()
        self.agreed[other.name] = heads
        other.agreed[self.name] = dict(heads)
