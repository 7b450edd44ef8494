"""File lease for processes on one machine (POSIX).

Layout in ``directory``: ``<resource>.lease`` holds the current grant as JSON
(holder, token, since_ms, expires_at_ms, ttl_ms, released); ``<resource>.lock``
is only a lock target. Every operation takes ``fcntl.flock(LOCK_EX)`` on the
lock file, reads the lease file, decides (same rules as the memory adapter),
and writes the new grant by write-temp + fsync + ``os.replace`` -- atomic on
POSIX file systems, so a crash leaves either the old or the new grant, and the
token (kept after release) never goes back: tokens rise across processes and
restarts. The flock is released by the kernel if the process dies.

Expiry is judged by this store's clock: ``now_ms`` (default: the machine's
wall clock, shared by every process on the machine), never by the holder.
``fcntl`` is imported lazily so the module imports in Pyodide (where the
browser adapter is used instead).
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

from schemalog.log.lease.port import Grant, Lease, check_ttl, decide_acquire, decide_renew
from schemalog.model.names import validate_token

__all__ = ["FileLeaseStore"]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class FileLeaseStore:
    def __init__(self, directory: str | os.PathLike[str], now_ms: Callable[[], int] = _wall_ms):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.now_ms = now_ms

    @contextmanager
    def _locked(self, resource: str) -> Iterator[Path]:
        import fcntl  # lazily: absent in Pyodide

        validate_token(resource, "resource")
        fd = os.open(self.directory / f"{resource}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self.directory / f"{resource}.lease"
        finally:
            os.close(fd)  # closing drops the flock

    @staticmethod
    def _read(path: Path) -> Grant | None:
        try:
            obj: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        return Grant(**obj)

    @staticmethod
    def _write(path: Path, grant: Grant) -> None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(json.dumps(asdict(grant), sort_keys=True).encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def acquire(self, resource: str, holder: str, ttl_ms: int) -> Lease:
        validate_token(holder, "holder")
        check_ttl(ttl_ms)
        with self._locked(resource) as path:
            grant = self._read(path)
            last = grant.token if grant else 0
            new = decide_acquire(grant, last, resource, holder, ttl_ms, self.now_ms())
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
