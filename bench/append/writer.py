"""One writer process of bench/append (see run.py).

    python writer.py MODE LOG NAME COUNT ACKS DURABLE [LEASE_DIR]

``store``: stamp on the heads, append with the expected head, retry on
AppendConflict. ``lease``: the same, each append under the file lease
(acquire, append with its token, release). Every acknowledged append writes
its event id to ACKS.
"""

from __future__ import annotations

import os
import sys
import time

from schemalog.log.lease.file import FileLeaseStore
from schemalog.log.lease.port import LeaseHeld
from schemalog.log.store import AppendConflict, NdjsonStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Tag, new_event


def main(argv: list[str]) -> int:
    mode, log, name, count, acks, durable = argv[:6]
    store = NdjsonStore.open(log, durable=durable == "1")
    clock = HybridLogicalClock(name, lambda: time.time_ns() // 1_000_000)
    leases = FileLeaseStore(argv[6]) if mode == "lease" else None
    out = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for i in range(int(count)):
        lease = None
        while leases is not None:
            try:
                lease = leases.acquire("log", name, 5_000)
                break
            except LeaseHeld:
                time.sleep(0.0002)
        while True:
            head = store.head()
            event = new_event(clock, "ws", store.heads(), Tag(f"{name}-{i}"))
            try:
                store.append([event], expected=head.checksum, fencing_token=lease and lease.token)
            except AppendConflict:
                continue
            break
        os.write(out, event.id.encode() + b"\n")
        if leases is not None and lease is not None:
            leases.release(lease)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
