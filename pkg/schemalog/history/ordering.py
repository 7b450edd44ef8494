"""Causal order of events, cycle detection, and a buffer for out-of-order delivery.

The total order of a set of events is the topological sort of their parent
graph in which, among the events whose parents are all placed, the smallest
by ``sort_key`` = (hlc wall, hlc logical, origin, id) goes first (Kahn's
algorithm with a heap: O(n log n)). It depends on the set alone, never on the
order the events arrived in, and uses only integer and string comparisons, so
it is the same on every machine and in every runtime.

Fast path: events validate that every parent's hlc is below their own, so for
a valid set the plain sort by ``sort_key`` already is a topological order --
and then it *is* Kahn's heap order (the heap always pops the smallest ready
key, and the smallest remaining key is always ready). ``causal_order`` sorts
(C speed), checks every parent is placed earlier, and only falls back to the
heap when that check fails (a forged set) -- same result either way.

``find_cycle`` works on any dependency graph (``{node: iterable of the nodes
it depends on}``) with an iterative DFS, so a chain of a million events does
not hit the recursion limit; it names the nodes of one cycle in dependency
order, rotated to start at the smallest, so the report is stable.

``CausalBuffer`` accepts events in any delivery order and releases each one
only after all its parents were released; events waiting for parents are
pending and name the ids they miss.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemalog.errors import CycleDetected, SchemalogError
from schemalog.model.events import Event

__all__ = [
    "CausalBuffer",
    "ForkedEvent",
    "MissingParents",
    "causal_order",
    "find_cycle",
    "order_ids",
    "sort_key",
]

SortKey = tuple[int, int, str, str]


class MissingParents(SchemalogError):
    """Events name parents that are not in the set; ``missing`` maps event id -> missing ids."""

    def __init__(self, missing: Mapping[str, tuple[str, ...]]) -> None:
        self.missing = dict(sorted(missing.items()))
        shown = list(self.missing.items())[:5]
        more = f" (and {len(self.missing) - 5} more)" if len(self.missing) > 5 else ""
        super().__init__(
            "events with missing parents: "
            + "; ".join(f"{eid} misses {', '.join(ids)}" for eid, ids in shown)
            + more
        )


class ForkedEvent(SchemalogError):
    """Two different events carry the same id: a forked or rewritten history."""

    def __init__(self, event_id: str, ours: str, theirs: str, where: str = "") -> None:
        self.event_id = event_id
        self.ours = ours
        self.theirs = theirs
        self.where = where
        at = f" ({where})" if where else ""
        super().__init__(
            f"event {event_id} exists with different content{at}: {ours} vs {theirs}; "
            "refusing a forked or rewritten history"
        )


def sort_key(event: Event) -> SortKey:
    """Tie-break key among causally unordered events: (hlc, origin, id)."""
    hlc = event.hlc
    return (hlc.wall_ms, hlc.logical, event.origin, event.id)


# ---------------------------------------------------------------- cycles


def find_cycle(graph: Mapping[str, Iterable[str]]) -> tuple[str, ...] | None:
    """One cycle of ``graph`` (node -> the nodes it depends on), or None.

    Nodes named only as dependencies count as leaves. Iterative DFS with
    white/grey/black colouring; nodes are visited in sorted order so the same
    graph always reports the same cycle, rotated to start at its smallest node.
    """
    state: dict[str, int] = {}  # absent = white, 1 = grey (on stack), 2 = black
    for root in sorted(graph):
        if root in state:
            continue
        path: list[str] = [root]
        iters: list[Any] = [iter(graph.get(root, ()))]
        state[root] = 1
        while path:
            advanced = False
            for nxt in iters[-1]:
                mark = state.get(nxt)
                if mark == 1:
                    cycle = path[path.index(nxt) :]
                    start = cycle.index(min(cycle))
                    return tuple(cycle[start:] + cycle[:start])
                if mark is None:
                    state[nxt] = 1
                    path.append(nxt)
                    iters.append(iter(graph.get(nxt, ())))
                    advanced = True
                    break
            if not advanced:
                state[path.pop()] = 2
                iters.pop()
    return None


# ---------------------------------------------------------------- total order


def order_ids(keys: Mapping[str, Any], parents: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm with a heap over any parent graph.

    ``keys[id]`` is the tie-break key (must be totally ordered); ``parents[id]``
    the ids it depends on, all of which must be in ``keys`` (else
    MissingParents). Raises CycleDetected naming one cycle.
    """
    missing = {
        eid: tuple(p for p in ps if p not in keys)
        for eid, ps in parents.items()
        if any(p not in keys for p in ps)
    }
    if missing:
        raise MissingParents(missing)
    indegree: dict[str, int] = {}
    children: dict[str, list[str]] = {}
    for eid in keys:
        ps = set(parents.get(eid, ()))
        indegree[eid] = len(ps)
        for p in ps:
            children.setdefault(p, []).append(eid)
    heap = [(keys[eid], eid) for eid, n in indegree.items() if n == 0]
    heapq.heapify(heap)
    out: list[str] = []
    while heap:
        _, eid = heapq.heappop(heap)
        out.append(eid)
        for child in children.get(eid, ()):
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(heap, (keys[child], child))
    if len(out) != len(keys):
        placed = set(out)
        rest = {eid: [p for p in parents.get(eid, ()) if p not in placed] for eid in keys}
        rest = {eid: ps for eid, ps in rest.items() if eid not in placed}
        cycle = find_cycle(rest)
        assert cycle is not None, "Kahn left nodes unplaced without a cycle"
        raise CycleDetected(cycle)
    return out


