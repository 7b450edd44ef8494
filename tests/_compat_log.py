"""A tiny log builder for compat/metrics tests: one origin, 1 s between events."""

from __future__ import annotations

from typing import Any

from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Event, new_event
from schemalog.model.schema import Applied, SchemaState, apply, empty_state


class LogBuilder:
    def __init__(self, origin: str = "a", start_ms: int = 1_700_000_000_000, step_ms: int = 1000):
        self.wall = start_ms
        self.step_ms = step_ms
        self.clock = HybridLogicalClock(origin, lambda: self.wall)
        self.events: list[Event] = []
        self.state: SchemaState = empty_state()

    def add(self, change: Any, *, at_ms: int | None = None) -> Event:
        self.wall = at_ms if at_ms is not None else self.wall + self.step_ms
        parents = [self.events[-1].id] if self.events else []
        event = new_event(self.clock, "ws", parents, change)
        result = apply(self.state, event)
        assert isinstance(result, Applied), result
        self.state = result.state
        self.events.append(event)
        return event

    @property
    def position(self) -> int:
        return len(self.events)
