"""The event store port: what replay, merge and the facade are written against.

A store holds one log: a sequence of canonical NDJSON records (``codec``),
each carrying the checksum of the record before it (the hash link). Position
``p`` is the 0-based index of a record; ``Head.position`` is the number of
records.

Semantics every adapter keeps (tests/store_contract.py checks them):

* ``append(events, expected=..., fencing_token=...)``

  1. Fencing: the store remembers the highest token any append carried. A
     token lower than that raises ``FencedOut(token, newest)``. ``None`` (an
     unfenced writer) is accepted only while the store has never seen a
     token; once a fenced writer appended, an unfenced one gets
     ``FencedOut(None, newest)``. An equal token is accepted (the holder of
     the current lease appends many times).
  2. Idempotency by event id: an event already stored with identical bytes
     (same checksum) is skipped; the same id with other content raises
     ``DuplicateEventId(event_id, stored_position, new_position)``. The same
     holds inside one batch (an identical repeat is stored once).
  3. If nothing is left to write the call returns the head without looking
     at ``expected``: retrying an append that did land is not a conflict.
  4. Optimistic concurrency: ``expected`` is the checksum of the current last
     record (None for an empty log); otherwise ``AppendConflict(expected,
     actual)`` and nothing is written.
  5. A batch is all-or-nothing with respect to these checks and encoding
     errors: any error writes nothing. Steps 1-4 and the write happen under
     one exclusive lock of the log (the file adapter: ``flock`` on a lock
     file; the browser: one IndexedDB transaction), against the fence, head
     and tail as they are at that moment, not as the handle last saw them.
  6. Clock drift: an event stamped more than ``max_drift_ms`` ahead of the
     store's clock, beyond its newest parent's wall time, raises
     ClockDriftError (the adapters in ``base.LineStore``).
  7. A failed write (the file adapter: ENOSPC, EIO, a failed fsync) leaves
     the log as it was and raises StoreWriteFailed; the handle stays usable.
     A log removed or truncated under an open handle is StoreMissing /
     StoreTruncated, never an empty log. (A crash of the machine in the middle
     of the single write can leave a prefix of the batch plus a torn line;
     the file adapter quarantines the torn line on the next open, and every
     complete record is a valid event on its own.)

* ``read(after, limit)``: up to ``limit`` decoded, checksum- and
  link-verified records after the cursor (None = from the start). The
  returned cursor names the position and the checksum of the last record
  returned; it stays valid while others append, and following cursors visits
  every record exactly once. An empty page returns the cursor it was given
  (None for an empty log), so a reader can poll with it. A cursor is
  ``BadCursor`` if malformed or if the record it names has another checksum
  (a cursor from another log).

* ``iter_raw(start, max_chunk_bytes)``: raw lines (bytes, no newline) from
  position ``start``, in chunks whose line bytes (plus one newline each) stay
  within the budget; a line never splits; one line above the budget raises
  ``RecordTooLarge``. Nothing is decoded or verified: that is the consumer's
  job (streaming replay).

* ``iter_blocks(start, max_chunk_bytes, block_bytes)`` (optional: the stores
  that can hand out their bytes without splitting them, NdjsonStore,
  MemoryStore, PostgresStore and HttpStore): the lines ``iter_raw`` gives, as
  raw blocks (``bytes`` or ``bytearray``, the reader's own) of whole lines,
  each followed by its newline, in order; about ``min(block_bytes,
  max_chunk_bytes)`` each, larger only for a line larger than that. A line
  above ``max_chunk_bytes`` raises ``RecordTooLarge`` (its position and size,
  as ``iter_raw`` names them) once the blocks of every line before it are out.
  Its generator returns the position after its last line (the store's length
  when the read began: what a replay with the plan reads up to). For a search
  over whole blocks in C (the plan's pre-pass, ``effective.plan_of_chunks``):
  no list of lines is made.

* ``heads()``: sorted ids of stored events that no stored event names as a
  parent (the heads of the causal DAG).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from schemalog.encoding.codec import Record
from schemalog.model.events import Event

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "RAW_BLOCK_BYTES",
    "EventStore",
    "Head",
    "Page",
    "RawBlock",
    "RawChunk",
    "Recovered",
]

DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
# ``iter_blocks``' block size: a read and a search over it stay in the CPU's cache
# (256 KiB measured best, 64 KiB and 1 MiB within 5 %)
RAW_BLOCK_BYTES = 256 * 1024

RawBlock = bytes | bytearray  # whole lines, each followed by its newline (``iter_blocks``)


@dataclass(frozen=True, slots=True)
class Head:
    """``position`` = number of records; ``checksum`` of the last one (None when empty)."""

    position: int
    checksum: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a read; ``positions[i]`` is the position of ``records[i]``."""

    records: tuple[Record, ...]
    cursor: str | None
    positions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RawChunk:
    """Raw lines from position ``start``; ``nbytes`` counts them with their newlines."""

    start: int
    lines: list[bytes]
    nbytes: int


@dataclass(frozen=True, slots=True)
class Recovered:
    """A torn tail found on open: moved to ``quarantine`` (None when opened read-only)."""

    position: int  # the position the torn record would have had
    path: str  # the file it was cut from
    offset: int  # byte offset of the torn bytes in that file
    nbytes: int
    reason: str
    quarantine: str | None


@runtime_checkable
class EventStore(Protocol):
    def head(self) -> Head: ...

    def append(
        self,
        events: Sequence[Event],
        *,
        expected: str | None,
        fencing_token: int | None = None,
    ) -> Head: ...

    def read(self, after: str | None = None, limit: int = 1000) -> Page: ...

    def iter_raw(
        self, start: int = 0, max_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> Iterator[RawChunk]: ...

    def heads(self) -> tuple[str, ...]: ...

    def event_ids(self) -> Iterator[str]: ...

    def __contains__(self, event_id: object) -> bool: ...

    def __len__(self) -> int: ...

    @property
    def newest_fencing_token(self) -> int | None: ...

    def close(self) -> None: ...
