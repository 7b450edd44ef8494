"""Replay tracing: batch and event timings, slow operations, chunks, memory high-water.

A ``Tracer`` is handed to ``replay(..., tracer=...)``, which calls its hooks:
``begin``, ``chunk`` (one per chunk read: a chunk boundary), ``batch`` (one per
committed or failed batch), ``event`` (per event, only when ``per_event`` is
on, or for an event slower than ``slow_s``) and ``end``. A hook that raises is
a crash of the batch it runs in (replay rolls that batch back).

What it costs: without a tracer the replay loop reads no clock at all. With
one, replay reads the clock twice per event to find slow events (two calls of
``perf_counter``, well under 1 % of an event's cost) but keeps a record only
for slow events; ``per_event=True`` keeps one per event (memory and trace size
grow with the log: use it on slices). ``memory=True`` samples the high-water
mark at every chunk and batch boundary: ``tracemalloc`` in CPython (started
here if it is not running, which slows Python allocation noticeably), the
WebAssembly heap size in Pyodide (free to read; see ``_compat``).

Exports: ``trace_events()`` / ``write_json(path)`` give the Trace Event Format
(``{"traceEvents": [...], "displayTimeUnit": "ms"}``, complete events ``X``
for batches and events, instants ``i`` for chunk boundaries and slow events,
counters ``C`` for memory), which Perfetto and chrome://tracing open; ``ts``
and ``dur`` are microseconds from ``begin``, events sorted by ``ts``.
``summary()`` is a few lines of text.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemalog import _compat

__all__ = ["BatchSpan", "ChunkMark", "EventSpan", "Tracer"]


@dataclass(frozen=True, slots=True)
class BatchSpan:
    first: int  # position of the batch's first record
    end: int  # one past its last record
    applied: int
    start_s: float
    seconds: float
    ok: bool


@dataclass(frozen=True, slots=True)
class EventSpan:
    position: int
    event_id: str | None
    kind: str | None
    start_s: float
    seconds: float


@dataclass(frozen=True, slots=True)
class ChunkMark:
    start: int  # position of the chunk's first line
    lines: int
    nbytes: int
    at_s: float


@dataclass
class Tracer:
    """Collects a replay's timings; see the module doc for what each option costs."""

    clock: Callable[[], float] = time.perf_counter
    per_event: bool = False
    slow_s: float = 0.005
    memory: bool = False
    max_slow: int = 1000  # keep at most this many slow events (the slowest are not chosen)
    batches: list[BatchSpan] = field(default_factory=list)
    events: list[EventSpan] = field(default_factory=list)  # per_event only
    slow: list[EventSpan] = field(default_factory=list)
    chunks: list[ChunkMark] = field(default_factory=list)
    memory_samples: list[tuple[float, int]] = field(default_factory=list)
    memory_peak: int | None = None
    memory_source: str | None = None  # "tracemalloc" | "wasm-heap"
    memory_start: int | None = None
    slow_dropped: int = 0
    _t0: float = 0.0
    _t_end: float | None = None
    _started_tracemalloc: bool = False

    # ------------------------------------------------------------ hooks

    def begin(self) -> None:
        self._t0 = self.clock()
        if not self.memory:
            return
        if _compat.IN_PYODIDE:
            self.memory_source = "wasm-heap"
        else:
            self.memory_source = "tracemalloc"
            if not tracemalloc.is_tracing():
                tracemalloc.start()
                self._started_tracemalloc = True
            tracemalloc.reset_peak()
        self.memory_start = self._memory_now()
        self._sample()

    def now(self) -> float:
        """Seconds since ``begin`` by the injected clock."""
        return self.clock() - self._t0

    def chunk(self, start: int, lines: int, nbytes: int) -> None:
        self.chunks.append(ChunkMark(start, lines, nbytes, self.now()))
        self._sample()

    def batch(self, first: int, end: int, applied: int, start_s: float, ok: bool) -> None:
        now = self.now()
        self.batches.append(BatchSpan(first, end, applied, start_s, now - start_s, ok))
        self._sample()

    def event(
        self, position: int, event_id: str | None, kind: str | None, start_s: float, seconds: float
    ) -> None:
        span = EventSpan(position, event_id, kind, start_s, seconds)
        if self.per_event:
            self.events.append(span)
        if seconds >= self.slow_s:
            if len(self.slow) < self.max_slow:
                self.slow.append(span)
            else:
                self.slow_dropped += 1

    def end(self) -> None:
        self._sample()
        self._t_end = self.now()
        if self._started_tracemalloc:
            tracemalloc.stop()
            self._started_tracemalloc = False

    # ------------------------------------------------------------ memory

    def _memory_now(self) -> int | None:
        if self.memory_source == "tracemalloc":
            return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
        if self.memory_source == "wasm-heap":
            return _compat.wasm_heap_bytes()
        return None

    def _sample(self) -> None:
        if not self.memory:
            return
        if self.memory_source == "tracemalloc" and tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
        else:
            value = self._memory_now()
            if value is None:
                return
            current = peak = value
        self.memory_samples.append((self.now(), current))
        if self.memory_peak is None or peak > self.memory_peak:
            self.memory_peak = peak

    # ------------------------------------------------------------ export

    def trace_events(self) -> dict[str, Any]:
        """The Trace Event Format object (JSON Object form), sorted by ``ts``."""
        out: list[dict[str, Any]] = []

        def us(seconds: float) -> float:
            return round(seconds * 1e6, 3)

        base = {"pid": 1, "tid": 1}
        for b in self.batches:
            out.append(
                {
                    **base,
                    "name": "batch" if b.ok else "batch (rolled back)",
                    "cat": "replay",
                    "ph": "X",
                    "ts": us(b.start_s),
                    "dur": us(b.seconds),
                    "args": {"first": b.first, "end": b.end, "applied": b.applied, "ok": b.ok},
                }
            )
        for e in self.events:
            out.append(
                {
                    **base,
                    "tid": 2,
                    "name": e.kind or "record",
                    "cat": "event",
                    "ph": "X",
                    "ts": us(e.start_s),
                    "dur": us(e.seconds),
                    "args": {"position": e.position, "id": e.event_id},
                }
            )
        for e in self.slow:
            out.append(
                {
                    **base,
                    "name": f"slow {e.kind or 'record'}",
                    "cat": "slow",
                    "ph": "i",
                    "s": "t",
                    "ts": us(e.start_s),
                    "args": {"position": e.position, "id": e.event_id, "ms": e.seconds * 1e3},
                }
            )
        for c in self.chunks:
            out.append(
                {
                    **base,
                    "name": "chunk",
                    "cat": "io",
                    "ph": "i",
                    "s": "p",
                    "ts": us(c.at_s),
                    "args": {"start": c.start, "lines": c.lines, "bytes": c.nbytes},
                }
            )
        for at, value in self.memory_samples:
            out.append(
                {
                    **base,
                    "name": f"memory ({self.memory_source})",
                    "cat": "memory",
                    "ph": "C",
                    "ts": us(at),
                    "args": {"bytes": value},
                }
            )
        out.sort(key=lambda e: e["ts"])  # stable: equal ts keep their kind order
        return {"traceEvents": out, "displayTimeUnit": "ms"}

    def write_json(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.trace_events(), f, ensure_ascii=False, separators=(",", ":"))

    def summary(self) -> str:
        total = self._t_end if self._t_end is not None else self.now()
        applied = sum(b.applied for b in self.batches if b.ok)
        failed = sum(1 for b in self.batches if not b.ok)
        nbytes = sum(c.nbytes for c in self.chunks)
        lines = [
            f"replay: {applied:,} events applied in {total:.3f} s"
            + (f" ({applied / total:,.0f} events/s)" if total > 0 else ""),
            f"  {len(self.batches):,} batches ({failed} rolled back), "
            f"{len(self.chunks):,} chunks, {nbytes / 2**20:.1f} MiB read",
        ]
        if self.batches:
            slowest = max(self.batches, key=lambda b: b.seconds)
            lines.append(
                f"  slowest batch: records {slowest.first}..{slowest.end - 1} "
                f"in {slowest.seconds * 1e3:.1f} ms"
            )
        if self.slow:
            worst = sorted(self.slow, key=lambda e: -e.seconds)[:5]
            shown = ", ".join(f"#{e.position} {e.kind} {e.seconds * 1e3:.1f} ms" for e in worst)
            more = len(self.slow) + self.slow_dropped
            lines.append(f"  {more} slow events (>= {self.slow_s * 1e3:g} ms): {shown}")
        if self.memory_peak is not None:
            grown = (
                f", +{(self.memory_peak - self.memory_start) / 2**20:.1f} MiB since start"
                if self.memory_start is not None
                else ""
            )
            lines.append(
                f"  memory high-water ({self.memory_source}): "
                f"{self.memory_peak / 2**20:.1f} MiB{grown}"
            )
        return "\n".join(lines)
