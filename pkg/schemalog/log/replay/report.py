"""What a replay returns: its report, and the skips, breaks and failures in it.

Errors are values: a replay of a bad log returns a report that says where and
why; only ``ReplayGap`` (chunks that do not cover the positions asked for, a
caller's bug) raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from schemalog.errors import SchemalogError
from schemalog.history.duplicates import DuplicateScanner
from schemalog.history.holders import Holders
from schemalog.model.schema import SchemaState

__all__ = [
    "MERGE_SKIPS",
    "ChainBreak",
    "Failure",
    "Policy",
    "Quarantine",
    "ReplayGap",
    "ReplayReport",
    "Skipped",
]

Policy = Literal["stop", "skip"]


class ReplayGap(SchemalogError):
    """The chunks given to replay do not cover the positions it needs (a caller bug)."""

    def __init__(self, expected: int, got: int) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"replay needs record {expected} next, the chunk starts at {got}")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record left out of the state.

    ``kind``: corrupt, rejected, dependent (failures of the log), or loser,
    duplicate, with-loser, concurrent (the effective stream of a merged log: see
    the package doc; only ``concurrent`` of these is a failure).
    """

    position: int
    event_id: str | None
    kind: str
    reason: str
    because_of: str | None = None  # dependent: the skipped parent it builds on

    def to_obj(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "kind": self.kind,
            "reason": self.reason,
            "because_of": self.because_of,
        }


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Under "skip": record ``position``'s prev is not the expected checksum; replay re-anchored."""

    position: int
    event_id: str | None
    expected: str | None
    actual: str | None

    def to_obj(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass(frozen=True, slots=True)
class Failure:
    """Why replay stopped. ``kind``: corrupt, chain, rejected, crash, too-large."""

    position: int
    event_id: str | None
    kind: str
    reason: str

    def to_obj(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_id": self.event_id,
            "kind": self.kind,
            "reason": self.reason,
        }


Quarantine = Callable[[Skipped, bytes], object]
MERGE_SKIPS = frozenset({"loser", "duplicate", "with-loser"})


@dataclass(frozen=True)
class ReplayReport:
    """What a replay did. ``position``/``head``/``state``/``heads``/``skipped_ids`` resume it."""

    state: SchemaState
    state_hash: str
    start_position: int
    position: int  # records before this position are committed
    head: str | None  # checksum of record position-1 (None at 0)
    applied: int  # events applied by this run (committed batches only)
    skipped: tuple[Skipped, ...]
    skipped_ids: frozenset[str]  # every skipped id so far (including those given at start)
    breaks: tuple[ChainBreak, ...]
    stopped: Failure | None
    heads: tuple[str, ...]  # sorted ids of applied events no applied event names as parent
    batches: int
    chunks: int
    bytes_read: int
    warnings: tuple[str, ...] = ()
    error: BaseException | None = field(default=None, compare=False, repr=False)
    # creations left out with a loser and copies that took their place, up to
    # ``position`` (None: none); a resume goes on from them (history/holders.py)
    holders: Holders | None = field(default=None, compare=False, repr=False)
    # The duplicate scan of records [0, position) when the replay completed on a log
    # without resolutions (a snapshot saves it: the next replay need not re-read them).
    scanner: DuplicateScanner | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when the effective stream applied: no stop, no break, no skip but merge's own.

        Losers, duplicates and events going with a loser are part of a merged
        log's effective stream, not problems; a ``concurrent`` rejection is.
        """
        return (
            self.stopped is None
            and not self.breaks
            and all(s.kind in MERGE_SKIPS for s in self.skipped)
        )

    @property
    def skipped_by_kind(self) -> dict[str, int]:
        """How many were skipped for each cause (corrupt, rejected, dependent, ...)."""
        counts: dict[str, int] = {}
        for s in self.skipped:
            counts[s.kind] = counts.get(s.kind, 0) + 1
        return dict(sorted(counts.items()))

    def to_obj(self) -> dict[str, Any]:
        """JSON-able summary (the state itself is left out; its hash is in)."""
        return {
            "applied": self.applied,
            "batches": self.batches,
            "breaks": [b.to_obj() for b in self.breaks],
            "bytes_read": self.bytes_read,
            "chunks": self.chunks,
            "head": self.head,
            "heads": list(self.heads),
            "ok": self.ok,
            "position": self.position,
            "skipped": [s.to_obj() for s in self.skipped],
            "skipped_by_kind": self.skipped_by_kind,
            "start_position": self.start_position,
            "state_hash": self.state_hash,
            "stopped": self.stopped.to_obj() if self.stopped else None,
            "tables": len(self.state.tables),
            "warnings": list(self.warnings),
        }
