"""Lanes and vector clocks of a merged set in a few bytes per event, and which events can conflict.

The record-level merge (merge_records.py) holds its events as integers only;
this module gives it what ``conflicts.lane_clocks`` gives the event-level
merge, without a clock per event:

Lanes, compactly
    Events are visited in causal order (handle = rank). Each non-merge event
    gets the lane and position ``lane_clocks`` gives it (same rule: an
    origin's event stays on its origin's lane when it follows the lane's last
    event, else it opens a lane). Along a lane, an event's vector clock
    differs from its predecessor's only in its own entry, unless it has a
    parent off the lane (a merge, a join): only then is the clock stored, as a
    *snapshot* of the other lanes at that position. ``vc(h)`` is the lane's
    last snapshot at or below the event's position, with its own entry set:
    the same clock ``lane_clocks`` yields. Merge events (no lane) keep their
    clock (they are few: one per resolution). Memory: 8 bytes per event plus
    one snapshot per join.

Which events can conflict at all
    Events of one lane are a chain: never concurrent, so an element touched
    by one lane only can have neither a conflict nor a duplicate. Each event
    carries *coarse keys* of what it touches (merge_records.py: a 64-bit hash
    of a table name, and for a table id the name its creation gave it, so
    that two tables the analysis may alias share a key). A table of cells
    notes, per cell, the one lane that touched it or "several"; a key is
    *hot* when both of its two cells (two halves of its hash) saw several
    lanes. Collisions only make more keys hot, never fewer, so the exact
    analysis (conflicts.analyze_clocks) over the events touching a hot key
    finds every conflict and duplicate the full analysis finds, in the same
    order (a group only ever compares members of one key, and those are all
    there). On two diverging replicas most elements are touched by one side:
    few events are hot.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence

__all__ = ["NO_LANE", "Lanes"]

NO_LANE = 0xFFFFFFFF
_CELLS_PER_KEY = 4  # cells per coarse key: false "hot" keys stay at a few per cent


def _norm(vc: list[int], own: int) -> tuple[int, ...]:
    """The clock without its own lane's entry and trailing zeros (what a snapshot keeps)."""
    if own < len(vc):
        vc[own] = 0
    n = len(vc)
    while n and not vc[n - 1]:
        n -= 1
    return tuple(vc[:n])


class Lanes:
    """Lane, position and clock of each event in causal order; the hot keys (module docstring)."""

    def __init__(
        self,
        n: int,
        origins: Sequence[int],
        parents: Callable[[int], Sequence[int]],
        merges: set[int] | frozenset[int],
        touches: Callable[[int], Sequence[int]],
        keys: int,
    ) -> None:
        self.lane = array("I")
        self.pos = array("I")
        self._snap_pos: list[array[int]] = []
        self._snap_vc: list[list[tuple[int, ...]]] = []
        self._merge_vc: dict[int, tuple[int, ...]] = {}
        size = 1 << max(4, (_CELLS_PER_KEY * max(keys, 1)).bit_length())
        self._mask = size - 1
        self.cells: bytearray | array[int] = bytearray(size)
        self._multi = 0xFF
        self._walk(n, origins, parents, merges, touches)

    def vc(self, h: int) -> list[int]:
        """The vector clock ``conflicts.lane_clocks`` gives event ``h`` (zero-extended)."""
        lane = self.lane[h]
        if lane == NO_LANE:
            return list(self._merge_vc[h])
        pos = self.pos[h]
        i = bisect_right(self._snap_pos[lane], pos) - 1
        vc = list(self._snap_vc[lane][i])
        if len(vc) <= lane:
            vc.extend([0] * (lane + 1 - len(vc)))
        vc[lane] = pos
        return vc

    def _walk(
        self,
        n: int,
        origins: Sequence[int],
        parents: Callable[[int], Sequence[int]],
        merges: set[int] | frozenset[int],
        touches: Callable[[int], Sequence[int]],
    ) -> None:
        lane_of, pos_of = self.lane, self.pos
        lane_len: list[int] = []
        lane_of_origin: dict[int, int] = {}
        for h in range(n):
            ps = parents(h)
            if h in merges:
                self._merge_vc[h] = tuple(self._join(ps))
                lane_of.append(NO_LANE)
                pos_of.append(0)
                continue
            lane = lane_of_origin.get(origins[h])
            if (
                lane is not None
                and len(ps) == 1
                and lane_of[ps[0]] == lane
                and pos_of[ps[0]] == lane_len[lane]
            ):
                lane_len[lane] += 1  # follows its lane's last event, sees nothing new
            else:
                vc = self._join(ps)
                if lane is None or (vc[lane] if lane < len(vc) else 0) != lane_len[lane]:
                    lane = len(lane_len)
                    lane_len.append(0)
                    lane_of_origin[origins[h]] = lane
                    self._snap_pos.append(array("I"))
                    self._snap_vc.append([])
                    self._grow_cells(lane)
                lane_len[lane] += 1
                snap = _norm(vc, lane)
                vcs = self._snap_vc[lane]
                if not vcs or vcs[-1] != snap:
                    self._snap_pos[lane].append(lane_len[lane])
                    vcs.append(snap)
            lane_of.append(lane)
            pos_of.append(lane_len[lane])
            self._mark(lane, touches(h))

    def _join(self, parents: Sequence[int]) -> list[int]:
        """Pointwise max of the parents' clocks."""
        vc: list[int] = []
        for p in parents:
            pv = self.vc(p)
            if len(pv) > len(vc):
                vc.extend([0] * (len(pv) - len(vc)))
            for i, v in enumerate(pv):
                if v > vc[i]:
                    vc[i] = v
        return vc

    def _grow_cells(self, lane: int) -> None:
        """Cells hold lane + 1 (0: untouched, multi: several); widen them when lanes outgrow it."""
        if lane + 1 < self._multi:
            return
        multi, code = (0xFFFF, "H") if self._multi == 0xFF else (0xFFFFFFFF, "I")
        old = self._multi
        self.cells = array(code, (multi if c == old else c for c in self.cells))
        self._multi = multi

    def _mark(self, lane: int, keys: Sequence[int]) -> None:
        cells, mask, multi, mine = self.cells, self._mask, self._multi, lane + 1
        for key in keys:
            for c in (key & mask, (key >> 32) & mask):
                seen = cells[c]
                if seen == 0:
                    cells[c] = mine
                elif seen != mine:
                    cells[c] = multi

    def hot(self, keys: Sequence[int]) -> bool:
        """Whether any of these coarse keys may be touched by several lanes."""
        cells, mask, multi = self.cells, self._mask, self._multi
        return any(cells[k & mask] == multi and cells[(k >> 32) & mask] == multi for k in keys)

    def clocks(
        self, n: int, touches: Callable[[int], Sequence[int]]
    ) -> Iterator[tuple[int, int, int, int, list[int]]]:
        """``(rank, handle, lane, pos, vc)`` of the events touching a hot key, in causal order."""
        lane_of, pos_of = self.lane, self.pos
        for h in range(n):
            if lane_of[h] != NO_LANE and self.hot(touches(h)):
                yield h, h, lane_of[h], pos_of[h], self.vc(h)
