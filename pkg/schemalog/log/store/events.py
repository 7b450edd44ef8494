"""The events of a store as a re-readable, streaming view.

Compat, metrics and the version walk need the *effective* events of a log
(merge losers and duplicates out): ``effective.plan_of_events`` scans the raw
lines once for resolutions (``raw_chunks``, or ``raw_blocks`` when the store
has them) and a duplicate found on the way
can make the stream re-read the log, so it needs something it can iterate
again, never a one-shot generator. ``StoreEvents`` is that: each iteration streams the store
from position 0 in raw chunks, decodes one record at a time and checks the
hash link, so memory stays at one chunk whatever the log's length. A record
that does not decode raises DecodeError, a broken link ChainBroken, both
naming the position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from schemalog.encoding.codec import ChainVerifier, DecodeFailure, decode_record
from schemalog.log.store.port import EventStore, RawBlock, RawChunk
from schemalog.model.events import Event

__all__ = ["StoreEvents"]

# The split list of a chunk costs about as much again while it is built, so
# 8 MiB keeps a reader's peak well inside replay's 32 MiB budget.
CHUNK_BYTES = 8 * 1024 * 1024


class StoreEvents:
    """Every event of ``store`` in log order; iterate as often as needed."""

    def __init__(self, store: EventStore, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.store = store
        self.chunk_bytes = chunk_bytes

    def raw_chunks(self) -> Iterator[RawChunk]:
        """The store's raw chunks from position 0 (effective.plan_of_events reads Merge lines)."""
        return iter(self.store.iter_raw(0, self.chunk_bytes))

    @property
    def raw_blocks(self) -> Callable[[], Iterator[RawBlock]] | None:
        """The store's raw blocks from position 0, if it has them (``iter_blocks``)."""
        iter_blocks: Any = getattr(self.store, "iter_blocks", None)
        if iter_blocks is None:
            return None
        return lambda: iter(iter_blocks(0, self.chunk_bytes))

    def __iter__(self) -> Iterator[Event]:
        chain = ChainVerifier()
        for chunk in self.store.iter_raw(0, self.chunk_bytes):
            for offset, line in enumerate(chunk.lines):
                record = decode_record(line, chunk.start + offset)
                if isinstance(record, DecodeFailure):
                    raise record.to_error()
                broken = chain.feed(record)
                if broken is not None:
                    raise broken
                yield record.event
            del chunk  # before the next chunk is read: one chunk in memory, not two
