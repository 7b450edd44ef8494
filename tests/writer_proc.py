"""A writer process for the multi-process store tests and bench/append.

    python writer_proc.py MODE LOG NAME COUNT ACKS [LEASE_DIR TTL_MS]

Modes (every acknowledged append writes ``<event id>`` to ACKS, one line each,
written before the next append starts, so a SIGKILL loses no acknowledgement
that was made):

* ``facade``: ``SchemaLog.open(LOG)`` and ``tag`` COUNT times (no lease); a
  write that met others' appends is retried by the facade; ConcurrentWriteFailed
  is retried here.
* ``store``: the store API: stamp on the heads, ``append(expected=head)``,
  on AppendConflict re-read and retry.
* ``lease``: each append under the file lease: acquire (waiting while held),
  append with the lease's token, release.
* ``torn``: as ``store``, but each record is written in two halves with 30 ms
  between (``HalvedWrites``), so a SIGKILL often lands inside a write and
  leaves a torn last line, as a crash mid-write does, and inside the lock.
* ``holder``: acquire the lease once, write ``ready <token>`` to ACKS, then
  append with that token until FencedOut (writes ``fenced <token> <newest>``).
"""

from __future__ import annotations

import os
import sys
import time

from schemalog.api import SchemaLog
from schemalog.log.concurrent_writes import ConcurrentWriteFailed
from schemalog.log.lease.file import FileLeaseStore
from schemalog.log.lease.port import LeaseHeld
from schemalog.log.store import AppendConflict, FencedOut, NdjsonStore
from schemalog.log.store.ndjson import FileOps
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Tag, new_event


def _ack(fd: int, text: str) -> None:
    os.write(fd, (text + "\n").encode())


class HalvedWrites(FileOps):
    """Writes half of what it is given, sleeping first on every second half."""

    def __init__(self) -> None:
        self.half = False

    def write(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        if self.half:
            time.sleep(0.03)
        self.half = not self.half
        return super().write(fd, data[: max(1, len(data) // 2)] if self.half else data, offset)


def _store_append(
    store: NdjsonStore, clock: HybridLogicalClock, name: str, token: int | None
) -> str:
    while True:
        head = store.head()
        event = new_event(clock, "ws", store.heads(), Tag(name))
        try:
            store.append([event], expected=head.checksum, fencing_token=token)
        except AppendConflict:
            continue
        return event.id


def main(argv: list[str]) -> int:
    mode, log_path, name, count_s, acks = argv[:5]
    count = int(count_s)
    fd = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if mode == "facade":
        log = SchemaLog.open(log_path, origin=name)
        for i in range(count):
            while True:
                try:
                    event = log.tag(f"{name}-{i}")
                except ConcurrentWriteFailed:
                    log.refresh()
                    continue
                break
            _ack(fd, event.id)  # type: ignore[union-attr]
        return 0
    store = NdjsonStore.open(log_path)
    clock = HybridLogicalClock(name, lambda: time.time_ns() // 1_000_000)
    if mode == "torn":
        store.ops = HalvedWrites()
    if mode in ("store", "torn"):
        for i in range(count):
            _ack(fd, _store_append(store, clock, f"{name}-{i}", None))
        return 0
    leases = FileLeaseStore(argv[5])
    ttl = int(argv[6])
    if mode == "lease":
        for i in range(count):
            while True:
                try:
                    lease = leases.acquire("log", name, ttl)
                    break
                except LeaseHeld:
                    time.sleep(0.0005)
            _ack(fd, _store_append(store, clock, f"{name}-{i}", lease.token))
            leases.release(lease)
        return 0
    if mode == "holder":
        lease = leases.acquire("log", name, ttl)
        _ack(fd, f"ready {lease.token}")
        for i in range(count):
            try:
                eid = _store_append(store, clock, f"{name}-{i}", lease.token)
            except FencedOut as exc:
                _ack(fd, f"fenced {exc.token} {exc.newest}")
                return 0
            _ack(fd, eid)
            time.sleep(0.002)
        return 0
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
