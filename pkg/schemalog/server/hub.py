"""What the sync service serves: the logs of one backend, one open store per log.

A backend is where logs live: a folder of NDJSON logs (``<folder>/<log>.ndjson``,
leases in ``<folder>/.leases``; the embedded default) or a PostgreSQL
database (``postgresql://...``: every log of it, the lease table beside).
Stores are not thread-safe: every call on a log's store holds that log's
lock (requests run in a thread pool).

New records wake the log's stream readers: the service's own appends at
once, other writers through PostgreSQL's LISTEN/NOTIFY when the engine has
it, and a poll every ``poll_s`` seconds in any case (an NDJSON log written by
another process, an engine without NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from schemalog.log.lease.file import FileLeaseStore
from schemalog.log.lease.port import Lease, LeaseStore, check_ttl
from schemalog.log.store.errors import StoreMissing
from schemalog.log.store.memory import MemoryStore
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.log.store.port import EventStore
from schemalog.model.names import validate_token

__all__ = ["Backend", "Hub", "NdjsonBackend", "PostgresBackend", "backend_for"]

_log = logging.getLogger("schemalog.server")
T = TypeVar("T")


class Backend:
    description = ""
    # whether a lease acquired here must raise the log's fence itself (a store that
    # does not read the lease table when it appends: NDJSON); PostgreSQL's append
    # checks the lease table in its transaction, so it needs no such step
    fences_on_acquire = False

    def open(self, log: str, create: bool) -> EventStore | None:
        raise NotImplementedError

    def leases(self) -> LeaseStore:
        raise NotImplementedError

    def listen(self, fire: Callable[[str], None], stop: threading.Event) -> None:
        """Call ``fire(log)`` when another writer appends (until ``stop``); default: never."""


class NdjsonBackend(Backend):
    fences_on_acquire = True

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.description = f"NDJSON logs in {self.folder}"

    def open(self, log: str, create: bool) -> EventStore | None:
        path = self.folder / f"{log}.ndjson"
        if not create and not path.exists():
            return None
        return NdjsonStore.open(path, create=create)

    def leases(self) -> LeaseStore:
        return FileLeaseStore(self.folder / ".leases")


class PostgresBackend(Backend):
    def __init__(self, url: str) -> None:
        from schemalog.log.store.postgres import connect, redact, split_url
        from schemalog.log.store.postgres_schema import ensure_schema

        self.url = split_url(url)[0]
        conn = connect(self.url)  # fail at start, naming the server, if it is not there
        try:
            ensure_schema(conn, redact(self.url))
        finally:
            conn.close()
        self.description = f"PostgreSQL {redact(self.url)}"

    def open(self, log: str, create: bool) -> EventStore | None:
        from schemalog.log.store.postgres import PostgresStore

        try:
            return PostgresStore.open(self.url, log=log, create=create)
        except StoreMissing:
            return None

    def leases(self) -> LeaseStore:
        from schemalog.log.lease.postgres import PostgresLeaseStore

        return PostgresLeaseStore(self.url)

    def listen(self, fire: Callable[[str], None], stop: threading.Event) -> None:
        from schemalog.log.store.postgres import NOTIFY_CHANNEL, connect

        while not stop.is_set():
            try:
                conn = connect(self.url)
                try:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            fire(note.payload)
                finally:
                    conn.close()
            except Exception as exc:  # no LISTEN (CockroachDB) or the server went away: poll
                _log.warning("LISTEN %s unavailable (%s); polling instead", NOTIFY_CHANNEL, exc)
                stop.wait(10.0)


def backend_for(spec: str) -> Backend:
    """``postgresql://...`` (or ``postgres://``) or a folder of NDJSON logs."""
    if spec.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(spec)
    return NdjsonBackend(spec)


class Hub:
    """Open stores per log, their locks, the lease store and the wake-up signals."""

    def __init__(self, backend: Backend, poll_s: float = 1.0) -> None:
        self.backend = backend
        self.poll_s = poll_s
        self._stores: dict[str, EventStore] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._leases: LeaseStore | None = None
        self._lease_lock = threading.Lock()
        self._signals: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    # ------------------------------------------------ lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._listener = threading.Thread(
            target=self.backend.listen, args=(self.fire_threadsafe, self._stop), daemon=True
        )
        self._listener.start()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        with self._guard:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
        leases = self._leases
        if leases is not None and hasattr(leases, "close"):
            leases.close()

    # ------------------------------------------------ stores

    def _lock_of(self, log: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(log, threading.Lock())

    def with_store(self, log: str, create: bool, work: Callable[[EventStore], T]) -> T:
        """``work(store)`` under the log's lock; a log that does not exist reads as empty."""
        validate_token(log, "log")
        with self._lock_of(log):
            store = self._stores.get(log)
            if store is None:
                opened = self.backend.open(log, create)
                if opened is None:
                    return work(MemoryStore())  # reads of a log nobody wrote yet: empty
                store = self._stores[log] = opened
            return work(store)

    def with_leases(self, work: Callable[[LeaseStore], T]) -> T:
        with self._lease_lock:
            if self._leases is None:
                self._leases = self.backend.leases()
            return work(self._leases)

    def acquire(self, leases: LeaseStore, log: str, holder: object, ttl_ms: object) -> Lease:
        """A lease on ``log`` (under ``with_leases``). On a backend whose appends do not
        read the lease table, the log's fence is raised to the new token before the
        grant is answered: a holder paused past its TTL is fenced out at its next
        append, even before the new holder writes (the log is created if absent)."""
        validate_token(holder, "holder")
        check_ttl(ttl_ms)
        assert isinstance(holder, str) and isinstance(ttl_ms, int)
        if not self.backend.fences_on_acquire:
            return leases.acquire(log, holder, ttl_ms)
        assert isinstance(leases, FileLeaseStore)
        return self.with_store(
            log, True, lambda store: leases.acquire(log, holder, ttl_ms, fence=store)
        )

    # ------------------------------------------------ signals (event loop thread)

    def signal(self, log: str) -> asyncio.Event:
        """The event the next append to ``log`` sets (take it BEFORE reading)."""
        event = self._signals.get(log)
        if event is None:
            event = self._signals[log] = asyncio.Event()
        return event

    def fire(self, log: str) -> None:
        event = self._signals.pop(log, None)
        if event is not None:
            event.set()

    def fire_threadsafe(self, log: str) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.fire, log)

    async def wait(self, event: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), self.poll_s)


def describe(obj: Any) -> str:
    return getattr(obj, "description", type(obj).__name__)
