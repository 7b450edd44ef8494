"""A writer process for the concurrency tests: appends N events to a shared log.

``python concurrent_appenders.py KIND TARGET NAME N`` where KIND is ``pg``
(TARGET a postgresql:// URL with ?log=) or ``http`` (TARGET a served log's
URL). Each event names the log's current heads as parents and is appended
with the head just read as the expected head; on AppendConflict the writer
reads again and retries. One JSON line per attempt on stdout:
``{"expected": ..., "won": bool, "id": ...}`` -- printed only after the
store answered, so a won line is an acknowledged append.
"""

from __future__ import annotations

import json
import sys
import time

from schemalog.log.store import AppendConflict
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Tag, new_event


def open_store(kind: str, target: str):  # type: ignore[no-untyped-def]
    if kind == "pg":
        from schemalog.log.store.postgres import PostgresStore

        return PostgresStore.open(target)
    from schemalog.log.store.http import HttpStore

    return HttpStore.open(target)


def main() -> None:
    kind, target, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = open_store(kind, target)
    clock = HybridLogicalClock(name, lambda: time.time_ns() // 1_000_000)
    done = 0
    while done < n:
        head = store.head()
        event = new_event(clock, "ws", store.heads(), Tag(f"{name}_{done}"))
        try:
            store.append([event], expected=head.checksum)
        except AppendConflict:
            print(json.dumps({"expected": head.checksum, "won": False, "id": event.id}))
            continue
        print(json.dumps({"expected": head.checksum, "won": True, "id": event.id}), flush=True)
        done += 1
    store.close()


if __name__ == "__main__":
    main()