def causal_order(events: Iterable[Event]) -> list[Event]:
    """The canonical total order of a set of events (duplicates by id collapse).

    Two different events with one id raise ForkedEvent; parents outside the
    set raise MissingParents; a cycle raises CycleDetected.
    """
    by_id: dict[str, Event] = {}
    for event in events:
        seen = by_id.get(event.id)
        if seen is None:
            by_id[event.id] = event
        elif seen != event:
            raise ForkedEvent(event.id, "one copy", "another copy")
    ordered = sorted(by_id.values(), key=sort_key)
    placed: set[str] = set()
    fast = True
    missing: dict[str, tuple[str, ...]] = {}
    for event in ordered:
        for p in event.parents:
            if p not in placed:
                if p in by_id:
                    fast = False
                else:
                    missing[event.id] = tuple(q for q in event.parents if q not in by_id)
        placed.add(event.id)
    if missing:
        raise MissingParents(missing)
    if fast:
        return ordered
    ids = order_ids(
        {eid: sort_key(e) for eid, e in by_id.items()}, {eid: e.parents for eid, e in by_id.items()}
    )
    return [by_id[eid] for eid in ids]


# ---------------------------------------------------------------- delivery buffer


class CausalBuffer:
    """Releases events in a valid causal order whatever order they are delivered in.

    ``add(event)`` returns the events that became deliverable (the event and
    any pending ones it unblocked), each after all of its parents, ready ones
    in ``sort_key`` order. Re-delivery of a released or pending event returns
    nothing; another event with the same id raises ForkedEvent. ``known`` seeds
    ids already applied elsewhere (e.g. the local log).
    """

    def __init__(self, known: Iterable[Event] = ()) -> None:
        self._released: dict[str, Event] = {}
        self._pending: dict[str, Event] = {}
        self._missing: dict[str, set[str]] = {}  # pending id -> parents not yet released
        self._waiters: dict[str, set[str]] = {}  # missing parent id -> pending ids
        for event in known:
            self._released[event.id] = event

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._released or event_id in self._pending

    @property
    def released(self) -> Mapping[str, Event]:
        return self._released

    def pending(self) -> dict[str, tuple[str, ...]]:
        """Pending event id -> the ids of the parents it still waits for (sorted)."""
        return {eid: tuple(sorted(m)) for eid, m in sorted(self._missing.items())}

    def add(self, event: Event) -> list[Event]:
        seen = self._released.get(event.id) or self._pending.get(event.id)
        if seen is not None:
            if seen != event:
                raise ForkedEvent(event.id, "delivered copy", "new copy", "causal buffer")
            return []
        missing = {p for p in event.parents if p not in self._released}
        if missing:
            self._pending[event.id] = event
            self._missing[event.id] = missing
            for p in missing:
                self._waiters.setdefault(p, set()).add(event.id)
            return []
        out: list[Event] = []
        ready: list[tuple[SortKey, Event]] = [(sort_key(event), event)]
        while ready:
            _, ev = heapq.heappop(ready)
            self._released[ev.id] = ev
            out.append(ev)
            for waiter in sorted(self._waiters.pop(ev.id, ())):
                left = self._missing[waiter]
                left.discard(ev.id)
                if not left:
                    del self._missing[waiter]
                    w = self._pending.pop(waiter)
                    heapq.heappush(ready, (sort_key(w), w))
        return out

    def add_all(self, events: Iterable[Event]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            out.extend(self.add(event))
        return out
