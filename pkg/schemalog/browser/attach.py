"""A workspace attached to a served log: the page's (and the notebook's) sync component.

The workspace keeps writing to its own log first (IndexedDB in a page: offline
works); ``Attachment`` pairs that log with the served one (``HttpStore`` over
``pyfetch`` in Pyodide, httpx in CPython) in a ``log.sync.LogSync`` and tells
the workspace what a round did:

* records pulled from others: ``Workspace.sync()`` replays and applies them;
* the local log replaced by the served order (writes made offline met others'
  records; their conflicts were resolved with the workspace's strategy and the
  Merge events written with them): ``Workspace.adopt_store`` replays the new
  log whole and applies it (rebuilding the database if Kuzu's column order
  differs from the log's).

When to run a round is the caller's business. The demo page runs one when the
service's SSE stream (``GET /logs/NAME/stream``, a JS ``EventSource`` in the
page: it reconnects by itself and says when the connection opens or fails)
announces records, after every local write, and every few seconds while the
service is away or writes wait. Python never holds the stream: a JSPI call
that waited on it would block the page's one Python queue, so the stream is
only a wake-up; the records themselves are read and verified by ``HttpStore``.

``state`` is what the page shows: ``connecting`` before the first round,
``online`` (both logs hold the same bytes), ``offline`` (the service could not
be reached; ``pending`` local records wait), with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemalog.log.store.http import HttpStore, Transport, parse_log_url
from schemalog.log.store.port import EventStore
from schemalog.log.sync import LogSync, SyncRound

__all__ = ["Attachment"]


class Attachment:
    """``ws`` (a ``Workspace``) attached to the served log at ``url``
    (``http://host:port/logs/NAME``). ``transport``: pyfetch in Pyodide (default
    there), httpx in CPython. ``replace_local``: a fresh empty local log under
    the workspace's name (default: the IndexedDB log is deleted and created)."""

    def __init__(
        self,
        ws: Any,
        url: str,
        *,
        token: str | None = None,
        transport: Transport | None = None,
        replace_local: Callable[[], EventStore] | None = None,
    ) -> None:
        self.server, self.log = parse_log_url(url)
        self.url = url
        self.ws = ws
        if transport is None:
            from schemalog.browser.http import PyfetchTransport

            transport = PyfetchTransport()
        self._replace = replace_local or self._replace_indexeddb
        self.sync = LogSync(
            ws.store,
            HttpStore(url, transport, token),
            replace_local=self._replace_local,
            strategy=ws.strategy,
            fencing_token=ws.fencing_token,
        )
        self.rounds = 0

    def round(self) -> SyncRound:
        """One sync round, and the workspace brought to its result."""
        self.sync.local = self.ws.store
        self.sync.strategy = self.ws.strategy
        self.sync.fencing_token = self.ws.fencing_token
        done = self.sync.round()
        self.rounds += 1
        if done.replaced:
            self.ws.adopt_store(self.sync.local)
        elif done.pulled:
            self.ws.sync()
        return done

    def _replace_local(self) -> EventStore:
        self.ws.store.close()  # the old log is deleted next: let go of it first
        return self._replace()

    def _replace_indexeddb(self) -> EventStore:
        from schemalog.browser.bridge import blocking
        from schemalog.browser.store import BrowserStore

        blocking(BrowserStore.delete_async(self.ws.name))
        return blocking(BrowserStore.open_async(self.ws.name, auto_pull=True, remember=True))

    @property
    def state(self) -> str:
        last = self.sync.last
        if last is None:
            return "connecting"
        return "online" if last.online else "offline"

    def to_obj(self) -> dict[str, Any]:
        last = self.sync.last
        try:
            pending = max(0, len(self.ws.store) - self.sync.agreed.position)
        except Exception:  # a store being replaced: the last round's figure
            pending = last.pending if last else 0
        return {
            "server": self.server,
            "log": self.log,
            "state": self.state,
            "agreed": self.sync.agreed.position,
            "pending": pending,
            "rounds": self.rounds,
            "error": last.error if last else None,
            "last": None if last is None else last.to_obj(),
        }

    def close(self) -> None:
        self.sync.remote.close()
