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
    "FenceFileCorrupt",
    "FencedOut",
    "MissingParent",
    "NotALog",
    "RecordTooLarge",
    "StoreClosed",
    "StoreError",
    "StoreMissing",
    "StoreQuotaExceeded",
    "StoreReadOnly",
    "StoreTruncated",
    "StoreUnavailable",
    "StoreWriteFailed",
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


class MissingParent(StoreError):
    """An append names a parent that is in no earlier record of the log (nor earlier in the
    batch): a log holds its events in causal order, and ``verify`` refuses one that does
    not. ``position`` is where the record would have been stored."""

    def __init__(self, event_id: str, parent: str, position: int) -> None:
        self.event_id = event_id
        self.parent = parent
        self.position = position
        super().__init__(
            f"record {position} (event {event_id}): parent {parent} is in no earlier record "
            "of this log (append the parent first: a log holds its events in causal order)"
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


class FenceFileCorrupt(CorruptLog):
    """The fence file (newest fencing token) is not what the store writes there.

    Never read as a token: an append refuses to run until a person looks.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, 1, -1, f"fence file: {reason}")


class StoreMissing(StoreError):
    """The log is not there and was not asked to be created (or vanished under a handle)."""

    def __init__(self, path: str, reason: str = "") -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"no event log at {path}" + (f": {reason}" if reason else ""))


class StoreTruncated(StoreError):
    """The log holds fewer bytes than records this handle has already read."""

    def __init__(self, path: str, known_bytes: int, size: int) -> None:
        self.path = path
        self.known_bytes = known_bytes
        self.size = size
        super().__init__(
            f"{path} was truncated under the store: {size} bytes, "
            f"{known_bytes} bytes of records were read before"
        )


class StoreWriteFailed(StoreError):
    """A write, fsync or segment creation failed; the log was cut back to ``offset``.

    ``restored`` is False when cutting back failed too: the torn tail is then
    quarantined at the next append or open. ``error`` is the OS error.
    """

    def __init__(
        self, path: str, position: int, offset: int, error: OSError, restored: bool
    ) -> None:
        self.path = path
        self.position = position
        self.offset = offset
        self.error = error
        self.errno = error.errno
        self.restored = restored
        after = (
            "nothing was written (cut back to the last good offset)"
            if restored
            else "the partial tail is quarantined at the next append or open"
        )
        super().__init__(
            f"{path}: append at record {position} (byte {offset}) failed: "
            f"{error.strerror or error}; {after}"
        )


class NotALog(StoreError):
    """``path`` exists but is no log: a FIFO, a device, or a folder of other files."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: not a log ({reason})")


class StoreClosed(StoreError):
    """An operation on a closed store."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"store {what} is closed")


class StoreReadOnly(StoreError):
    """An append to a store opened read-only, or kept read-only by its server
    (``reason``: a PostgreSQL hot standby); nothing was written."""

    def __init__(self, what: str, reason: str = "") -> None:
        self.what = what
        self.reason = reason
        super().__init__(
            f"store {what} is read-only: {reason}" if reason else f"store {what} is open read-only"
        )


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


class StoreUnavailable(StoreError):
    """A store behind a network (PostgreSQL, a served log) could not be reached or answered
    with an error of its own; ``what`` names it (never with a password)."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")
