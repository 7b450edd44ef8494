"""Concurrent duplicate creations of a log, found in one streaming pass.

merge's rule (conflicts.py): two *concurrent* creations of one table name with
the same definition, or one property name added twice identically to one
table, are no conflict; the later one is a duplicate and an alias of the
first (a creation, unless it descends from the first or a duplicate of it:
``_undone``). ``conflicts._analyze_facts`` decides it for a whole set at once
and holds facts of every event. ``DuplicateScanner`` decides the same thing while
visiting a log in its order, holding O(lanes x sync points + open creations +
open Merges) (its state and saved form: duplicate_state.py):

* Lanes, as in conflicts.py: each origin's events form a chain, so an event
  is (lane, clock) and its vector clock ``vc[lane]`` = the highest clock of
  that lane among its ancestors-or-self. The clock is the event's HLC packed
  into one int (it increases along a chain: parents are strictly earlier).
* A parent's vector clock is not kept per event. Along a lane it changes only
  at *sync points* (events with a parent outside their lane), so the lane
  keeps those points; any member's vector clock is the last sync point at or
  before it, with its own lane entry set to its clock. Parent ids carry their
  origin and HLC, so no id -> event map is needed.
* Pruning, from time to time: the *watermark* W is the pointwise minimum of
  the lanes' latest vector clocks, so every lane's latest event descends from
  every event at or below W. Creations at or below W can no longer be
  concurrent with a later event of an existing lane (it descends from its
  lane's latest): they are dropped. So are sync points below W (but the last
  one at or below it): a parent at or below W has a vector clock at most W,
  and an event of an existing lane is at least W anyway, so W stands in for
  it. A *new* lane (a new origin) must descend from everything pruned: its
  vector clock must dominate W, computed without parents below W.
* A Merge has no lane: its vector clock is kept by its id for the events that
  name it as a parent. Once a lane event names it (directly or through later
  Merges), the Merge is *anchored* there, and once that event is at or below
  W, every lane's latest event descends from the Merge: the Merge is pruned as
  a creation is. Its id then reads as an event below W of its origin's lane
  (pruned only once its clock is at or below W there: above it, the id would
  read as a lane event it is not), or, for an origin with no lane (a
  resolution's own origin), as a parent not in the log, which every later event
  of an existing lane that descends from its lane's latest may leave out: its
  vector clock is at most W, which such an event dominates. A writer names
  heads, and a pruned Merge is no head, so only unusual logs name one again.
* An index entry is a tuple until its key is placed a second time (nearly
  every key is placed once before it is pruned).
* Two drops of a FROM/TO pair are no twins when an add of the pair is in one's
  past and not the other's (conflicts.py, ``_remade``). An add pruned from the
  index is in the past of every later event, but maybe not of a drop of its
  pair still indexed: so while one is, the pruned adds of the pair are kept
  (``_pruned_adds``, ids only; dropped at the prune that finds no drop of the
  pair left). A drop's vector clock is its lane's sync point's at its clock.

Anything the streaming method cannot decide exactly -- an origin whose events
are not a chain (a fork: a forged or unusual log), a new origin that does not
descend from a pruned creation, a new origin whose first event is not later
than a pruned Merge of the same origin (its HLC went back: forged) -- sets
``exact`` to False; the caller then runs ``conflicts._analyze_facts`` over the
whole log (O(events) memory, as merge).

Parents that are not in the log (yet) are left out, as merge's analysis does
for parents it cannot see.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from schemalog.errors import InvalidEvent
from schemalog.history.conflicts import _classify, _spec, _touches
from schemalog.history.duplicate_state import (
    CREATES,
    Entry,
    Lane,
    ScanState,
    Slot,
    lanes_of,
    split_key,
)
from schemalog.model.events import (
    AddConnection,
    AddProperty,
    CreateNodeTable,
    CreateRelTable,
    DropConnection,
    DropProperty,
    DropTable,
    Event,
    Merge,
)
from schemalog.model.names import catalog_key
from schemalog.model.parts import parse_event_id

__all__ = ["DuplicateScanner", "packed_clock"]

_LOGICAL = 1 << 53  # logical counters are < 2**53 (clock.py)
_PRUNE_EVERY = 1024  # creations indexed between prunes (each holds its event)
_ADD_PROPERTY, _MERGE = AddProperty.KIND, Merge.KIND


def packed_clock(event_id: str) -> tuple[str, int]:
    """``(origin, wall_ms * 2**53 + logical)`` of an event id (InvalidEvent if it is not one)."""
    origin, at, stamp = event_id.rpartition("@")
    wall, dot, logical = stamp.partition(".")
    if at and dot and wall.isdigit() and logical.isdigit():  # ids pass here unchecked: be cheap
        return origin, int(wall) * _LOGICAL + int(logical)
    parsed = parse_event_id(event_id)  # raises InvalidEvent naming what is wrong
    return parsed.origin, parsed.wall_ms * _LOGICAL + parsed.logical


# Change types the fast path of ``visit`` leaves to the general one.
_SPECIAL = frozenset(
    {
        CreateNodeTable,
        CreateRelTable,
        AddProperty,
        Merge,
        DropTable,
        DropProperty,
        AddConnection,
        DropConnection,
    }
)


# Flat kinds that neither create nor can be made twice (``visit_fields``).
_PLAIN_KINDS = frozenset({"rename_property", "rename_table", "comment_on_table", "tag"})
# Table creations given as their fields (``visit_fields``): the name is ``fields[1]``.
_CREATE_KINDS = frozenset({CreateNodeTable.KIND, CreateRelTable.KIND})


class DuplicateScanner(ScanState):
    """Visit every event of a log in log order; then read ``duplicates`` and the aliases.

    ``visit(event)`` takes a decoded event. A pre-pass over raw lines uses
    ``visit_facts`` (ids only) for events that create nothing and
    ``visit_creation`` for creations, whose full event (``source``: an Event or
    its record line) is decoded only when a concurrent creation of the same
    name exists.
    """

    def __init__(self) -> None:
        super().__init__()
        self._next_prune = _PRUNE_EVERY
        self._stale_parent = False  # the event being placed has a parent below the watermark
        self._cited: list[str] | None = None  # kept Merges among its parents

    def visit(self, event: Event) -> None:
        """The next event of the log (log order)."""
        c = event.change
        if type(c) not in _SPECIAL and self.exact:
            # The common case, inline: the origin's next event on its own chain.
            lane_no = self._lane_of.get(event.origin)
            if lane_no is not None:
                lane = self._lanes[lane_no]
                parents = event.parents
                if len(parents) == 1 and parents[0] == lane.last_id:
                    self._position += 1
                    hlc = event.hlc
                    clock = hlc.wall_ms * _LOGICAL + hlc.logical
                    # only the own entry changes (sync points share the list: their
                    # own entry is overwritten on lookup, see _vc_of_parents)
                    lane.vc[lane_no] = clock
                    lane.last, lane.last_id = clock, event.id
                    return
        hlc = event.hlc
        clock = hlc.wall_ms * _LOGICAL + hlc.logical
        if isinstance(c, CreateNodeTable | CreateRelTable):
            self.visit_creation(event.id, event.origin, event.parents, c.name, None, event, clock)
        elif isinstance(c, AddProperty):
            name, table = c.property.name, c.table_id
            self.visit_creation(event.id, event.origin, event.parents, name, table, event, clock)
        elif isinstance(c, DropTable | DropProperty | AddConnection | DropConnection):
            at = self._advance(event.id, event.origin, event.parents, False, clock)
            if at is not None:
                self._place(at, self._twice_key(c), event.id, event)
        else:
            self._advance(event.id, event.origin, event.parents, isinstance(c, Merge), clock)

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
        """``visit`` of an event given as its change's fields (replay's fused path,
        log/replay/fused.py: ``proved_line.prove_line``'s fields) and its packed
        clock; ``line`` is its record, decoded only if a concurrent twin shows up."""
        if self.exact and kind != _MERGE:
            lane_no = self._lane_of.get(origin)  # the common case, as in ``visit``
            if lane_no is not None:
                lane = self._lanes[lane_no]
                if len(parents) == 1 and parents[0] == lane.last_id:
                    position = self._position
                    self._position = position + 1
                    vc = lane.vc
                    vc[lane_no] = clock
                    lane.last, lane.last_id = clock, event_id
                    if kind in _PLAIN_KINDS:
                        return
                    if kind == _ADD_PROPERTY:
                        table, name = fields[0], fields[1].name
                        key: tuple[str, ...] = (
                            "pn",
                            self.table_alias.get(table, table),
                            name.lower() if name.isascii() else catalog_key(name),
                        )
                    elif kind in _CREATE_KINDS:
                        key = ("n", catalog_key(fields[1]))  # (as visit_creation)
                    else:
                        key = self._twice_key_fields(kind, fields)
                    index = self._index
                    if key in index:
                        self._place((position, lane_no, clock, vc), key, event_id, line)
                        return
                    index[key] = (lane_no, clock, position, event_id, line)  # (as _place)
                    self._size += 1
                    if self._size >= self._next_prune:
                        self._prune()
                    return
        if kind == _ADD_PROPERTY:
            name, table = fields[1].name, fields[0]
            self.visit_creation(event_id, origin, parents, name, table, line, clock)
        elif kind in _CREATE_KINDS:
            self.visit_creation(event_id, origin, parents, fields[1], None, line, clock)
        elif kind == _MERGE:
            self._advance(event_id, origin, parents, True, clock)
        elif kind in _PLAIN_KINDS:
            self._advance(event_id, origin, parents, False, clock)
        else:
            at = self._advance(event_id, origin, parents, False, clock)
            if at is not None:
                self._place(at, self._twice_key_fields(kind, fields), event_id, line)

    def _twice_key_fields(self, kind: str, fields: tuple[Any, ...]) -> tuple[str, ...]:
        """``_twice_key`` of a change given as its fields."""
        table = self.table_alias.get(fields[0], fields[0])
        if kind == DropTable.KIND:
            return "t", table
        if kind == DropProperty.KIND:
            return "p", table, self.prop_alias.get(fields[1], fields[1])
        x = fields[1]
        alias = self.table_alias
        f, t = x.from_table_id, x.to_table_id
        tag = "c+" if kind == AddConnection.KIND else "c-"
        return tag, table, alias.get(f, f), alias.get(t, t)

    def visit_facts(
        self, event_id: str, origin: str, parents: Sequence[str], merge: bool = False
    ) -> None:
        """The next event, which creates no table or property (a Merge: ``merge``)."""
        self._advance(event_id, origin, parents, merge)

    def visit_creation(
        self,
        event_id: str,
        origin: str,
        parents: Sequence[str],
        name: str,
        add_to: str | None,
        source: Event | bytes,
        clock: int | None = None,
    ) -> None:
        """The next event, a table creation (``add_to`` None) or a property added to ``add_to``.

        ``clock``: the event's packed HLC if known (else read off its id)."""
        at = self._advance(event_id, origin, parents, False, clock)
        if at is None:
            return
        if add_to is None:
            key: tuple[str, ...] = ("n", catalog_key(name))
        else:
            key = ("pn", self.table_alias.get(add_to, add_to), catalog_key(name))
        self._place(at, key, event_id, source)

    def _twice_key(
        self, c: DropTable | DropProperty | AddConnection | DropConnection
    ) -> tuple[str, ...]:
        """The flat key of a change that made twice concurrently is a duplicate."""
        table = self.table_alias.get(c.table_id, c.table_id)
        if isinstance(c, DropTable):
            return "t", table
        if isinstance(c, DropProperty):
            return "p", table, self.prop_alias.get(c.property_id, c.property_id)
        x = c.connection
        ends = [self.table_alias.get(t, t) for t in (x.from_table_id, x.to_table_id)]
        return "c+" if isinstance(c, AddConnection) else "c-", table, *ends

    def _place(
        self,
        at: tuple[int, int, int, list[int]],
        key: tuple[str, ...],
        event_id: str,
        source: Event | bytes,
    ) -> None:
        """Index a creation (or a change that can be made twice) and match it (``_match``)."""
        position, lane_no, clock, vc = at
        index = self._index
        group = index.get(key)
        if group is None:  # the common case: the first creation of its key, as a tuple
            index[key] = (lane_no, clock, position, event_id, source)
        else:
            if type(group) is tuple:
                group = index[key] = lanes_of(key, group)
            assert isinstance(group, dict)
            entry = Entry(event_id, source, None if key[0] in CREATES else ())
            self._match(entry, key, vc, group)
            slot = group.get(lane_no)
            if slot is None:
                group[lane_no] = Slot([clock], [position], [entry])
            else:
                slot.clocks.append(clock)
                slot.positions.append(position)
                slot.entries.append(entry)
        self._size += 1
        if self._size >= self._next_prune:
            self._prune()

    def _advance(
        self,
        event_id: str,
        origin: str,
        parents: Sequence[str],
        merge: bool,
        clock: int | None = None,
    ) -> tuple[int, int, int, list[int]] | None:
        """Place the next event on its lane: ``(position, lane, clock, vector clock)``."""
        position = self._position
        self._position += 1
        if not self.exact:
            return None
        lane_no = self._lane_of.get(origin)
        lane = self._lanes[lane_no] if lane_no is not None else None
        own = lane is not None and len(parents) == 1 and parents[0] == lane.last_id
        self._stale_parent = False
        cited: list[str] | None = None
        if own and lane is not None:
            vc = lane.vc
        else:
            vc = self._vc_of_parents(parents)
            cited = self._cited
        if merge:  # no lane: nothing conflicts with a resolution; a copy (lane.vc changes)
            self._merge_vcs[event_id] = list(vc) if own else vc
            if cited is not None:  # anchored when this Merge is (module doc)
                self._merge_parents[event_id] = cited
            return None
        if clock is None:
            _, clock = packed_clock(event_id)
        if lane is None or lane_no is None:
            if self._stale_parent or any(
                v > (vc[i] if i < len(vc) else 0) for i, v in enumerate(self._watermark)
            ):
                self.exact = False  # a new origin, maybe concurrent with pruned creations
                return None
            if self._gone.get(origin, -1) >= clock:
                self.exact = False  # a pruned Merge of this origin would read as its event
                return None
            lane_no = self._lane_of[origin] = len(self._lanes)
            lane = Lane()
            self._lanes.append(lane)
        elif not own and (
            (vc[lane_no] if lane_no < len(vc) else 0) != lane.last
            or (self._stale_parent and lane.last_id not in parents)
        ):
            self.exact = False  # the origin forked (or may have: W hides which)
            return None
        if cited is not None:
            self._anchor(cited, lane_no, clock)
        if own and lane is not None and lane_no < len(vc):
            # its own chain: only its own entry changes, in place, as in ``visit``
            vc[lane_no] = clock
            lane.last, lane.last_id = clock, event_id
            return position, lane_no, clock, vc
        if own:  # (never: a lane's clock is longer than its number)
            vc = list(vc)
        if len(vc) <= lane_no:
            vc.extend([0] * (lane_no + 1 - len(vc)))
        vc[lane_no] = clock
        if not own:  # the vector clock may change here: a sync point (vc: _vc_of_parents' new list)
            lane.sync_clocks.append(clock)
            lane.sync_vcs.append(vc)
        lane.last, lane.last_id, lane.vc = clock, event_id, vc
        return position, lane_no, clock, vc

    def _anchor(self, merges: list[str], lane_no: int, clock: int) -> None:
        """Merges (and their Merge parents) the event at ``clock`` of a lane descends from."""
        anchors, parents_of = self._merge_anchors, self._merge_parents
        todo = list(merges)
        while todo:
            m = todo.pop()
            if m not in anchors and m in self._merge_vcs:
                anchors[m] = (lane_no, clock)
                todo.extend(parents_of.pop(m, ()))

    def vector_clock(self, event_id: str, origin: str) -> list[int] | None:
        """A copy of the vector clock of the event just visited (``event_id`` of
        ``origin``); None when the scan cannot tell (inexact, a Merge, or not just visited)."""
        lane_no = self._lane_of.get(origin)
        if not self.exact or lane_no is None:
            return None
        lane = self._lanes[lane_no]
        return list(lane.vc) if lane.last_id == event_id else None

    def covers(self, vc: Sequence[int], ancestor: str) -> bool:
        """Whether an event with vector clock ``vc`` is ``ancestor`` or descends from it."""
        a_origin, a_clock = packed_clock(ancestor)
        a_lane = self._lane_of.get(a_origin)
        return a_lane is not None and a_lane < len(vc) and vc[a_lane] >= a_clock

    def _vc_of_parents(self, parents: Sequence[str]) -> list[int]:
        """The pointwise maximum of the parents' vector clocks (a new list); the kept
        Merges among them in ``_cited``."""
        self._cited = None
        vc: list[int] | None = None
        lane_of, lanes, mark = self._lane_of, self._lanes, self._watermark
        for p in parents:
            pv = self._merge_vcs.get(p)
            if pv is None:
                lane_no = lane_of.get(p.rpartition("@")[0])
                lane = lanes[lane_no] if lane_no is not None else None
                if lane is not None and p == lane.last_id:
                    clock = lane.last  # the common case: a lane's latest event
                else:
                    origin, clock = packed_clock(p)
                    lane_no = lane_of.get(origin)
                    if lane_no is None:
                        continue  # not (yet) in the log, or a pruned Merge (module doc)
                    lane = lanes[lane_no]
                    if clock > lane.last:
                        continue  # not (yet) in the log
                assert lane_no is not None and lane is not None
                if lane_no < len(mark) and clock <= mark[lane_no]:
                    # Below the watermark (module doc: pruning): its vector clock is at
                    # most the watermark, which an event of an existing lane dominates.
                    self._stale_parent = True
                    pv = mark
                elif clock == lane.last:
                    pv = lane.vc  # (its own entry is the lane's latest clock)
                else:
                    i = bisect_right(lane.sync_clocks, clock) - 1
                    if i < 0:
                        continue  # before the lane's first event: no event of it
                    pv = list(lane.sync_vcs[i])  # a kept sync point is at or before it
                    pv[lane_no] = clock
            elif self._cited is None:
                self._cited = [p]
            else:
                self._cited.append(p)
            if vc is None:
                vc = list(pv)
                continue
            if len(pv) > len(vc):
                vc.extend([0] * (len(pv) - len(vc)))
            for i, v in enumerate(pv):
                if v > vc[i]:
                    vc[i] = v
        return vc if vc is not None else []

    def _match(
        self, x: Entry, flat: tuple[str, ...], vc: list[int], lanes: dict[int, Slot]
    ) -> None:
        """Alias ``x`` to the earliest concurrent identical creation that is not its
        undone twin (merge's ``analyze_clocks``/``_alias``)."""
        key, role = split_key(flat)
        best: tuple[int, Entry] | None = None
        creates = flat[0] in CREATES
        made = creates or flat[0] == "c+"  # (a drop is never undone: conflicts.py)
        twins: list[tuple[int, str]] = []  # every twin (holders.py, merge.takes_over)
        for ylane, slot in lanes.items():
            seen = vc[ylane] if ylane < len(vc) else 0
            for j in range(bisect_right(slot.clocks, seen), len(slot.clocks)):
                y = slot.entries[j]
                if _classify(key, role, self._detail(y), role, self._detail(x)) is None:
                    if made and self._undone(y.event_id, vc):
                        continue
                    if flat[0] == "c-" and self._remade(flat, ylane, slot.clocks[j], vc):
                        continue
                    if best is None or slot.positions[j] < best[0]:
                        best = (slot.positions[j], y)
                    twins.append((slot.positions[j], y.event_id))
        if best is None:
            return
        first, xd, yd = best[1], self._detail(x), self._detail(best[1])
        if made:
            copies = self._copies.get(first.event_id)
            if copies is None:
                self._copies[first.event_id] = [x.event_id]
            else:
                copies.append(x.event_id)
        if len(twins) > 1:
            self.twins[x.event_id] = tuple(t for _, t in sorted(twins) if t != first.event_id)
        if key[0] not in ("n", "pn"):
            pass  # a drop or a connection change made twice: nothing to alias
        elif role == "create":
            table = self.table_alias.get(yd[1], yd[1])
            self.table_alias[xd[1]] = table
            change = x.event().change
            assert isinstance(change, CreateNodeTable | CreateRelTable)
            for i, p in enumerate(change.properties):
                self.prop_alias[p.property_id] = f"{table}/p{i}"
        else:
            self.prop_alias[xd[1]] = self.prop_alias.get(yd[1], yd[1])
        self.duplicates[x.event_id] = first.event_id

    def _undone(self, y: str, vc: list[int]) -> bool:
        """Whether the creation with ``vc`` descends from creation ``y`` or a twin of it:
        its writer saw that made and made it again, so it undid it (conflicts.py)."""
        first = self.duplicates.get(y, y)
        copies = self._copies.get(first)
        if copies is None:
            return False  # y alone, concurrent with the event
        covers = self.covers
        return covers(vc, first) or any(covers(vc, d) for d in copies)

    def _remade(self, flat: tuple[str, ...], ylane: int, yclock: int, vc: list[int]) -> bool:
        """Whether a drop of a FROM/TO pair (vector clock ``vc``) and a concurrent one
        (at ``yclock`` of lane ``ylane``) remove different makings of the pair: an add
        of it (or a copy of it) is in one's past and in no form in the other's
        (conflicts.py). The adds are the index's and those pruned while a drop of the
        pair stayed (``_pruned_adds``); y's clock is its lane's sync point's."""
        pair = flat[1:]
        made = list(self._pruned_adds.get(pair, ()))
        group = self._index.get(("c+", *pair))
        if type(group) is tuple:
            made.append(group[3])
        elif group is not None:
            assert isinstance(group, dict)
            made.extend(e.event_id for slot in group.values() for e in slot.entries)
        if not made:
            return False
        lane = self._lanes[ylane]
        i = bisect_right(lane.sync_clocks, yclock) - 1
        if i < 0:  # (never: a lane's first event is a sync point, the last one kept)
            return False
        yvc = list(lane.sync_vcs[i])
        if len(yvc) <= ylane:
            yvc.extend([0] * (ylane + 1 - len(yvc)))
        yvc[ylane] = yclock  # (a sync point's own entry is overwritten: _vc_of_parents)
        past: dict[str, int] = {}  # an add's first copy -> 1: in x's past, 2: in y's, 3: both
        covers, duplicates = self.covers, self.duplicates
        for a in made:
            first = duplicates.get(a, a)
            past[first] = past.get(first, 0) | covers(vc, a) | covers(yvc, a) << 1
        return any(bits in (1, 2) for bits in past.values())

    def _detail(self, entry: Entry) -> Any:
        """The creation's detail as conflicts.py compares them (computed once, on demand)."""
        if entry.detail is None:
            table_alias, prop_alias = self.table_alias, self.prop_alias
            try:
                event = entry.event()
            except (InvalidEvent, ValueError, TypeError, KeyError):
                entry.detail = (object(), None)  # a damaged line is identical to nothing
                return entry.detail
            touches = _touches(
                _spec(event),
                lambda t: table_alias.get(t, t),
                lambda p: prop_alias.get(p, p),
            )
            entry.detail = next(d for _, role, d in touches if role in ("create", "add"))
        return entry.detail

    def _prune(self) -> None:
        """Drop creations and Merges every lane's latest event descends from (module doc)."""
        lanes_now = self._lanes
        mark = [
            min(ln.vc[k] if k < len(ln.vc) else 0 for ln in lanes_now)
            for k in range(len(lanes_now))
        ]
        self._watermark = mark
        for k, lane in enumerate(lanes_now):  # keep the last sync point at or below the mark
            cut = bisect_right(lane.sync_clocks, mark[k]) - 1
            if cut > 0:
                del lane.sync_clocks[:cut], lane.sync_vcs[:cut]
        kept = 0
        index: dict[tuple[str, ...], tuple[Any, ...] | dict[int, Slot]] = {}
        adds: list[tuple[tuple[str, ...], str]] = []  # pruned adds of FROM/TO pairs
        for key, group in self._index.items():  # a new dict: a dict never shrinks
            if type(group) is tuple:
                if group[1] > mark[group[0]]:
                    index[key] = group
                    kept += 1
                elif key[0] == "c+":
                    adds.append((key[1:], group[3]))
                continue
            assert isinstance(group, dict)
            for ylane in list(group):
                slot = group[ylane]
                cut = bisect_right(slot.clocks, mark[ylane])
                if key[0] == "c+":
                    adds.extend((key[1:], e.event_id) for e in slot.entries[:cut])
                if cut == len(slot.clocks):
                    del group[ylane]
                    continue
                if cut:
                    slot.drop(cut)
                kept += len(slot.clocks)
            if group:
                index[key] = group
        self._index = index
        # A pruned add is in the past of every later event; only a drop of its pair
        # still indexed may lack it (``_remade``): kept while one is.
        pruned = self._pruned_adds
        for pair in [p for p in pruned if ("c-", *p) not in index]:
            del pruned[pair]
        for pair, add in adds:
            if ("c-", *pair) in index:
                pruned.setdefault(pair, []).append(add)
        self._size = kept
        self._next_prune = max(2 * kept, kept + _PRUNE_EVERY)
        self._prune_merges(mark)

    def _prune_merges(self, mark: list[int]) -> None:
        """Drop the vector clocks of anchored Merges every lane descends from (module doc)."""
        anchors, vcs, lane_of = self._merge_anchors, self._merge_vcs, self._lane_of
        gone = [m for m, (a, c) in anchors.items() if c <= mark[a]]
        for m in gone:
            origin, clock = packed_clock(m)
            lane_no = lane_of.get(origin)
            if lane_no is None:
                self._gone[origin] = max(self._gone.get(origin, -1), clock)
            elif clock > mark[lane_no]:
                continue  # not yet: its id would read as an event of the lane above W
            del anchors[m], vcs[m]
            self._merge_parents.pop(m, None)
