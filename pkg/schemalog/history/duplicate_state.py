"""What the streaming duplicate scan holds (duplicates.py), and its saved form.

``ScanState`` is the scan's state: its lanes (one origin's chain each, with its
sync points), the index of creations by flat key, the vector clocks of the
Merges a later event may name, and what it found. ``to_obj``/``from_obj`` are
the form a snapshot keeps (log/snapshot.py); the scanning itself is
``DuplicateScanner``'s, a subclass. A saved scan names the rules it was made
under (``RULES``): a scan of other rules is refused, so a snapshot's records
are read again rather than resumed under rules that decided them otherwise.

Index keys are flat tuples: conflicts.py's element key with its role in the
tag (``ROLES``). An index entry is a tuple ``(lane, clock, position, id,
source)`` until its key is placed a second time (nearly every key is placed
once before it is pruned); it then becomes lane -> ``Slot``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from schemalog.encoding.fast_event import event_from_obj
from schemalog.history.conflicts import Key
from schemalog.model.events import Event

__all__ = [
    "CREATES",
    "RULES",
    "Entry",
    "Lane",
    "ScanState",
    "Slot",
    "StaleScan",
    "flat_key",
    "split_key",
]

# The version of the duplicate rules (duplicates.py, conflicts.py) a saved scan
# was made under. Raise it with any change to what the scan decides or keeps: a
# scan saved before (a snapshot's) is then refused, not resumed. 3: the twins
# of creations are kept too (session 10: a copy of a creation left out takes
# its place unless a twin was applied, holders.py); 2: twins and the pruned
# adds of pairs are kept (session 9); 1 (no "rules" key): before.
RULES = 3

# The tag of a flat key -> the role of its element key; connections carry their
# role as "c+" (added) or "c-" (dropped).
ROLES = {"n": "create", "pn": "add", "t": "drop", "p": "drop", "c+": "add", "c-": "drop"}
CREATES = frozenset({"n", "pn"})  # creations (their detail is computed on demand)

_State = TypeVar("_State", bound="ScanState")


class StaleScan(ValueError):
    """A saved scan made under other duplicate rules (``RULES``) than these."""

    def __init__(self, rules: object) -> None:
        self.rules = rules
        made = "before rules were versioned" if rules is None else f"under rules {rules!r}"
        super().__init__(f"saved {made}, these are rules {RULES}")


def split_key(flat: tuple[str, ...]) -> tuple[Key, str]:
    """``(element key, role)`` of a flat index key."""
    tag = flat[0]
    return (("c", *flat[1:]) if tag[0] == "c" else flat), ROLES[tag]


def flat_key(key: Key, role: str) -> tuple[str, ...]:
    """The flat index key of ``(element key, role)``."""
    if key[0] == "c":
        return ("c+" if role == "add" else "c-", *key[1:])
    return tuple(key)


class Lane:
    """One origin's chain: its latest event and its sync points."""

    __slots__ = ("last", "last_id", "sync_clocks", "sync_vcs", "vc")

    def __init__(self) -> None:
        self.last = 0  # clock of the lane's latest event
        self.last_id = ""
        self.vc: list[int] = []  # vector clock of the latest event
        self.sync_clocks: list[int] = []  # clocks of the sync points, ascending
        self.sync_vcs: list[list[int]] = []  # vector clock at each sync point


class Entry:
    """One creation: its id and its event, or the record line to decode it from."""

    __slots__ = ("detail", "event_id", "source")

    def __init__(self, event_id: str, source: Event | bytes, detail: Any = None) -> None:
        self.event_id = event_id
        self.source = source
        self.detail: Any = detail  # None: not computed yet

    def event(self) -> Event:
        """The creation event (InvalidEvent or ValueError if its line does not decode)."""
        if isinstance(self.source, bytes):
            self.source = event_from_obj(json.loads(self.source)["event"])
        return self.source


class Slot:
    """Creations of one (key, role) by one lane, in log order."""

    __slots__ = ("clocks", "entries", "positions")

    def __init__(
        self,
        clocks: list[int] | None = None,
        positions: list[int] | None = None,
        entries: list[Entry] | None = None,
    ) -> None:
        self.clocks: list[int] = clocks if clocks is not None else []
        self.positions: list[int] = positions if positions is not None else []
        self.entries: list[Entry] = entries if entries is not None else []

    def drop(self, n: int) -> None:
        del self.clocks[:n], self.positions[:n], self.entries[:n]


def lanes_of(key: tuple[str, ...], group: tuple[Any, ...] | dict[int, Slot]) -> dict[int, Slot]:
    """An index entry as lane -> creations (a tuple entry made a group of one)."""
    if type(group) is not tuple:
        return group  # type: ignore[return-value]
    lane_no, clock, position, event_id, source = group
    entry = Entry(event_id, source, None if key[0] in CREATES else ())
    return {lane_no: Slot([clock], [position], [entry])}


