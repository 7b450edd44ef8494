"""Replay benchmark: the floor vs our full replay, CPython and Pyodide under Node.

Run by ``./build.sh bench`` (or ``.venv/bin/python bench/replay/run.py``).
Generates a 1,000,000-event log once (cached in bench/out/, gitignored) with
``schemalog.synth.generator.write_log`` and measures, at chunk budgets of 8 and 32 MiB:

* floor: read the file in budget-sized chunks, split lines, ``json.loads``
  and ``sha256`` every line, nothing else;
* replay: open the NDJSON store and ``replay`` it (decode, canonical check,
  checksum, hash link, schema apply).

Every measurement runs in a fresh process so memory figures do not pollute
each other: timed runs report events/s and ``ru_maxrss``; separate runs under
``tracemalloc`` report its peak. Pyodide: ``pyodide_runner.mjs`` runs the
same ``measure.py`` in a fresh Pyodide under Node per measurement, with the
log mounted by NODEFS, and reports the WebAssembly heap growth.

Memory target (issue 4): the replay's peak within the chunk budget + the size
of the schema state + 16 MiB. ``memory_target`` counts the state as its
canonical JSON bytes; ``memory_target_state_in_memory`` as the bytes its Python
objects take (what tracemalloc still holds once the replay returns its report),
the fairer figure for an in-memory peak.

Memory (issue 20): the last line, ``{"memory": [...]}``, is one row per
runtime, measure and budget: the peak (CPython: tracemalloc's peak and the
growth of ``ru_maxrss`` over the baseline; Pyodide: the WebAssembly heap
growth, which comes in steps of a fifth of the heap or more, and the growth of
the allocator's peak footprint, which does not), the target (``budget +
state_bytes + 16 MiB``) and whether it is met, and per runtime and measure
whether the smallest budget's peak is below the largest's; with the peer, its
SQLite replay's peak memory over ours at 32 MiB (CPython: ``ru_maxrss`` of both
processes, each read right after its replay; Pyodide: the heaps) against the
issue's 10x. The same rows are printed as a table on stderr.

Prints one JSON line per runtime. Options: ``--events N``, ``--budgets 8,32``
(MiB), ``--no-pyodide``, ``--no-tracemalloc``, ``--pyodide-events N`` (a
smaller log for the slower runtime; default: the same log).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "bench" / "out"
DIST = ROOT / "build" / "pyodide-dist"
MIB = 1024 * 1024


def log_path(events: int) -> Path:
    """Cached per generator version: a log from an older synth/schema may not replay."""
    import hashlib

    digest = hashlib.sha256()
    for name in (
        "synth/generator.py",
        "model/schema.py",
        "model/events.py",
        "model/parts.py",
        "encoding/codec.py",  # the record format
    ):
        source = ROOT / "pkg" / "schemalog" / name
        if source.exists():
            digest.update(source.read_bytes())
    return OUT / f"replay-{events}-o3-s1-{digest.hexdigest()[:10]}.ndjson"


def ensure_log(events: int) -> Path:
    path = log_path(events)
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT / "pkg"))
    from schemalog.synth.generator import write_log

    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    t0 = time.perf_counter()
    print(f"[bench/replay] generating {events:,} events into {path} ...", file=sys.stderr)
    write_log(tmp, events, origins=3, seed=1, overwrite=True)
    os.replace(tmp, path)
    took = time.perf_counter() - t0
    print(f"[bench/replay] generated in {took:.0f} s", file=sys.stderr)
    return path


def cpython(kind: str, path: Path, budget: int, trace: bool) -> dict[str, Any]:
    flag = "1" if trace else "0"
    cmd = [sys.executable, str(HERE / "measure.py"), kind, str(path), str(budget), flag]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def pyodide(kind: str, path: Path, budget: int) -> dict[str, Any]:
    cmd = ["node", str(HERE / "pyodide_runner.mjs"), kind, path.name, str(budget)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(floor: dict[str, Any], rep: dict[str, Any], budget: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "floor_events_per_s": round(floor["events_per_s"]),
        "replay_events_per_s": round(rep["events_per_s"]),
        "ratio": round(rep["events_per_s"] / floor["events_per_s"], 3),
        "state_bytes": rep["state_bytes"],
        "state_hash": rep["state_hash"],
    }
    if floor.get("events_per_cpu_s") and rep.get("events_per_cpu_s"):
        out["replay_events_per_cpu_s"] = round(rep["events_per_cpu_s"])
        out["ratio_cpu"] = round(rep["events_per_cpu_s"] / floor["events_per_cpu_s"], 3)
    out["memory_target"] = budget + rep["state_bytes"] + 16 * MIB
    return out


def run_cpython(path: Path, budgets: list[int], tracemalloc: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "runtime": f"cpython {platform.python_version()}",
        "log": str(path.relative_to(ROOT)),
        "log_bytes": path.stat().st_size,
    }
    for budget in budgets:
        floor = cpython("floor", path, budget, False)
        rep = cpython("replay", path, budget, False)
        r = row(floor, rep, budget)
        result["events"] = rep["events"]
        r["floor_maxrss"] = floor["maxrss"]
        r["replay_maxrss"] = rep["maxrss"]
        r["maxrss_baseline"] = rep["maxrss_baseline"]
        if tracemalloc:
            r["floor_tracemalloc_peak"] = cpython("floor", path, budget, True)["tracemalloc_peak"]
            traced = cpython("replay", path, budget, True)
            peak = traced["tracemalloc_peak"]
            r["replay_tracemalloc_peak"] = peak
            r["within_target"] = peak <= r["memory_target"]
            # the same target with the state's size in memory (Python objects), not as JSON
            r["state_memory"] = traced["tracemalloc_after"]
            r["memory_target_state_in_memory"] = budget + traced["tracemalloc_after"] + 16 * MIB
            r["within_target_state_in_memory"] = peak <= r["memory_target_state_in_memory"]
        result[f"{budget // MIB}MiB"] = r
    return result


def run_pyodide(path: Path, budgets: list[int]) -> dict[str, Any]:
    result: dict[str, Any] = {"runtime": "pyodide (node)", "log": str(path.relative_to(ROOT))}
    for budget in budgets:
        floor = pyodide("floor", path, budget)
        rep = pyodide("replay", path, budget)
        r = row(floor, rep, budget)
        result["runtime"] = f"pyodide {rep['pyodide']} (node {rep['node']}, python {rep['python']})"
        result["events"] = rep["events"]
        r["floor_wasm_heap_growth"] = floor["wasm_heap_growth"]
        r["replay_wasm_heap_growth"] = rep["wasm_heap_growth"]
        r["replay_malloc_peak_growth"] = rep.get("malloc_peak_growth")
        r["wasm_heap_before"] = rep["wasm_heap_before"]
        r["within_target"] = rep["wasm_heap_growth"] <= r["memory_target"]
        if rep.get("events_per_host_cpu_s") and floor.get("events_per_host_cpu_s"):
            # Node's process CPU: Pyodide's process_time (ratio_cpu) is a wall clock
            r["replay_events_per_host_cpu_s"] = round(rep["events_per_host_cpu_s"])
            r["ratio_host_cpu"] = round(
                rep["events_per_host_cpu_s"] / floor["events_per_host_cpu_s"], 3
            )
        result[f"{budget // MIB}MiB"] = r
    return result


def run_peer(events: int, ours: dict[str, Any] | None) -> dict[str, Any]:
    """The peer (bench/peer/eventsourcing_replay.py), each leg in fresh processes."""
    script = str(ROOT / "bench" / "peer" / "eventsourcing_replay.py")

    def leg(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, script, *args], check=True, capture_output=True, text=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / f"peer-{events}.sqlite"
    db.unlink(missing_ok=True)
    written = leg("write-sqlite", str(events), str(db))
    sqlite = leg("get-sqlite", str(events), str(db), written["aggregate_id"])
    db.unlink(missing_ok=True)
    popo = leg("popo", str(events))
    result: dict[str, Any] = {"peer": "eventsourcing 9.5.6", "sqlite": sqlite, "popo": popo}
    row32 = (ours or {}).get("32MiB")
    if row32 is not None and ours is not None and ours.get("events") == events:
        ev_s = row32.get("replay_events_per_cpu_s") or row32["replay_events_per_s"]
        result["ours_events_per_s"] = ev_s
        result["ours_over_sqlite"] = round(ev_s / sqlite["events_per_s"], 3)
        result["ours_over_popo"] = round(ev_s / popo["events_per_s"], 3)
        # ru_maxrss is KiB on Linux; ours is reported in bytes by measure.py
        result["sqlite_maxrss_over_ours"] = round(
            sqlite["ru_maxrss_kib"] * 1024 / row32["replay_maxrss"], 2
        )
    return result


PEER_WHEELS = OUT / "peer-wheels"  # filled by ./build.sh bench (bench/peer/pyodide-wheels.txt)


def run_peer_pyodide(events: int, ours: dict[str, Any] | None) -> dict[str, Any] | None:
    """The peer in Pyodide under Node (bench/peer/pyodide_runner.mjs): the same three legs
    as run_peer, each in a fresh node process, over ``events`` (our Pyodide log's size).

    The SQLite file is on NODEFS (bench/out): the write and the get are two processes, and
    the get reads a real file through the OS page cache, as CPython's get and our Pyodide
    replay do. Ratios use Node's process CPU for both sides, and the wall clock beside it."""
    runner = str(ROOT / "bench" / "peer" / "pyodide_runner.mjs")
    if not any(PEER_WHEELS.glob("eventsourcing-*.whl")):
        print(
            f"[bench/replay] no {PEER_WHEELS.relative_to(ROOT)}: Pyodide peer skipped "
            "(./build.sh bench replay downloads its pinned wheels)",
            file=sys.stderr,
        )
        return None

    def leg(*args: str) -> dict[str, Any]:
        done = subprocess.run(["node", runner, *args], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:  # Pyodide's stack lines hold its whole minified source
            tail = "\n".join(line[:300] for line in done.stderr.splitlines()[-15:])
            raise SystemExit(f"[bench/replay] {runner} {' '.join(args)} failed:\n{tail}")
        figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return figures

    name = f"peer-pyodide-{events}.sqlite"
    db = OUT / name
    for stale in OUT.glob(name + "*"):  # the file and any -wal / -shm left by a killed run
        stale.unlink()
    written = leg("write-sqlite", str(events), name)
    sqlite = leg("get-sqlite", str(events), name, written["aggregate_id"])
    db.unlink(missing_ok=True)
    popo = leg("popo", str(events))
    result: dict[str, Any] = {
        "peer": "eventsourcing 9.5.6",
        "runtime": f"pyodide {sqlite['pyodide']} (node {sqlite['node']}, "
        f"python {sqlite['python']}, sqlite {sqlite['sqlite']})",
        "sqlite": sqlite,
        "popo": popo,
    }
    row32 = (ours or {}).get("32MiB")
    if row32 is not None and ours is not None and ours.get("events") == events:
        if row32.get("replay_events_per_host_cpu_s"):
            ev_s = row32["replay_events_per_host_cpu_s"]
            result["ours_events_per_host_cpu_s"] = ev_s
            result["ours_over_sqlite"] = round(ev_s / sqlite["events_per_host_cpu_s"], 3)
            result["ours_over_popo"] = round(ev_s / popo["events_per_host_cpu_s"], 3)
        wall = row32["replay_events_per_s"]
        result["ours_events_per_s_wall"] = wall
        result["ours_over_sqlite_wall"] = round(wall / sqlite["events_per_s"], 3)
        result["ours_over_popo_wall"] = round(wall / popo["events_per_s"], 3)
        # the WebAssembly heap never shrinks: its size after the work is its peak
        ours_heap = row32["wasm_heap_before"] + row32["replay_wasm_heap_growth"]
        result["sqlite_heap_over_ours"] = round(sqlite["heap_after"] / ours_heap, 2)
        result["sqlite_heap_growth_over_ours"] = round(
            (sqlite["heap_after"] - sqlite["heap_before_get"])
            / max(row32["replay_wasm_heap_growth"], 1),
            2,
        )
    return result


PEER_MEMORY_RATIO = 10  # issue 20: our peak RSS at most a tenth of the peer's (SQLite)


def peer_rows(peers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The peer's (SQLite) peak memory over ours at 32 MiB, against ``PEER_MEMORY_RATIO``:
    CPython's ``ru_maxrss`` of both processes, Pyodide's WebAssembly heap of both."""
    rows: list[dict[str, Any]] = []
    for peer in peers:
        pyodide = "runtime" in peer  # run_peer_pyodide names its runtime
        key = "sqlite_heap_over_ours" if pyodide else "sqlite_maxrss_over_ours"
        if peer.get(key) is None:
            continue
        rows.append(
            {
                "runtime": peer["runtime"] if pyodide else f"cpython {platform.python_version()}",
                "measure": "peer_wasm_heap_over_ours" if pyodide else "peer_maxrss_over_ours",
                "budget_mib": 32,
                "ratio": peer[key],
                "target": PEER_MEMORY_RATIO,
                "met": peer[key] >= PEER_MEMORY_RATIO,
            }
        )
    return rows


def memory_rows(
    results: list[dict[str, Any]], budgets: list[int], peers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The memory figures of the runs, against the target, and small budget < large budget;
    with the peer's runs, its peak over ours against ``PEER_MEMORY_RATIO``."""
    measures = {
        "cpython": [("tracemalloc_peak", "replay_tracemalloc_peak"), ("maxrss_growth", None)],
        "pyodide": [
            ("wasm_heap_growth", "replay_wasm_heap_growth"),
            ("malloc_peak_growth", "replay_malloc_peak_growth"),
        ],
    }
    rows: list[dict[str, Any]] = []
    lower: list[dict[str, Any]] = []
    for result in results:
        runtime = "pyodide" if result["runtime"].startswith("pyodide") else "cpython"
        for measure, key in measures[runtime]:
            peaks: dict[int, int] = {}
            for budget in budgets:
                r = result.get(f"{budget // MIB}MiB")
                if r is None:
                    continue
                if key is None:  # ru_maxrss over the process's baseline before the work
                    if r.get("replay_maxrss") is None or r.get("maxrss_baseline") is None:
                        continue
                    peak = r["replay_maxrss"] - r["maxrss_baseline"]
                elif r.get(key) is not None:
                    peak = r[key]
                else:
                    continue
                peaks[budget] = peak
                rows.append(
                    {
                        "runtime": result["runtime"],
                        "events": result.get("events"),
                        "measure": measure,
                        "budget_mib": budget // MIB,
                        "peak": peak,
                        "target": r["memory_target"],
                        "met": peak <= r["memory_target"],
                    }
                )
            if len(peaks) >= 2:
                small, large = min(peaks), max(peaks)
                lower.append(
                    {
                        "runtime": result["runtime"],
                        "measure": measure,
                        f"peak_{small // MIB}MiB": peaks[small],
                        f"peak_{large // MIB}MiB": peaks[large],
                        "met": peaks[small] < peaks[large],
                    }
                )
    return {"memory": rows, "smaller_budget_lower": lower, "peer": peer_rows(peers or [])}


def print_memory(summary: dict[str, Any]) -> None:
    print(json.dumps(summary), flush=True)
    mb = 1e6
    print("[bench/replay] memory (MB; target = budget + state + 16 MiB)", file=sys.stderr)
    for row in summary["memory"]:
        print(
            f"  {row['runtime'][:28]:28} {row['measure']:17} {row['budget_mib']:>3} MiB: "
            f"{row['peak'] / mb:7.1f} / target {row['target'] / mb:6.1f} "
            f"{'met' if row['met'] else 'NOT MET'}",
            file=sys.stderr,
        )
    for row in summary["smaller_budget_lower"]:
        figures = ", ".join(f"{k} {v / mb:.1f}" for k, v in row.items() if k.startswith("peak_"))
        print(
            f"  {row['runtime'][:28]:28} {row['measure']:17} smaller budget lower: "
            f"{'yes' if row['met'] else 'NO'} ({figures})",
            file=sys.stderr,
        )
    for row in summary.get("peer", []):
        print(
            f"  {row['runtime'][:28]:28} {row['measure']:24} {row['budget_mib']:>3} MiB: "
            f"{row['ratio']:5.2f}x / target {row['target']}x "
            f"{'met' if row['met'] else 'NOT MET'}",
            file=sys.stderr,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--pyodide-events", type=int, default=None)
    parser.add_argument("--budgets", default="8,32", help="MiB, comma-separated")
    parser.add_argument("--no-pyodide", action="store_true")
    parser.add_argument("--no-cpython", action="store_true")
    parser.add_argument("--no-tracemalloc", action="store_true")
    parser.add_argument("--no-peer", action="store_true", help="skip the eventsourcing peer")
    args = parser.parse_args()
    budgets = [int(b) * MIB for b in args.budgets.split(",")]
    path = ensure_log(args.events)
    ours = None
    results: list[dict[str, Any]] = []
    peers: list[dict[str, Any]] = []
    if not args.no_cpython:
        ours = run_cpython(path, budgets, not args.no_tracemalloc)
        results.append(ours)
        print(json.dumps(ours), flush=True)
    if not args.no_peer:
        peers.append(run_peer(args.events, ours))
        print(json.dumps(peers[-1]), flush=True)
    if args.no_pyodide:
        pass
    elif not (DIST / "pyodide.mjs").exists() or shutil.which("node") is None:
        print("[bench/replay] no build/pyodide-dist or node: Pyodide leg skipped", file=sys.stderr)
    else:
        ppath = ensure_log(args.pyodide_events) if args.pyodide_events else path
        ours_pyodide = run_pyodide(ppath, budgets)
        results.append(ours_pyodide)
        print(json.dumps(ours_pyodide), flush=True)
        peer = (
            None
            if args.no_peer
            else run_peer_pyodide(args.pyodide_events or args.events, ours_pyodide)
        )
        if peer is not None:
            peers.append(peer)
            print(json.dumps(peer), flush=True)
    print_memory(memory_rows(results, budgets, peers))


if __name__ == "__main__":
    main()
