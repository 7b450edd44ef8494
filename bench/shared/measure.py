"""One replay measurement in a fresh process: ``measure.py KIND SOURCE BUDGET TRACE``.

KIND ``ndjson`` (SOURCE a file) or ``postgres`` (SOURCE a postgresql://...?log=
URL); ``replay`` of the whole log at a chunk budget of BUDGET bytes. Prints
one JSON line: events, seconds, events/s, ``ru_maxrss`` (and with TRACE=1
the tracemalloc peak instead of a timing), the state hash.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc


def main() -> None:
    kind, source, budget, trace = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    from schemalog.log.replay import replay
    from schemalog.log.store.locate import open_store

    store = open_store(source, readonly=True, verify=False)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    report = replay(store, max_chunk_bytes=budget)
    took = time.perf_counter() - t0
    out = {
        "kind": kind,
        "events": report.position,
        "ok": report.ok,
        "state_hash": report.state_hash,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "maxrss_baseline": baseline,
    }
    if trace:
        out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
    else:
        out["seconds"] = round(took, 3)
        out["events_per_s"] = round(report.position / took)
    store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