class ScanState:
    """The duplicate scan's state (module doc); ``DuplicateScanner`` visits events."""

    def __init__(self) -> None:
        self.duplicates: dict[str, str] = {}  # duplicate creation id -> the creation it duplicates
        # a duplicate drop or connection change -> its other concurrent identical twins
        self.twins: dict[str, Sequence[str]] = {}
        self._copies: dict[str, list[str]] = {}  # a duplicated event -> its duplicates
        # FROM/TO pair (rel, from, to) -> adds of it pruned while a drop of it is indexed
        self._pruned_adds: dict[tuple[str, ...], list[str]] = {}
        self.table_alias: dict[str, str] = {}
        self.prop_alias: dict[str, str] = {}
        self.exact = True
        self._lane_of: dict[str, int] = {}
        self._lanes: list[Lane] = []
        self._merge_vcs: dict[str, list[int]] = {}
        # Merge id -> (lane, clock) of a lane event that descends from it (duplicates.py)
        self._merge_anchors: dict[str, tuple[int, int]] = {}
        self._merge_parents: dict[str, list[str]] = {}  # a Merge's unanchored Merge parents
        self._gone: dict[str, int] = {}  # origin without a lane -> its last pruned Merge's clock
        # flat key -> the first creation (lane, clock, position, id, source) or, once the key
        # repeats, lane -> that lane's creations of the key, in log order
        self._index: dict[tuple[str, ...], tuple[Any, ...] | dict[int, Slot]] = {}
        self._position = 0
        self._size = 0
        self._next_prune = 0
        self._watermark: list[int] = []

    def to_obj(self) -> dict[str, Any]:
        """JSON-able state (clocks as decimal strings: they exceed JSON's safe integers)."""

        def clocks(values: Sequence[int]) -> list[str]:
            return [str(v) for v in values]

        index = []
        for flat, group in self._index.items():
            key, role = split_key(flat)
            for lane_no, slot in lanes_of(flat, group).items():
                index.append(
                    {
                        "key": list(key),
                        "role": role,
                        "lane": lane_no,
                        "clocks": clocks(slot.clocks),
                        "positions": list(slot.positions),
                        "events": [e.event().to_obj() for e in slot.entries],
                    }
                )
        return {
            "aliases": {"prop": self.prop_alias, "table": self.table_alias},
            "duplicates": self.duplicates,
            "twins": {k: list(v) for k, v in self.twins.items()},
            "exact": self.exact,
            "gone_merge_origins": {k: str(v) for k, v in self._gone.items()},
            "index": index,
            "lanes": [
                {
                    "last": str(ln.last),
                    "last_id": ln.last_id,
                    "origin": origin,
                    "sync_clocks": clocks(ln.sync_clocks),
                    "sync_vcs": [clocks(v) for v in ln.sync_vcs],
                    "vc": clocks(ln.vc),
                }
                for origin, ln in zip(self._lane_of, self._lanes, strict=True)
            ],
            "merge_anchors": {k: [a, str(c)] for k, (a, c) in self._merge_anchors.items()},
            "merge_parents": {k: list(v) for k, v in self._merge_parents.items()},
            "merge_vcs": {k: clocks(v) for k, v in self._merge_vcs.items()},
            "next_prune": self._next_prune,
            "pruned_adds": [[list(k), list(v)] for k, v in self._pruned_adds.items()],
            "position": self._position,
            "rules": RULES,
            "watermark": clocks(self._watermark),
        }

    @classmethod
    def from_obj(cls: type[_State], obj: Any) -> _State:
        """The scan ``to_obj`` saved (KeyError, TypeError, ValueError, InvalidEvent if not;
        ``StaleScan`` if it was made under other rules)."""

        def ints(values: Any) -> list[int]:
            return [int(v) for v in values]

        if type(obj) is not dict:
            raise TypeError(f"a saved scan is an object, not {type(obj).__name__}")
        if obj.get("rules") != RULES:
            raise StaleScan(obj.get("rules"))
        scanner = cls()
        scanner.exact = bool(obj["exact"])
        scanner.duplicates = dict(obj["duplicates"])
        scanner.twins = {k: tuple(v) for k, v in obj["twins"].items()}
        for dup, first in scanner.duplicates.items():
            scanner._copies.setdefault(first, []).append(dup)
        scanner.table_alias = dict(obj["aliases"]["table"])
        scanner.prop_alias = dict(obj["aliases"]["prop"])
        for item in obj["lanes"]:
            lane = Lane()
            lane.last, lane.last_id, lane.vc = int(item["last"]), item["last_id"], ints(item["vc"])
            lane.sync_clocks = ints(item["sync_clocks"])
            lane.sync_vcs = [ints(v) for v in item["sync_vcs"]]
            scanner._lane_of[item["origin"]] = len(scanner._lanes)
            scanner._lanes.append(lane)
        scanner._merge_vcs = {k: ints(v) for k, v in obj["merge_vcs"].items()}
        scanner._merge_anchors = {k: (int(a), int(c)) for k, (a, c) in obj["merge_anchors"].items()}
        scanner._merge_parents = {k: list(v) for k, v in obj["merge_parents"].items()}
        scanner._gone = {k: int(v) for k, v in obj["gone_merge_origins"].items()}
        for item in obj["index"]:
            slot = Slot()
            slot.clocks = ints(item["clocks"])
            slot.positions = [int(v) for v in item["positions"]]
            flat = flat_key(tuple(item["key"]), item["role"])
            detail = None if flat[0] in CREATES else ()  # as the live scan's (_place)
            for event_obj in item["events"]:
                event = event_from_obj(event_obj)
                slot.entries.append(Entry(event.id, event, detail))
            group = scanner._index.setdefault(flat, {})
            assert isinstance(group, dict)
            group[int(item["lane"])] = slot
            scanner._size += len(slot.clocks)
        scanner._pruned_adds = {tuple(k): list(v) for k, v in obj["pruned_adds"]}
        scanner._next_prune = int(obj["next_prune"])
        scanner._position = int(obj["position"])
        scanner._watermark = ints(obj["watermark"])
        return scanner
