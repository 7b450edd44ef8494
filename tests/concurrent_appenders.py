"""A writer process for the concurrency tests: appends N events to a shared log.

``python concurrent_appenders.py TARGET NAME N``: TARGET is a
``postgresql://...?log=`` URL (straight to the database) or a served log's
``http://`` URL (through the service). Each event names the log's current
heads as parents and is appended with the head just read as the expected
head; on AppendConflict the writer reads again and retries; while the store
is unreachable (a service being restarted) it retries the same call, and an
append that did land before is then a no-op (idempotent by id). One JSON
line per attempt on stdout:
``{"expected": ..., "won": bool, "id": ...}`` -- printed only after the
store answered, so a won line is an acknowledged append.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from schemalog.log.store import AppendConflict, StoreUnavailable
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Tag, new_event

T = TypeVar("T")


def open_store(target: str):  # type: ignore[no-untyped-def]
    if target.startswith("postgresql://"):
        from schemalog.log.store.postgres import PostgresStore

        return PostgresStore.open(target)
    from schemalog.log.store.http import HttpStore

    return HttpStore.open(target)


def main() -> None:
    target, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = retry(lambda: open_store(target))  # a writer may start while the service restarts
    clock = HybridLogicalClock(name, lambda: time.time_ns() // 1_000_000)
    done = 0
    while done < n:
        head, parents = retry(store.head), retry(store.heads)
        event = new_event(clock, "ws", parents, Tag(f"{name}_{done}"))
        try:
            # the same event again while the store is down: if it landed, the retry is a no-op
            retry(lambda: store.append([event], expected=head.checksum))  # noqa: B023
        except AppendConflict:
            print(json.dumps({"expected": head.checksum, "won": False, "id": event.id}))
            continue
        print(json.dumps({"expected": head.checksum, "won": True, "id": event.id}), flush=True)
        done += 1
    store.close()


def retry(call: Callable[[], T]) -> T:
    """``call()``, again while the store is unreachable (a service being restarted)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return call()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


if __name__ == "__main__":
    main()
