"""Schema evolution metrics over a log and over time windows, in one streaming pass.

Windows: ``--window 1d`` (also ``ms``, ``s``, ``m``, ``h``, ``w``) groups records
by the wall time of their hybrid-logical-clock stamp, aligned to the epoch
(a day window starts at 00:00 UTC); ``1000e`` groups by record count (position
0..999, 1000..1999, ...); no window: one window for the whole log. A window
with no records does not appear.

Per window: records by kind (change frequency), table and property renames,
breaking changes (each record checked against the version before it with
``compat``'s rules, mode FULL and level DATA unless told otherwise, counted by
rule), merges and the conflicts they resolved (Merge events and their
Resolution entries), records the schema rejected, and the schema at the end of
the window: node tables, rel tables, properties, FROM/TO connections, maximal
fan-out, deepest rename chain, complexity. Over the log: totals of the same,
and churn: the tables and properties changed most often (a table's churn
counts every record touching it or one of its properties; a property's the
records creating, renaming or dropping it), the top ``top`` of each, live or
dropped.

Complexity score (README-ready)::

    complexity = T + E + P / 4 + F_max + D_max

    T      tables (node + rel)
    E      FROM/TO connections over all rel tables
    P      properties over all tables
    F_max  largest fan-out: the number of distinct node tables one node table
           reaches through rel tables, in either direction (a self-loop counts)
    D_max  deepest rename chain: the most renames one live table or property
           has been through (A -> B -> C is 2)

Every table and every join path is something a query writer must know (1
each); a property is cheaper (1/4); a hub table and an element renamed many
times both make queries harder to write correctly, so the worst of each is
added. An empty schema scores 0.

Memory: O(schema + windows + top): per live element a few counters, per window
one bucket (about 650 bytes: a series point; ``1e`` windows make it one per
record, so choose a window that gives a plottable series); dropped elements
leave only if they made the churn top list. No per-record list is kept: a
1,000,000-record log runs within replay's memory budget (bench/compat).
Output: ``Metrics.to_obj()`` (JSON), ``Metrics.table_rows()`` (text table),
``Metrics.series()`` (plot-ready points ``{window_start, ...}``).
"""

from __future__ import annotations

import datetime
import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemalog.analysis.compat import HistoryChecker
from schemalog.analysis.versions import iter_versions
from schemalog.errors import SchemalogError
from schemalog.model.events import (
    DropProperty,
    DropTable,
    Event,
    Merge,
    RenameProperty,
    RenameTable,
)
from schemalog.model.schema import NODE, SchemaState, TableState

__all__ = ["BadWindow", "Metrics", "Window", "WindowStats", "compute_metrics", "parse_window"]

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_WINDOW_RE = re.compile(r"([1-9][0-9]{0,12})(ms|s|m|h|d|w|e)\Z")


class BadWindow(SchemalogError):
    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"window {text!r}: expected N followed by ms, s, m, h, d, w or e")


@dataclass(frozen=True, slots=True)
class Window:
    """``by`` is ``time`` (size in ms), ``events`` (size in records) or ``all``."""

    by: str
    size: int
    text: str

    def key(self, position: int, wall_ms: int) -> int:
        if self.by == "time":
            return wall_ms - wall_ms % self.size
        if self.by == "events":
            return position - position % self.size
        return 0


def parse_window(text: str | None) -> Window:
    if not text:
        return Window("all", 0, "all")
    m = _WINDOW_RE.match(text.strip())
    if m is None:
        raise BadWindow(text)
    n, unit = int(m.group(1)), m.group(2)
    if unit == "e":
        return Window("events", n, text)
    return Window("time", n * _UNITS_MS[unit], text)


