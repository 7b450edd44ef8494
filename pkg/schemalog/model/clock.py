"""Hybrid logical clock: wall milliseconds + logical counter + origin.

A ``Timestamp`` orders by ``(wall_ms, logical, origin)``, so timestamps from
different origins never tie. The clock never reads the wall clock itself: it
calls the injected ``now_ms`` (so tests and replays are deterministic).

* ``tick()`` stamps a local event: strictly greater than every timestamp this
  clock has issued or observed, even if the wall clock jumps backwards.
* ``observe(remote)`` merges a remote timestamp. A remote more than
  ``max_drift_ms`` ahead of the local wall clock is rejected with
  ClockDriftError and the clock is left unchanged: one bad peer must not drag
  every instance into its future. ``check_drift=False`` follows a timestamp
  that was already accepted (a parent stored in the log: the store checked
  its drift at append), so a log holding one fast event does not lock out
  writers whose clocks are right; they stamp at its wall time, as HLC does.

All numbers are ints in 1 .. 2**53-1 (wall) / 0 .. 2**53-1 (logical) so that
they survive JSON in JavaScript unchanged; 0 and negative walls are rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemalog.errors import ClockDriftError, InvalidTimestamp
from schemalog.model.names import validate_token

__all__ = ["DEFAULT_MAX_DRIFT_MS", "MAX_SAFE_INT", "HybridLogicalClock", "Timestamp"]

MAX_SAFE_INT = 2**53 - 1
DEFAULT_MAX_DRIFT_MS = 60_000


def _check_int(value: object, field: str, low: int) -> int:
    if type(value) is not int:
        raise InvalidTimestamp(field, f"must be an int, got {type(value).__name__}")
    if not low <= value <= MAX_SAFE_INT:
        raise InvalidTimestamp(field, f"{value} is outside {low}..2**53-1")
    return value


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """One HLC reading; field order is the sort order."""

    wall_ms: int
    logical: int
    origin: str

    def __post_init__(self) -> None:
        _check_int(self.wall_ms, "hlc.wall_ms", 1)
        _check_int(self.logical, "hlc.logical", 0)
        validate_token(self.origin, "hlc.origin")

    def __str__(self) -> str:
        return f"{self.wall_ms}.{self.logical}@{self.origin}"


class HybridLogicalClock:
    """A clock for one origin. Not thread-safe (the core has no threads)."""

    __slots__ = ("_last", "max_drift_ms", "now_ms", "origin")

    def __init__(
        self,
        origin: str,
        now_ms: Callable[[], int],
        max_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
        last: Timestamp | None = None,
    ) -> None:
        self.origin = validate_token(origin, "origin")
        self.now_ms = now_ms
        self.max_drift_ms = _check_int(max_drift_ms, "max_drift_ms", 0)
        if last is not None and last.origin != origin:
            last = Timestamp(last.wall_ms, last.logical, origin)
        self._last = last

    @property
    def last(self) -> Timestamp | None:
        """The greatest timestamp issued or observed so far (None before the first)."""
        return self._last

    def _wall(self) -> int:
        return _check_int(self.now_ms(), "now_ms()", 1)

    def tick(self) -> Timestamp:
        """A new local timestamp, greater than every earlier one."""
        now = self._wall()
        last = self._last
        if last is None or now > last.wall_ms:
            stamp = Timestamp(now, 0, self.origin)
        else:
            stamp = Timestamp(last.wall_ms, last.logical + 1, self.origin)
        self._last = stamp
        return stamp

    def observe(self, remote: Timestamp, *, check_drift: bool = True) -> Timestamp:
        """Merge a remote timestamp; return the new local reading (> remote and > last)."""
        if not isinstance(remote, Timestamp):
            raise InvalidTimestamp("remote", f"must be a Timestamp, got {type(remote).__name__}")
        now = self._wall()
        if check_drift and remote.wall_ms > now + self.max_drift_ms:
            raise ClockDriftError(remote, now, self.max_drift_ms)
        last = self._last
        last_wall = last.wall_ms if last is not None else 0
        last_logical = last.logical if last is not None else -1
        wall = max(now, last_wall, remote.wall_ms)
        if wall == last_wall and wall == remote.wall_ms:
            logical = max(last_logical, remote.logical) + 1
        elif wall == last_wall:
            logical = last_logical + 1
        elif wall == remote.wall_ms:
            logical = remote.logical + 1
        else:
            logical = 0
        stamp = Timestamp(wall, logical, self.origin)
        self._last = stamp
        return stamp
