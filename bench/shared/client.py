"""One benchmark client: appends N events to a served log, retrying on a moved head.

``python client.py URL NAME N`` prints one JSON line: for every acknowledged
event the seconds from its first attempt to its acknowledgement (``acked``)
and the seconds of every append request, won or lost (``requests``).
"""

from __future__ import annotations

import json
import sys
import time

from schemalog.log.store import AppendConflict
from schemalog.log.store.http import HttpStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Tag, new_event


def main() -> None:
    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = HttpStore.open(url)
    clock = HybridLogicalClock(name, lambda: time.time_ns() // 1_000_000)
    acked: list[float] = []
    requests: list[float] = []
    lost = 0
    sys.stdin.readline()  # start together
    begin = time.perf_counter()
    for i in range(n):
        first = time.perf_counter()
        while True:
            head = store.head()
            event = new_event(clock, "ws", store.heads(), Tag(f"{name}_{i}"))
            t0 = time.perf_counter()
            try:
                store.append([event], expected=head.checksum)
            except AppendConflict:
                requests.append(time.perf_counter() - t0)
                lost += 1
                continue
            now = time.perf_counter()
            requests.append(now - t0)
            acked.append(now - first)
            break
    end = time.perf_counter()
    store.close()
    print(
        json.dumps({"acked": acked, "requests": requests, "lost": lost, "begin": begin, "end": end})
    )


if __name__ == "__main__":
    main()