@dataclass(frozen=True, slots=True)
class Size:
    node_tables: int = 0
    rel_tables: int = 0
    properties: int = 0
    connections: int = 0
    max_fanout: int = 0
    max_rename_depth: int = 0

    @property
    def tables(self) -> int:
        return self.node_tables + self.rel_tables

    @property
    def complexity(self) -> float:
        score = (
            self.tables
            + self.connections
            + self.properties / 4
            + self.max_fanout
            + self.max_rename_depth
        )
        return round(score, 2)

    def to_obj(self) -> dict[str, Any]:
        return {
            "complexity": self.complexity,
            "connections": self.connections,
            "max_fanout": self.max_fanout,
            "max_rename_depth": self.max_rename_depth,
            "node_tables": self.node_tables,
            "properties": self.properties,
            "rel_tables": self.rel_tables,
            "tables": self.tables,
        }


@dataclass(slots=True)
class WindowStats:
    start: int  # ms since the epoch, or a position for event windows, 0 for "all"
    first_position: int
    last_position: int = 0
    events: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    table_renames: int = 0
    property_renames: int = 0
    breaking: dict[str, int] = field(default_factory=dict)
    merges: int = 0
    merges_with_conflicts: int = 0
    resolutions: int = 0
    rejected: int = 0
    skipped: int = 0  # merge losers and duplicates the effective stream left out
    size: Size = field(default_factory=Size)

    def to_obj(self, window: Window) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "breaking": sum(self.breaking.values()),
            "breaking_by_rule": dict(sorted(self.breaking.items())),
            "events": self.events,
            "first_position": self.first_position,
            "kinds": dict(sorted(self.kinds.items())),
            "last_position": self.last_position,
            "merges": self.merges,
            "merges_with_conflicts": self.merges_with_conflicts,
            "property_renames": self.property_renames,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "renames": self.table_renames + self.property_renames,
            "resolutions": self.resolutions,
            "table_renames": self.table_renames,
            "window_start": self.start,
            "window_end": self.start + window.size if window.by != "all" else None,
        }
        if window.by == "time":
            obj["window_label"] = _iso(self.start)
        obj.update(self.size.to_obj())
        return obj


