"""Streaming the events of a LOG argument (compat, metrics): decoded, checksum- and link-checked.

Reads through the store's raw chunks (at most ``CHUNK_BYTES`` of lines at a time) and
decodes one record at a time, so memory stays at one chunk plus what the
caller keeps. A record that does not decode, or a broken hash link, is a usage
error (exit 2) naming the position; nothing is skipped silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from schemalog.cli.output import UsageError
from schemalog.codec import ChainVerifier, DecodeFailure, decode_record
from schemalog.events import Event

# Raw lines held at once. The split list costs about the same again while it is
# built, so 8 MiB keeps the reader's peak well inside replay's 32 MiB budget.
CHUNK_BYTES = 8 * 1024 * 1024


def read_events(path: str) -> Iterator[Event]:
    from schemalog.store.ndjson import NdjsonStore

    if not os.path.exists(path):
        raise UsageError(f"{path}: no such log")
    store = NdjsonStore.open(path, readonly=True, verify=False)
    try:
        chain = ChainVerifier()
        for chunk in store.iter_raw(max_chunk_bytes=CHUNK_BYTES):
            for offset, line in enumerate(chunk.lines):
                record = decode_record(line, chunk.start + offset)
                if isinstance(record, DecodeFailure):
                    raise UsageError(f"{path}: {record}")
                broken = chain.feed(record)
                if broken is not None:
                    raise UsageError(f"{path}: {broken}")
                yield record.event
    finally:
        store.close()
