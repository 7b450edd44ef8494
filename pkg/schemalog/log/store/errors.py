"""Errors of the event store (all SchemalogError subclasses, facts as attributes).

Positions are 0-based record indexes in the log; line numbers are 1-based
within the file named by ``path``.
"""

from __future__ import annotations

from schemalog.errors import SchemalogError

__all__ = [
    "AppendConflict",
    "BadCursor",
    "CorruptLog",
    "DuplicateEventId",
    "FencedOut",
    "RecordTooLarge",
    "StoreClosed",
    "StoreError",
    "StoreMissing",
    "StoreQuotaExceeded",
    "StoreReadOnly",
]


class StoreError(SchemalogError):
    """Root of the store errors."""


class AppendConflict(StoreError):
    """Optimistic concurrency: the caller's expected head is not the log's head."""

    def __init__(self, expected: str | None, actual: str | None) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"append conflict: expected head {expected!r}, log head is {actual!r}")


class DuplicateEventId(StoreError):
    """An event id already stored (or earlier in the batch) with other content."""

    def __init__(self, event_id: str, stored_position: int, new_position: int) -> None:
        self.event_id = event_id
        self.stored_position = stored_position
        self.new_position = new_position
        super().__init__(
            f"event {event_id} is stored at position {stored_position} with other content "
            f"(new copy would be position {new_position})"
        )


class FencedOut(StoreError):
    """An append carried a fencing token older than the newest the store has seen.

    ``token`` is None for an unfenced writer after the store has seen a token.
    """

    def __init__(self, token: int | None, newest: int) -> None:
        self.token = token
        self.newest = newest
        what = "no fencing token" if token is None else f"fencing token {token}"
        super().__init__(f"fenced out: append carries {what}, newest seen is {newest}")


class BadCursor(StoreError):
    """A read cursor that is malformed or does not belong to this log."""

    def __init__(self, cursor: str, reason: str) -> None:
        self.cursor = cursor
        self.reason = reason
        super().__init__(f"bad cursor {cursor!r}: {reason}")


class RecordTooLarge(StoreError):
    """A single record is larger than the chunk budget of a raw read."""

    def __init__(self, position: int, size: int, budget: int) -> None:
        self.position = position
        self.size = size
        self.budget = budget
        super().__init__(
            f"record {position} is {size} bytes, larger than the chunk budget of {budget} bytes"
        )


class CorruptLog(StoreError):
    """Garbage inside a log (not a torn tail): never truncated, always reported."""

    def __init__(self, path: str, line_number: int, position: int, reason: str) -> None:
        self.path = path
        self.line_number = line_number
        self.position = position
        self.reason = reason
        super().__init__(f"{path}:{line_number}: corrupt record {position}: {reason}")


class StoreMissing(StoreError):
    """The log is not there and was not asked to be created."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no event log at {path}")


class StoreClosed(StoreError):
    """An operation on a closed store."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"store {what} is closed")


class StoreReadOnly(StoreError):
    """An append to a store opened read-only."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"store {what} is open read-only")


class StoreQuotaExceeded(StoreError):
    """The browser refused to store more (QuotaExceededError); nothing was written.

    ``usage``/``quota`` are ``navigator.storage.estimate()`` figures in bytes
    (None when unknown).
    """

    def __init__(self, store: str, usage: int | None, quota: int | None, message: str) -> None:
        self.store = store
        self.usage = usage
        self.quota = quota
        super().__init__(message)