def _iso(ms: int) -> str:
    dt = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Metrics:
    window: Window
    mode: str
    level: str
    events: int = 0
    windows: list[WindowStats] = field(default_factory=list)
    size: Size = field(default_factory=Size)
    top_tables: list[dict[str, Any]] = field(default_factory=list)
    top_properties: list[dict[str, Any]] = field(default_factory=list)
    first_ms: int | None = None
    last_ms: int | None = None

    def _total(self, name: str) -> int:
        return sum(getattr(w, name) for w in self.windows)

    def totals(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        breaking: dict[str, int] = {}
        for w in self.windows:
            for k, v in w.kinds.items():
                kinds[k] = kinds.get(k, 0) + v
            for k, v in w.breaking.items():
                breaking[k] = breaking.get(k, 0) + v
        return {
            "breaking": sum(breaking.values()),
            "breaking_by_rule": dict(sorted(breaking.items())),
            "events": self.events,
            "kinds": dict(sorted(kinds.items())),
            "merges": self._total("merges"),
            "merges_with_conflicts": self._total("merges_with_conflicts"),
            "property_renames": self._total("property_renames"),
            "rejected": self._total("rejected"),
            "skipped": self._total("skipped"),
            "resolutions": self._total("resolutions"),
            "table_renames": self._total("table_renames"),
        }

    def series(self) -> list[dict[str, Any]]:
        return [w.to_obj(self.window) for w in self.windows]

    def to_obj(self) -> dict[str, Any]:
        return {
            "churn": {"properties": self.top_properties, "tables": self.top_tables},
            "complexity_formula": "T + E + P/4 + F_max + D_max",
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "level": self.level,
            "mode": self.mode,
            "schema": self.size.to_obj(),
            "series": self.series(),
            "totals": self.totals(),
            "window": self.window.text,
        }

    TABLE_HEADERS = (
        "window",
        "events",
        "renames",
        "breaking",
        "merges",
        "resolved",
        "tables",
        "props",
        "conns",
        "fanout",
        "complexity",
    )

    def table_rows(self) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        for w in self.windows:
            label = (
                _iso(w.start)
                if self.window.by == "time"
                else f"{w.start}.."
                if self.window.by == "events"
                else "all"
            )
            s = w.size
            rows.append(
                (
                    label,
                    w.events,
                    w.table_renames + w.property_renames,
                    sum(w.breaking.values()),
                    w.merges,
                    w.resolutions,
                    s.tables,
                    s.properties,
                    s.connections,
                    s.max_fanout,
                    s.complexity,
                )
            )
        return rows


class _Top:
    """The ``n`` largest (churn, id) entries of dropped elements (a min-heap)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.heap: list[tuple[int, str, dict[str, Any]]] = []

    def push(self, churn: int, element: str, info: dict[str, Any]) -> None:
        item = (churn, element, info)
        if len(self.heap) < self.n:
            heapq.heappush(self.heap, item)
        elif self.n and item[:2] > self.heap[0][:2]:
            heapq.heapreplace(self.heap, item)


class _Collector:
    def __init__(self, window: Window, mode: str, level: str, top: int) -> None:
        self.window = window
        self.checker = HistoryChecker(mode, level)
        self.buckets: dict[int, WindowStats] = {}
        self.current: WindowStats | None = None
        self.node_tables = self.rel_tables = self.properties = self.connections = 0
        self.adjacent: dict[str, dict[str, int]] = {}  # node id -> neighbour id -> pairs
        self.renames: dict[str, int] = {}  # live element -> renames so far
        self.table_churn: dict[str, int] = {}
        self.prop_churn: dict[str, int] = {}
        self.dropped_tables = _Top(top)
        self.dropped_props = _Top(top)
        self.top = top

    # ------------------------------------------------ schema bookkeeping

    def _count(self, table: TableState | None, sign: int) -> None:
        if table is None:
            return
        if table.kind == NODE:
            self.node_tables += sign
        else:
            self.rel_tables += sign
        self.properties += sign * len(table.properties)
        self.connections += sign * len(table.connections)
        for c in table.connections:
            for a, b in ((c.from_table_id, c.to_table_id), (c.to_table_id, c.from_table_id)):
                row = self.adjacent.setdefault(a, {})
                n = row.get(b, 0) + sign
                if n:
                    row[b] = n
                else:
                    row.pop(b, None)
                    if not row:
                        del self.adjacent[a]

    def size(self) -> Size:
        fanout = max((len(v) for v in self.adjacent.values()), default=0)
        depth = max(self.renames.values(), default=0)
        return Size(
            self.node_tables, self.rel_tables, self.properties, self.connections, fanout, depth
        )

    # ------------------------------------------------ one record

    def feed(
        self,
        event: Event,
        position: int,
        before: SchemaState,
        after: SchemaState,
        rejected: bool,
        findings: Iterable[str],
        skipped: bool = False,
    ) -> None:
        key = self.window.key(position - 1, event.hlc.wall_ms)
        bucket = self.buckets.get(key)
        if bucket is not self.current and self.current is not None:
            self.current.size = self.size()  # leaving a window: its schema at the end
        if bucket is None:
            bucket = self.buckets[key] = WindowStats(key, position - 1)
        self.current = bucket
        bucket.events += 1
        bucket.last_position = position - 1
        kind = event.kind
        bucket.kinds[kind] = bucket.kinds.get(kind, 0) + 1
        for rule in findings:
            bucket.breaking[rule] = bucket.breaking.get(rule, 0) + 1
        change = event.change
        if isinstance(change, Merge):
            bucket.merges += 1
            bucket.resolutions += len(change.resolutions)
            bucket.merges_with_conflicts += 1 if change.resolutions else 0
        if rejected or skipped:
            bucket.rejected += rejected
            bucket.skipped += skipped
            return
        table_id: str | None = getattr(change, "table_id", None)
        if table_id is None:
            return
        old_t, new_t = before.tables.get(table_id), after.tables.get(table_id)
        self._count(old_t, -1)
        self._count(new_t, +1)
        self.table_churn[table_id] = self.table_churn.get(table_id, 0) + 1
        prop_id: str | None = getattr(change, "property_id", None)
        new_prop = getattr(change, "property", None)
        if new_prop is not None:
            prop_id = new_prop.property_id
        created = getattr(change, "properties", None)
        for p in created or ():
            self.prop_churn[p.property_id] = 1
        if prop_id is not None:
            self.prop_churn[prop_id] = self.prop_churn.get(prop_id, 0) + 1
        if isinstance(change, RenameTable):
            bucket.table_renames += 1
            self.renames[table_id] = self.renames.get(table_id, 0) + 1
        elif isinstance(change, RenameProperty):
            bucket.property_renames += 1
            self.renames[change.property_id] = self.renames.get(change.property_id, 0) + 1
        elif isinstance(change, DropProperty) and old_t is not None:
            self._retire_property(old_t, change.property_id)
        elif isinstance(change, DropTable) and old_t is not None:
            for p in old_t.properties:
                self._retire_property(old_t, p.property_id)
            self.renames.pop(table_id, None)
            info = {"id": table_id, "kind": old_t.kind, "live": False, "name": old_t.name}
            self.dropped_tables.push(self.table_churn.pop(table_id, 0), table_id, info)

    def _retire_property(self, table: TableState, pid: str) -> None:
        prop = table.property(pid)
        self.renames.pop(pid, None)
        info = {"id": pid, "live": False, "name": prop.name if prop else pid,
                "table": table.name, "table_id": table.table_id}  # fmt: skip
        self.dropped_props.push(self.prop_churn.pop(pid, 0), pid, info)

    def finish(self, state: SchemaState, metrics: Metrics) -> None:
        if self.current is not None:
            self.current.size = self.size()
        metrics.size = self.size()
        metrics.windows = [self.buckets[k] for k in sorted(self.buckets)]
        for tid, churn in self.table_churn.items():
            t = state.tables.get(tid)
            if t is not None:
                info = {"id": tid, "kind": t.kind, "live": True, "name": t.name}
                self.dropped_tables.push(churn, tid, info)
        for t in state.tables.values():
            for p in t.properties:
                pchurn = self.prop_churn.get(p.property_id)
                if pchurn is not None:
                    info = {"id": p.property_id, "live": True, "name": p.name,
                            "table": t.name, "table_id": t.table_id}  # fmt: skip
                    self.dropped_props.push(pchurn, p.property_id, info)
        metrics.top_tables = _ranked(self.dropped_tables)
        metrics.top_properties = _ranked(self.dropped_props)


def _ranked(top: _Top) -> list[dict[str, Any]]:
    ordered = sorted(top.heap, key=lambda item: (-item[0], item[1]))
    return [{**info, "churn": churn} for churn, _, info in ordered]


def compute_metrics(
    events: Iterable[Event],
    window: str | Window | None = None,
    *,
    mode: str = "FULL",
    level: str = "DATA",
    top: int = 10,
) -> Metrics:
    """Evolution metrics of ``events`` (one pass; see module docstring)."""
    win = window if isinstance(window, Window) else parse_window(window)
    metrics = Metrics(win, mode, level)
    collector = _Collector(win, mode, level, top)
    state: SchemaState | None = None
    for item in iter_versions(events, "event"):
        state = item.state
        event = item.event
        if event is None or item.before is None:
            continue
        metrics.events += 1
        wall = event.hlc.wall_ms
        metrics.first_ms = wall if metrics.first_ms is None else min(metrics.first_ms, wall)
        metrics.last_ms = wall if metrics.last_ms is None else max(metrics.last_ms, wall)
        findings = [f.rule for f in collector.checker.check(item)]
        collector.feed(
            event,
            item.version.position,
            item.before,
            item.state,
            bool(item.rejected),
            findings,
            skipped=item.skipped > 0,
        )
    if state is not None:
        collector.finish(state, metrics)
    return metrics
