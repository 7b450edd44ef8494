"""bench/merge: merge two logs of N events each that share 10% of their events.

Run by ``./build.sh bench`` (or ``.venv/bin/python bench/merge/run.py [N ...]``).
Inputs are generated once (synth_replicas: a 10% common prefix, then two
concurrent branches with a low conflict rate) and cached in bench/out/. Each
measurement runs in a fresh subprocess: one timed run (decode + chain check +
merge + encode of the merged log) reporting events/s and ru_maxrss, and one
run under tracemalloc for the Python heap peak. One JSON line per size.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "merge"
SIZES = (100_000, 500_000)
CONFLICT_RATE = 0.0005


def inputs(n: int) -> list[Path]:
    from schemalog.synth_replicas import synth_replicas, write_replicas

    where = OUT / f"n{n}"
    paths = [where / "r1.ndjson", where / "r2.ndjson"]
    if all(p.exists() for p in paths):
        return paths
    logs = synth_replicas(2, n // 10, n - n // 10, seed=42, conflict_rate=CONFLICT_RATE)
    return write_replicas(where, logs)


def measure(n: int, trace: bool) -> dict[str, object]:
    from schemalog.merge import decode_log, merge_logs

    paths = inputs(n)
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    logs = [decode_log(p.read_bytes().splitlines()) for p in paths]
    t1 = time.perf_counter()
    result = merge_logs(logs, "lww")
    t2 = time.perf_counter()
    data = result.to_bytes()
    t3 = time.perf_counter()
    out: dict[str, object] = {
        "input_events": sum(len(x) for x in logs),
        "merged_events": len(result.events),
        "conflicts": len(result.conflicts),
        "resolutions": len(result.added),
        "decode_s": round(t1 - t0, 3),
        "merge_s": round(t2 - t1, 3),
        "encode_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
        "events_per_s": round(sum(len(x) for x in logs) / (t3 - t0)),
        "merge_events_per_s": round(sum(len(x) for x in logs) / (t2 - t1)),
        "out_bytes": len(data),
    }
    if trace:
        out = {"tracemalloc_peak_mib": round(tracemalloc.get_traced_memory()[1] / 2**20, 1)}
    else:
        out["ru_maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        n, trace = int(sys.argv[2]), sys.argv[3] == "trace"
        print(json.dumps(measure(n, trace)))
        return
    sizes = [int(a) for a in sys.argv[1:]] or list(SIZES)
    for n in sizes:
        inputs(n)  # generate outside the measured processes
        runs = {}
        for mode in ("time", "trace"):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(n), mode],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.update(json.loads(proc.stdout))
        print(json.dumps({"bench": "merge", "logs": f"2x{n}", "shared": "10%", **runs}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
