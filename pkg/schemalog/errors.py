"""The one root exception of schemalog and its structured subclasses.

Expected failures (a record that does not decode, an event the schema rejects)
are returned as values by the functions that meet them; these exceptions are
for broken invariants and for the raising variants of those functions. Every
subclass keeps its facts as attributes so that callers (and tests) never parse
messages, and ``str()`` names all of them.

Positions are 0-based record indexes within one log unless a line number is
stated.
"""

from __future__ import annotations

__all__ = [
    "ChainBroken",
    "ClockDriftError",
    "CycleDetected",
    "DecodeError",
    "InvalidEvent",
    "InvalidState",
    "InvalidTimestamp",
    "SchemalogError",
]


class SchemalogError(Exception):
    """Root of every error raised by schemalog."""

    # Which input it came from when several logs are read at once (merge): its index.
    log_index: int | None = None


class InvalidEvent(SchemalogError):
    """A field of an event (or of something inside one) breaks its rule.

    ``field`` is a dotted path from the event envelope, e.g.
    ``change.properties[2].name``.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid {field}: {reason}")


class InvalidTimestamp(InvalidEvent):
    """A hybrid-logical-clock timestamp outside 1 .. 2**53-1 (or not an int)."""


class DecodeError(SchemalogError):
    """A stored record could not be decoded; raised by the raising decoders."""

    def __init__(self, position: int, field: str | None, reason: str) -> None:
        self.position = position
        self.field = field
        self.reason = reason
        where = f" field {field}" if field else ""
        super().__init__(f"record {position}{where}: {reason}")


class ChainBroken(SchemalogError):
    """The hash link of a log is inconsistent first at ``position``.

    ``expected`` is the checksum the link should carry (the previous record's
    checksum, or None for the first record); ``actual`` is what it carries.
    """

    def __init__(
        self, position: int, event_id: str | None, expected: str | None, actual: str | None
    ) -> None:
        self.position = position
        self.event_id = event_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"hash chain broken at record {position} (event {event_id}): "
            f"prev is {actual!r}, expected {expected!r}"
        )


class ClockDriftError(SchemalogError):
    """A remote timestamp is more than ``bound_ms`` ahead of the local wall clock."""

    def __init__(self, remote: object, local: int, bound_ms: int) -> None:
        self.remote = remote
        self.local = local
        self.bound_ms = bound_ms
        super().__init__(
            f"remote timestamp {remote} is more than {bound_ms} ms ahead of "
            f"local wall clock {local} ms"
        )


class CycleDetected(SchemalogError):
    """The parent graph has a cycle; ``ids`` lists it in order."""

    def __init__(self, ids: tuple[str, ...]) -> None:
        self.ids = tuple(ids)
        super().__init__("cycle in event parents: " + " -> ".join(self.ids))


class InvalidState(SchemalogError):
    """A schema state (e.g. a snapshot read back) breaks an invariant at ``field``."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid state {field}: {reason}")
