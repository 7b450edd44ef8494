"""Metrics and transitive compat over a long log: memory against the replay's target.

Run by ``./build.sh bench compat`` (or ``.venv/bin/python bench/compat/run.py``).
Uses bench/replay's cached log (``ensure_log``: a synthetic log of
``--events`` records, default 1,000,000, in bench/out/) and measures, each in
a fresh process (``measure.py``), under tracemalloc (peak) and untraced
(seconds, ``ru_maxrss``):

* ``replay``: the replay alone (32 MiB chunks), the reference;
* ``metrics``: ``compute_metrics`` over ``StoreEvents`` with ``--window``
  (default ``1000e``: one series point per 1,000 records);
* ``backward_transitive`` / ``full_transitive``: ``check_history`` in that mode;
* ``cli_metrics``: ``schemalog metrics LOG --json``;
* ``cli_compat``: ``schemalog compat LOG --mode BACKWARD_TRANSITIVE --json``.

Memory target (issue 4, and issue 6 for metrics/compat): peak <= the chunk
budget (32 MiB) + the size of the schema state + 16 MiB. ``memory_target``
counts the state as its canonical JSON bytes, ``memory_target_state_in_memory``
as its Python objects (tracemalloc current after a replay, holding only the
report). Each leg reports ``within_target`` against both.

Prints one JSON line. Options: ``--events N``, ``--window W``, ``--no-rss``
(skip the untraced runs).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MIB = 1024 * 1024
BUDGET = 32 * MIB  # replay's default chunk budget


def _replay_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_replay_run", ROOT / "bench/replay/run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(kind: str, path: Path, trace: bool, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "measure.py"), kind, str(path), "1" if trace else "0", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "pkg")}
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--window", default="1000e")
    parser.add_argument("--no-rss", action="store_true", help="tracemalloc runs only")
    args = parser.parse_args()
    path = _replay_bench().ensure_log(args.events)

    legs: dict[str, tuple[str, ...]] = {
        "replay": ("replay",),
        "metrics": ("metrics", args.window),
        "backward_transitive": ("compat", "BACKWARD_TRANSITIVE"),
        "full_transitive": ("compat", "FULL_TRANSITIVE"),
        "cli_metrics": ("cli", "metrics", "--window", args.window, "--json"),
        "cli_compat": ("cli", "compat", "--mode", "BACKWARD_TRANSITIVE", "--json"),
    }
    out: dict[str, Any] = {
        "runtime": f"cpython {platform.python_version()}",
        "log": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "log_bytes": path.stat().st_size,
        "window": args.window,
        "chunk_budget": BUDGET,
    }
    for name, (kind, *rest) in legs.items():
        traced = measure(kind, path, True, *rest)
        leg: dict[str, Any] = {"tracemalloc_peak": traced["tracemalloc_peak"]}
        for key in ("events", "windows", "records", "total", "findings_kept", "exit"):
            if key in traced:
                leg[key] = traced[key]
        if kind == "replay":
            out["events"] = traced["events"]
            out["state_bytes"] = traced["state_bytes"]
            out["state_memory"] = traced["tracemalloc_after"]
            out["memory_target"] = BUDGET + traced["state_bytes"] + 16 * MIB
            out["memory_target_state_in_memory"] = BUDGET + traced["tracemalloc_after"] + 16 * MIB
        else:
            leg["result_memory"] = traced["tracemalloc_after"]
        if not args.no_rss:
            timed = measure(kind, path, False, *rest)
            leg["seconds"] = timed["seconds"]
            leg["maxrss"] = timed["maxrss"]
            leg["maxrss_baseline"] = timed["maxrss_baseline"]
        leg["within_target"] = leg["tracemalloc_peak"] <= out["memory_target"]
        leg["within_target_state_in_memory"] = (
            leg["tracemalloc_peak"] <= out["memory_target_state_in_memory"]
        )
        out[name] = leg
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
