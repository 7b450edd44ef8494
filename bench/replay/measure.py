"""One replay-benchmark measurement; the same code runs in CPython and inside Pyodide.

``measure(kind, path, budget, trace_memory)`` returns a dict:

* kind "floor": read ``path`` in ``budget``-byte chunks, split lines,
  ``json.loads`` and ``sha256`` every line, nothing else;
* kind "replay": ``NdjsonStore.open`` (read-only, offsets only) + ``replay``
  at that chunk budget (decode, canonical check, checksum, hash link, schema
  apply), and the state size (bytes of its canonical JSON).

With ``trace_memory`` the work runs under ``tracemalloc`` (slower; peak only),
otherwise it is timed. Memory figures that need no tracing (``ru_maxrss``,
the WebAssembly heap size) are read either way by the caller.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any


def floor(path: str, budget: int) -> int:
    n = 0
    loads = json.loads
    sha = hashlib.sha256
    with open(path, "rb", buffering=0) as f:
        rest = b""
        while True:
            block = f.read(budget)
            if not block:
                break
            buf = rest + block if rest else block
            del block
            lines = buf.split(b"\n")
            rest = lines.pop()
            del buf
            for line in lines:
                loads(line)
                sha(line).digest()
            n += len(lines)
            del lines
    if rest:
        loads(rest)
        sha(rest).digest()
        n += 1
    return n


def full(path: str, budget: int) -> tuple[int, Any]:
    from schemalog.log.replay import replay
    from schemalog.log.store.ndjson import NdjsonStore

    store = NdjsonStore.open(path, readonly=True, verify=False)
    try:
        report = replay(store, max_chunk_bytes=budget)
    finally:
        store.close()
    if not report.ok:
        raise SystemExit(f"replay of {path} is not clean: {report.to_obj()}")
    return report.applied, report


def measure(
    kind: str,
    path: str,
    budget: int,
    trace_memory: bool = False,
    host_cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """``host_cpu``: the host's process CPU seconds, where ``time.process_time`` is not
    CPU time (Pyodide: Emscripten's wall clock); read with the other clocks."""
    if trace_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    h0 = host_cpu() if host_cpu is not None else 0.0
    if kind == "floor":
        events = floor(path, budget)
        report = None
    elif kind == "replay":
        events, report = full(path, budget)
    else:
        raise ValueError(kind)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    host = host_cpu() - h0 if host_cpu is not None else None
    out: dict[str, Any] = {"kind": kind, "budget": budget, "events": events}
    # the work's peak RSS, read as the peer reads its own right after its get: not
    # what this script does next (the state's canonical JSON, for state_bytes)
    out["maxrss"] = _maxrss_bytes()
    if trace_memory:
        _, peak = tracemalloc.get_traced_memory()
        # What the replay leaves alive: its report, i.e. the schema state in
        # memory; not cyclic garbage the collector has not reached yet (replay
        # runs with a larger young generation).
        gc.collect()
        current, _ = tracemalloc.get_traced_memory()
        out["tracemalloc_peak"] = peak
        out["tracemalloc_after"] = current
        tracemalloc.stop()
    else:
        out["seconds"] = seconds
        out["cpu_seconds"] = cpu
        out["events_per_s"] = events / seconds
        out["events_per_cpu_s"] = events / cpu if cpu > 0 else None
        if host is not None:
            out["host_cpu_seconds"] = host
            out["events_per_host_cpu_s"] = events / host if host > 0 else None
    if report is not None:
        from schemalog.encoding.codec import canonical_bytes
        from schemalog.model.state_json import state_to_obj

        out["state_bytes"] = len(canonical_bytes(state_to_obj(report.state)))
        out["state_hash"] = report.state_hash
        out["tables"] = len(report.state.tables)
    return out


def _maxrss_bytes() -> int | None:
    """This process's peak RSS: Linux's VmHWM, which exec resets. (``ru_maxrss`` is
    carried over from the parent at fork: after the bench generated a log, every
    child's baseline was the parent's 44 MB, and the growth looked like 2 MB.)"""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Pyodide has no resource module
        return None
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _pin_package() -> str | None:
    """``bench/out/pkg-pin`` (gitignored) may hold the path of a ``pkg`` directory to
    measure instead of the working tree: it pins the code under test while the tree
    changes under a long benchmark run."""
    import os
    import sys

    pin = os.path.join(os.path.dirname(__file__), "..", "out", "pkg-pin")
    try:
        with open(pin, encoding="utf-8") as f:
            path = f.read().strip()
    except FileNotFoundError:
        return None
    sys.path.insert(0, path)
    return path


def main(argv: list[str]) -> None:
    """``measure.py KIND PATH BUDGET TRACE_MEMORY``: one JSON line (fresh process)."""
    pinned = _pin_package()
    # imported before the baseline: they count in it, not in the work
    importlib.import_module("schemalog.log.replay")
    importlib.import_module("schemalog.log.store.ndjson")

    kind, path, budget, trace = argv[0], argv[1], int(argv[2]), argv[3] == "1"
    baseline = _maxrss_bytes()
    out = measure(kind, path, budget, trace)
    out["maxrss_baseline"] = baseline
    if pinned:
        out["pkg"] = pinned
    print(json.dumps(out))


if __name__ == "__main__":
    import sys

    if sys.platform != "emscripten":  # pyodide_runner.mjs runs this source as __main__ too
        main(sys.argv[1:])
