"""One compat/metrics-benchmark measurement in a fresh process; prints one JSON line.

``measure.py KIND PATH TRACE [ARGS...]`` with KIND:

* ``replay``: ``replay(NdjsonStore.open(PATH, readonly=True, verify=False))``
  (32 MiB chunks, the default); also the state's size as canonical JSON bytes
  and, traced, in memory (tracemalloc current with only the report alive);
* ``metrics WINDOW``: ``compute_metrics(StoreEvents(store), WINDOW)``;
* ``compat MODE``: ``check_history(StoreEvents(store), MODE)``;
* ``cli ARGV...``: ``schemalog ARGV...`` in this process (``cli.main``), its
  output counted and dropped.

TRACE "1" runs the work under tracemalloc (peak, and current once it returns);
otherwise it is timed. ``ru_maxrss`` is read either way, with the baseline
after imports.
"""

from __future__ import annotations

import importlib
import io
import json
import resource
import sys
import time
import tracemalloc
from contextlib import redirect_stdout
from typing import Any


class _Sink(io.TextIOBase):
    def __init__(self) -> None:
        self.chars = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.chars += len(s)
        return len(s)


def _maxrss() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def work(kind: str, path: str, args: list[str]) -> tuple[dict[str, Any], Any]:
    from schemalog.log.store.events import StoreEvents
    from schemalog.log.store.ndjson import NdjsonStore

    if kind == "cli":
        from schemalog.cli import main

        sink = _Sink()
        with redirect_stdout(sink):
            code = main([*args[:1], path, *args[1:]])
        return {"exit": code, "output_chars": sink.chars}, None
    store = NdjsonStore.open(path, readonly=True, verify=False)
    try:
        if kind == "replay":
            from schemalog.log.replay import replay

            report = replay(store)
            return {"events": report.applied, "ok": report.ok}, report
        if kind == "metrics":
            from schemalog.analysis.metrics import compute_metrics

            m = compute_metrics(StoreEvents(store), args[0] if args else None)
            return {"events": m.events, "windows": len(m.windows)}, m
        if kind == "compat":
            from schemalog.analysis.compat import check_history

            r = check_history(StoreEvents(store), args[0])
            out = {"records": r.records, "total": r.total, "findings_kept": len(r.findings)}
            return out, r
    finally:
        store.close()
    raise SystemExit(f"unknown kind {kind}")


def main(argv: list[str]) -> None:
    kind, path, trace, args = argv[0], argv[1], argv[2] == "1", argv[3:]
    # imported before the baseline: they count in it, not in the work
    for name in ("cli", "compat", "metrics", "replay", "store.ndjson", "store.events"):
        importlib.import_module(f"schemalog.{name}")

    baseline = _maxrss()
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    out, result = work(kind, path, args)
    seconds = time.perf_counter() - t0
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        out["tracemalloc_peak"] = peak
        out["tracemalloc_after"] = current  # what the result keeps alive
        tracemalloc.stop()
    else:
        out["seconds"] = round(seconds, 2)
    out["maxrss"] = _maxrss()
    out["maxrss_baseline"] = baseline
    if kind == "replay":
        from schemalog.encoding.codec import canonical_bytes
        from schemalog.model.state_json import state_to_obj

        out["state_bytes"] = len(canonical_bytes(state_to_obj(result.state)))
        out["tables"] = len(result.state.tables)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
