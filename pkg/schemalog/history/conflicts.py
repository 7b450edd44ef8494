"""Conflicts between concurrent events of a merged set.

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
                                side dropped, or a SORTED BY naming a property
                                the other side dropped
    ``create-create-mismatch``  two creations of one table name, different definitions
    ``connection-drop-drop``    two different FROM/TO pairs dropped from one rel
                                table (together they may drop its last pair)
    Two creations of one name with the SAME definition (or the same property
    added twice identically) are no conflict: the later one in causal order is
    a duplicate, an alias of the first (of several concurrent identical
    creations, the earliest in causal order; duplicates.py finds the same
    streaming). Replay skips it and applies every change
    naming the duplicate's table/property ids to the first one's ids. So is
    one table, property or FROM/TO pair dropped twice, or one pair added
    twice (``("c", rel, from, to)`` keys): the later is a duplicate, nothing
    to alias; every earlier twin of it is recorded (``twins``: which of them
    apply decides whether it takes a lost one's place, merge.takes_over).
    (Which copy of a creation replay applies is replay's: the first that is
    not left out, history/holders.py; the analysis keeps the first's ids.)
    A creation (a table, a property, a FROM/TO pair added) is never the
    duplicate of a twin when it descends from that twin or from a duplicate
    of it: its writer saw the thing made and made it again, so it undid it
    in between (added, dropped, added again), and its creation is its own.
    So a creation's first copy is never a duplicate itself. Not so a drop:
    one table or property dropped cannot be dropped again after it was seen
    dropped (ids never come back), so a drop that descends from a twin saw
    that twin lose (its decision) and is a duplicate of the others as any
    drop is (in log order it may even follow a later copy that took the lost
    one's place).
    The one rule for both: a change is no duplicate of a twin when the two
    act on different makings of the thing. For a creation, when it descends
    from the twin (or a copy of it): it re-made what the twin made. For a
    drop, when an add of the dropped thing (or a copy of it) is in one's
    past and in no form in the other's (``remade``): b drops a FROM/TO pair
    as a does, adds it back and drops it again; the second drop removes b's
    re-add, not the pair a dropped. Only a pair can be re-made under one
    key (a table or property made again gets new ids, and every drop of an
    id descends from its one making or a copy of it), so only drops of
    pairs ask: O(adds of the pair), and only for a concurrent identical drop.

"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from schemalog.encoding.codec import (
    canonical_bytes,
)
from schemalog.history.ordering import causal_order
from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CommentOnTable,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
    RenameProperty,
    RenameTable,
    SetSortedBy,
)
from schemalog.model.names import catalog_key

__all__ = ["Conflict", "Facts", "Spec", "find_conflicts"]


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
        return ("CA", c.table_id, c.connection.from_table_id, c.connection.to_table_id)
    if isinstance(c, DropConnection):
        return ("CD", c.table_id, c.connection.from_table_id, c.connection.to_table_id)
    if isinstance(c, CommentOnTable):
        return ("CM", c.table_id)
    if isinstance(c, SetSortedBy):
        return ("SB", c.table_id, tuple(k.property_id for k in c.keys))
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
        return [
            (("t", tid), "change", None),
            (("pn", tid, spec[2]), "add", (spec[3], spec[4])),
        ]
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
    if tag == "CA":
        rel, f, t = table(spec[1]), table(spec[2]), table(spec[3])
        out = [(("t", x), "change", None) for x in sorted({rel, f, t})]
        out.append((("c", rel, f, t), "add", None))
        return out
    if tag == "CD":
        rel, f, t = table(spec[1]), table(spec[2]), table(spec[3])
        return [
            (("t", rel), "change", None),
            (("c", rel, f, t), "drop", None),
            (("cs", rel), "drop-connection", (f, t)),
        ]
    if tag == "SB":  # the table, and each sort key's property (a concurrent drop conflicts)
        tid = table(spec[1])
        keys: list[tuple[Key, str, Any]] = [(("p", tid, prop(k)), "change", None) for k in spec[2]]
        return [(("t", tid), "change", None), *keys]
    return [(("t", table(spec[1])), "change", None)]  # "CM"


# (key type, role of the later event) -> roles of earlier events it may conflict with
_RIVALS: dict[tuple[str, str], tuple[str, ...]] = {
    ("t", "rename"): ("rename", "drop"),
    ("t", "drop"): ("rename", "change", "drop"),
    ("t", "change"): ("drop",),
    ("p", "rename"): ("rename", "drop"),
    ("p", "drop"): ("rename", "change", "drop"),
    ("p", "change"): ("drop",),
    ("c", "add"): ("add",),
    ("c", "drop"): ("drop",),
    ("cs", "drop-connection"): ("drop-connection",),
    ("n", "create"): ("create", "rename-to"),
    ("n", "rename-to"): ("create", "rename-to"),
    ("pn", "add"): ("add", "rename-to"),
    ("pn", "rename-to"): ("add", "rename-to"),
}


# Roles whose concurrent repetition (same element, same detail) is one change made
# twice: the later is a duplicate of the earlier (a creation, a property added, a
# table/property/connection dropped, a connection added).
_SAME_TWICE = frozenset({"create", "add", "drop"})


def _describe(key: Key) -> str:
    if key[0] == "t":
        return f"table {key[1]}"
    if key[0] == "p":
        return f"property {key[2]} of table {key[1]}"
    if key[0] == "n":
        return f"table name {key[1]!r}"
    if key[0] == "c":
        return f"connection {key[2]} -> {key[3]} of table {key[1]}"
    if key[0] == "cs":
        return f"connections of table {key[1]}"
    return f"property name {key[2]!r} of table {key[1]}"


def _classify(key: Key, r1: str, d1: Any, r2: str, d2: Any) -> str | None:
    """Conflict kind between an earlier (r1, d1) and a later (r2, d2) concurrent touch, if any."""
    roles = {r1, r2}
    if key[0] == "c":
        return None  # one connection added (or dropped) twice: a duplicate
    if key[0] == "cs":  # two connections dropped: together they may drop the last one
        return "connection-drop-drop" if d1 != d2 else None
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
        created, renamed = (d1, d2) if r2 == "rename-to" else (d2, d1)
        if created[1] == renamed:
            return None  # renamed to the name its own creation (or a duplicate of it) gave it
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
    # a duplicate drop or connection change -> its other concurrent identical twins
    twins: dict[str, tuple[str, ...]] = field(default_factory=dict)


# One (key, role) group: lane -> (positions, handles, details) of its members, in
# causal order. Handles increase with rank (every caller visits handles in
# causal order), so the earliest member is the smallest handle.
_Group = dict[int, tuple["array[int]", "array[int]", list[Any]]]


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


def lane_clocks(
    order: Iterable[int], facts: Facts
) -> Iterator[tuple[int, int, int, int, list[int]]]:
    """``(rank, handle, lane, pos, vector clock)`` of every non-merge event, in ``order``.

    Each origin's events form lanes (a new lane where an origin's event does
    not follow its own previous one); ``vc[lane]`` counts the events of each
    lane at or below the event. A clock is kept only until its last child has
    taken it (the method in the module docstring). Yielded clocks must not be
    changed.
    """
    ids, parents_of, merges = facts.ids, facts.parents, facts.merges
    order = list(order) if not isinstance(order, Sequence) else order
    children: dict[str, int] = {}
    for h in order:
        for p in parents_of[h]:
            children[p] = children.get(p, 0) + 1
    vcs: dict[str, list[int]] = {}
    lane_len: list[int] = []
    lane_of_origin: dict[str, int] = {}
    for rank, h in enumerate(order):
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
        yield rank, h, lane, pos, vc


def _analyze_facts(order: Iterable[int], facts: Facts) -> _Analysis:
    """``_analyze`` over handles in causal order (see the module docstring for the method)."""
    specs = facts.specs

    def spec_of(h: int) -> Spec:
        spec, specs[h] = specs[h], None  # released once visited
        return spec

    return analyze_clocks(lane_clocks(order, facts), facts.ids, spec_of, facts.event_at)


def analyze_clocks(
    clocks: Iterable[tuple[int, int, int, int, Sequence[int]]],
    ids: Sequence[str],
    spec_of: Callable[[int], Spec],
    event_at: Callable[[int], Event],
    keep: Callable[[Key], bool] | None = None,
) -> _Analysis:
    """The analysis over ``(rank, handle, lane, pos, vector clock)`` in causal order.

    ``clocks`` may leave out events, and ``keep`` element keys, that can
    conflict with nothing: the record-level merge leaves out the elements one
    lane touches alone (merge_lanes.py). A group only ever compares members of
    one key, so the rest finds the same conflicts and duplicates, in order.
    Handles must increase along ``clocks`` (the earliest member is the smallest).
    """
    index: dict[tuple[Key, str], _Group] = {}
    result = _Analysis([], {}, {}, {})
    seen_keys: set[str] = set()
    table_alias, prop_alias = result.table_alias, result.prop_alias
    duplicates = result.duplicates
    # a creation (table, property, FROM/TO pair) that has duplicates -> (lane, pos) of it
    # and of each duplicate
    members: dict[str, list[tuple[int, int]]] = {}

    def undone(y: int, vc: Sequence[int]) -> bool:
        """Whether the creation with ``vc`` descends from creation y or a twin of it
        (the module doc: it undid that one and made it again)."""
        kin = members.get(duplicates.get(ids[y], ids[y]))
        return kin is not None and any(vc[n] >= p if n < len(vc) else False for n, p in kin)

    def remade(key: Key, yvc: Sequence[int] | None, vc: Sequence[int]) -> bool:
        """Whether two drops of one FROM/TO pair (y's clock ``yvc``, this one's ``vc``)
        remove different makings of it: an add of the pair (or a copy of it) is in
        one's past and in no form in the other's (the module doc). Asked only of a
        concurrent identical drop: O(adds of the pair)."""
        group = index.get((key, "add")) if key[0] == "c" else None
        if group is None or yvc is None:
            return False
        past: dict[str, int] = {}  # an add's first copy -> 1: in x's past, 2: in y's, 3: both
        for alane, (positions, handles, _) in group.items():
            inx = vc[alane] if alane < len(vc) else 0
            iny = yvc[alane] if alane < len(yvc) else 0
            for j, p in enumerate(positions):
                made = ids[handles[j]]
                made = duplicates.get(made, made)
                past[made] = past.get(made, 0) | (p <= inx) | (p <= iny) << 1
        return any(bits in (1, 2) for bits in past.values())

    def table(tid: str) -> str:
        return table_alias.get(tid, tid)

    def prop(pid: str) -> str:
        return prop_alias.get(pid, pid)

    for _rank, h, lane, pos, vc in clocks:
        xid = ids[h]
        for key, role, detail in _touches(spec_of(h), table, prop):
            if keep is not None and not keep(key):
                continue
            same: tuple[int, int, int, Any] | None = None  # earliest concurrent identical one
            twins: list[int] = []  # every concurrent identical one (a change made twice)
            for rival in _RIVALS.get((key[0], role), ()):
                group = index.get((key, rival))
                if group is None:
                    continue
                for ylane, (positions, handles, details) in group.items():
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
                                    kind,
                                    _describe(key),
                                    event_at(y),
                                    event_at(h),
                                )
                                result.conflicts.append(conflict)
                        elif (
                            rival == role
                            and role in _SAME_TWICE
                            and not (remade(key, ydetail, vc) if role == "drop" else undone(y, vc))
                        ):
                            twins.append(y)
                            if same is None or y < same[0]:
                                same = (y, ylane, positions[j], ydetail)
            if same is not None:
                y, ylane, ypos, ydetail = same
                _alias(result, ids[y], ydetail, xid, detail, key, event_at, h)
                if role != "drop":
                    kin = members.get(ids[y])
                    if kin is None:
                        kin = members[ids[y]] = [(ylane, ypos)]
                    kin.append((lane, pos))
                if len(twins) > 1:
                    result.twins[xid] = tuple(ids[t] for t in sorted(twins) if t != y)
            group = index.get((key, role))
            if group is None:
                group = index[(key, role)] = {}
            slot = group.get(lane)
            if slot is None:
                slot = group[lane] = (array("q"), array("q"), [])
            slot[0].append(pos)
            slot[1].append(h)
            # a pair's drop keeps its vector clock (``remade`` asks what it descends from)
            slot[2].append(vc if key[0] == "c" and role == "drop" else detail)
    return result


def _alias(
    result: _Analysis,
    yid: str,
    yd: Any,
    xid: str,
    xd: Any,
    key: Key,
    event_at: Callable[[int], Event],
    x: int,
) -> None:
    if xid in result.duplicates:
        return
    if key[0] == "n":
        first = result.table_alias.get(yd[1], yd[1])
        result.table_alias[xd[1]] = first
        change = event_at(x).change
        assert isinstance(change, CreateNodeTable | CreateRelTable)
        for i, p in enumerate(change.properties):
            result.prop_alias[p.property_id] = f"{first}/p{i}"
    elif key[0] == "pn":
        result.prop_alias[xd[1]] = result.prop_alias.get(yd[1], yd[1])
    result.duplicates[xid] = yid  # a drop or connection change made twice: nothing to alias


def find_conflicts(events: Iterable[Event]) -> list[Conflict]:
    """Every conflicting concurrent pair in a closed set of events, in a stable order."""
    return _analyze(causal_order(events)).conflicts
