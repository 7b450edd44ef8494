"""The events of a LOG argument (compat, metrics): streamed, checksum- and link-checked.

``read_events`` opens the log read-only and returns a re-readable view
(``store.events.StoreEvents``: the version walk reads a merged log twice to
find merge losers). A record that does not decode, or a broken hash link, is a
usage error (exit 2) naming the position; nothing is skipped silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from schemalog.cli.output import UsageError
from schemalog.errors import ChainBroken, DecodeError
from schemalog.log.store.events import StoreEvents
from schemalog.log.store.locate import is_url
from schemalog.model.events import Event


class _LogEvents(StoreEvents):
    def __init__(self, path: str) -> None:
        from schemalog.log.store.locate import open_store

        super().__init__(open_store(path, readonly=True, verify=False))
        self.path = path

    def __iter__(self) -> Iterator[Event]:
        try:
            yield from super().__iter__()
        except (DecodeError, ChainBroken) as exc:
            raise UsageError(f"{self.path}: {exc}") from None


def read_events(path: str) -> StoreEvents:
    if not is_url(path) and not os.path.exists(path):
        raise UsageError(f"{path}: no such log")
    return _LogEvents(path)
