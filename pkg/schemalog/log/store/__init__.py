"""The event store: port, errors and adapters (memory, NDJSON segment files)."""

from schemalog.log.store.errors import (
    AppendConflict,
    BadCursor,
    CorruptLog,
    DuplicateEventId,
    FencedOut,
    FenceFileCorrupt,
    MissingParent,
    RecordTooLarge,
    StoreClosed,
    StoreError,
    StoreMissing,
    StoreQuotaExceeded,
    StoreReadOnly,
    StoreTruncated,
    StoreUnavailable,
    StoreWriteFailed,
)
from schemalog.log.store.memory import MemoryStore
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.log.store.port import (
    DEFAULT_CHUNK_BYTES,
    EventStore,
    Head,
    Page,
    RawChunk,
    Recovered,
)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "AppendConflict",
    "BadCursor",
    "CorruptLog",
    "DuplicateEventId",
    "EventStore",
    "FenceFileCorrupt",
    "FencedOut",
    "Head",
    "MemoryStore",
    "MissingParent",
    "NdjsonStore",
    "Page",
    "RawChunk",
    "RecordTooLarge",
    "Recovered",
    "StoreClosed",
    "StoreError",
    "StoreMissing",
    "StoreQuotaExceeded",
    "StoreReadOnly",
    "StoreTruncated",
    "StoreUnavailable",
    "StoreWriteFailed",
]
