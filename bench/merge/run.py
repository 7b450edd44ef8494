"""bench/merge: merge two logs of N events each that share 10% of their events.

Run by ``./build.sh bench`` or
``.venv/bin/python bench/merge/run.py [--reference] [--no-trace] [N ...]`` (default sizes
100,000 and 500,000 per log; ``--no-trace`` skips the tracemalloc run, which takes
many times the timed run). Inputs are generated once (synth_replicas:
a 10% common prefix, then two concurrent branches with a low conflict rate)
and cached in bench/out/merge/nN/. Each measurement runs in a fresh
subprocess: one timed run reporting events/s and ru_maxrss, and one run under
tracemalloc for the Python heap peak. One JSON line per size, with
``rss_bytes_per_event`` (ru_maxrss over input events; the interpreter and the
package alone take about 25 MiB of it) and ``heap_bytes_per_event``. The
issue's target: at most 250 bytes per input event at 2 x 500,000.

The measured path is ``merge_records.merge_files`` (what a merge of two log
files costs end to end): ``scan_s`` reads and verifies every record in full
(envelope, checksum, hash chain, strict canonical JSON, Event.from_obj),
``merge_s`` orders the union and finds and resolves conflicts, ``write_s``
re-chains and writes the merged log. ``--reference`` measures the event-level
path instead (decode_log + merge_logs + to_bytes: every record kept as an
Event and re-encoded), for a before/after ratio on the same machine; both
paths write the same bytes (``out_sha256``).
"""

from __future__ import annotations

import hashlib
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
    from schemalog.synth.replicas import synth_replicas, write_replicas

    where = OUT / f"n{n}"
    paths = [where / "r1.ndjson", where / "r2.ndjson"]
    if all(p.exists() for p in paths):
        return paths
    logs = synth_replicas(2, n // 10, n - n // 10, seed=42, conflict_rate=CONFLICT_RATE)
    return write_replicas(where, logs)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def measure_fast(paths: list[Path], out_path: Path) -> dict[str, object]:
    from schemalog.history.merge_records import merge_record_logs

    t0 = time.perf_counter()
    result = merge_record_logs(paths, "lww")
    t2 = time.perf_counter()
    with open(out_path, "wb") as fh:
        out_bytes = result.write(fh)
    t3 = time.perf_counter()
    t1 = t0 + result.timings["scan_s"]
    return {
        "input_events": result.records,
        "merged_events": result.events,
        "conflicts": len(result.conflicts),
        "resolutions": len(result.added),
        "scan_s": round(t1 - t0, 3),
        "merge_s": round(t2 - t1, 3),
        "write_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
        "events_per_s": round(result.records / (t3 - t0)),
        "merge_events_per_s": round(result.records / (t2 - t1)),
        "out_bytes": out_bytes,
    }


def measure_reference(paths: list[Path], out_path: Path) -> dict[str, object]:
    from schemalog.history.merge import decode_log, merge_logs

    t0 = time.perf_counter()
    logs = [decode_log(p.read_bytes().splitlines()) for p in paths]
    t1 = time.perf_counter()
    result = merge_logs(logs, "lww")
    t2 = time.perf_counter()
    data = result.to_bytes()
    out_path.write_bytes(data)
    t3 = time.perf_counter()
    records = sum(len(x) for x in logs)
    return {
        "input_events": records,
        "merged_events": len(result.events),
        "conflicts": len(result.conflicts),
        "resolutions": len(result.added),
        "scan_s": round(t1 - t0, 3),
        "merge_s": round(t2 - t1, 3),
        "write_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
        "events_per_s": round(records / (t3 - t0)),
        "merge_events_per_s": round(records / (t2 - t1)),
        "out_bytes": len(data),
    }


def measure(n: int, trace: bool, reference: bool) -> dict[str, object]:
    paths = inputs(n)
    out_path = OUT / f"n{n}" / ("merged-ref.ndjson" if reference else "merged.ndjson")
    if trace:
        tracemalloc.start()
    run = measure_reference if reference else measure_fast
    out = run(paths, out_path)
    if trace:
        return {"tracemalloc_peak_mib": round(tracemalloc.get_traced_memory()[1] / 2**20, 1)}
    out["ru_maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["out_sha256"] = _sha256(out_path)
    return out


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        n, trace, ref = int(sys.argv[2]), sys.argv[3] == "trace", sys.argv[4] == "reference"
        print(json.dumps(measure(n, trace, ref)))
        return
    args = sys.argv[1:]
    reference = "--reference" in args
    modes = ("time",) if "--no-trace" in args else ("time", "trace")
    sizes = [int(a) for a in args if not a.startswith("--")] or list(SIZES)
    path = "reference" if reference else "records"
    for n in sizes:
        inputs(n)  # generate outside the measured processes
        runs: dict[str, object] = {}
        for mode in modes:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(n), mode, path],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.update(json.loads(proc.stdout))
        events = float(str(runs["input_events"]))
        per_event = float(str(runs["ru_maxrss_mib"])) * 2**20 / events
        line = {"bench": "merge", "path": path, "logs": f"2x{n}", "shared": "10%", **runs}
        line["rss_bytes_per_event"] = round(per_event)
        if "tracemalloc_peak_mib" in runs:
            heap = float(str(runs["tracemalloc_peak_mib"])) * 2**20 / events
            line["heap_bytes_per_event"] = round(heap)
        print(json.dumps(line))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
