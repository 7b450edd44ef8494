"""File lease for processes on one machine (POSIX).

Layout in ``directory``: ``<resource>.lease`` holds the current grant as JSON
(holder, token, since_ms, expires_at_ms, ttl_ms, released); ``<resource>.lock``
is only a lock target. Every operation takes ``fcntl.flock(LOCK_EX)`` on the
lock file, reads the lease file, decides (same rules as the memory adapter),
and writes the new grant by write-temp + fsync + ``os.replace`` -- atomic on
POSIX file systems, so a crash leaves either the old or the new grant, and the
token (kept after release) never goes back: tokens rise across processes and
restarts. The flock is released by the kernel if the process dies.

The lease file is read with a strict schema (``parse_grant``), bounded in
size, and only if it is a regular file (opened without blocking: a FIFO put
there is refused, not waited on while the lock is held); anything else is
LeaseFileCorrupt naming the file, and nothing is granted until a person looks.

A takeover fences (``acquire(..., fence=store)``): the new token is written to
the log's fence (an empty append, under the log's writers' lock) before the
grant is written and returned, so a holder paused past its TTL is FencedOut at
its next append even if the new holder has not written yet. Without ``fence``
the old holder is fenced only once the new holder appends. The new token is
also above the newest the log has seen, so a fence raised by another lease
store (or a lease directory lost and made again) never locks the holders out.

Expiry is judged by this store's clock: ``now_ms`` (default: the machine's
wall clock, shared by every process on the machine), never by the holder.
``fcntl`` is imported lazily so the module imports in Pyodide (where the
browser adapter is used instead). In Pyodide the lock excludes nothing
(``side_files.CROSS_PROCESS_LOCK``): a file lease there is one process's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from schemalog.errors import SchemalogError
from schemalog.log.lease.port import (
    Grant,
    Lease,
    LeaseFileCorrupt,
    check_ttl,
    decide_acquire,
    decide_renew,
)
from schemalog.log.side_files import (
    SideFileUnreadable,
    locked,
    open_lock,
    read_side_file,
    replace_side_file,
)
from schemalog.log.store.errors import FencedOut
from schemalog.log.store.port import EventStore
from schemalog.model.names import validate_token

__all__ = ["FileLeaseStore", "parse_grant"]

# A grant is about 150 bytes; anything much larger is not one.
LEASE_FILE_LIMIT = 4096
_MAX_INT = 2**63 - 1
_INT_FIELDS = ("token", "since_ms", "expires_at_ms", "ttl_ms")
_FIELDS = frozenset(("holder", "released", *_INT_FIELDS))


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_grant(data: bytes) -> Grant:
    """The grant a lease file holds, or ValueError saying what is wrong (strict schema).

    Exactly the fields this store writes, each of its type: ``released`` is
    a JSON boolean (not ``"no"``, not 0), the numbers are integers (not
    booleans, not floats) in 0..2**63-1 with ``since <= expires``, the holder a
    valid token. Anything else is refused, never read as a grant.
    """
    try:
        obj: Any = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if type(obj) is not dict:
        raise ValueError(f"not a JSON object but {type(obj).__name__}")
    if set(obj) != _FIELDS:
        missing = sorted(_FIELDS - set(obj))
        extra = sorted(set(obj) - _FIELDS)
        raise ValueError(f"fields missing {missing}, unknown {extra}")
    if type(obj["released"]) is not bool:
        raise ValueError(f"released must be true or false, not {obj['released']!r}")
    for name in _INT_FIELDS:
        value = obj[name]
        if type(value) is not int or not 0 <= value <= _MAX_INT:
            raise ValueError(f"{name} must be an integer in 0..2**63-1, not {value!r}")
    if type(obj["holder"]) is not str:
        raise ValueError(f"holder must be a string, not {obj['holder']!r}")
    try:
        validate_token(obj["holder"], "holder")
    except SchemalogError as exc:
        raise ValueError(str(exc)) from None
    if obj["expires_at_ms"] < obj["since_ms"]:
        raise ValueError("expires_at_ms is before since_ms")
    return Grant(**obj)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class FileLeaseStore:
    def __init__(self, directory: str | os.PathLike[str], now_ms: Callable[[], int] = _wall_ms):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.now_ms = now_ms

    @contextmanager
    def _locked(self, resource: str) -> Iterator[Path]:
        validate_token(resource, "resource")
        lock = self.directory / f"{resource}.lock"
        try:
            fd = open_lock(str(lock))
        except SideFileUnreadable as exc:
            raise LeaseFileCorrupt(str(lock), str(exc)) from None
        try:
            with locked(fd):
                yield self.directory / f"{resource}.lease"
        finally:
            os.close(fd)  # closing drops the flock

    @staticmethod
    def _read(path: Path) -> Grant | None:
        """The grant in ``path`` (None if absent); LeaseFileCorrupt for anything else.

        Never blocks (a FIFO in its place is refused, not waited on: we hold the lock).
        """
        try:
            data = read_side_file(str(path), LEASE_FILE_LIMIT)
        except SideFileUnreadable as exc:
            raise LeaseFileCorrupt(str(path), str(exc)) from None
        if data is None:
            return None
        try:
            return parse_grant(data)
        except ValueError as exc:
            raise LeaseFileCorrupt(str(path), str(exc)) from None

    @staticmethod
    def _write(path: Path, grant: Grant) -> None:
        replace_side_file(str(path), json.dumps(asdict(grant), sort_keys=True).encode())

    def acquire(
        self, resource: str, holder: str, ttl_ms: int, *, fence: EventStore | None = None
    ) -> Lease:
        """The lease on ``resource``, or LeaseHeld; with ``fence`` (the log the lease
        guards) the log's fence is raised to the new token before the grant is written
        (module docstring), so no append of an earlier holder lands after this returns."""
        validate_token(holder, "holder")
        check_ttl(ttl_ms)
        with self._locked(resource) as path:
            grant = self._read(path)
            last = grant.token if grant else 0
            now = self.now_ms()
            new = decide_acquire(grant, last, resource, holder, ttl_ms, now)
            if fence is not None:
                try:
                    fence.append([], expected=None, fencing_token=new.token)
                except FencedOut as exc:  # the log saw a newer token: start above it
                    new = decide_acquire(
                        grant, max(last, exc.newest), resource, holder, ttl_ms, now
                    )
                    fence.append([], expected=None, fencing_token=new.token)
            self._write(path, new)
        return Lease(resource, holder, new.token, new.expires_at_ms)

    def renew(self, lease: Lease, ttl_ms: int | None = None) -> Lease:
        with self._locked(lease.resource) as path:
            new = decide_renew(self._read(path), lease, ttl_ms, self.now_ms())
            self._write(path, new)
        return Lease(lease.resource, lease.holder, new.token, new.expires_at_ms)

    def release(self, lease: Lease) -> None:
        with self._locked(lease.resource) as path:
            grant = self._read(path)
            if grant is not None and grant.token == lease.token and grant.holder == lease.holder:
                grant.released = True
                self._write(path, grant)
