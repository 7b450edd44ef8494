"""Browser benchmark: headless Chromium, the real page path (Pyodide + our wheel + kuzu-wasm).

Run by ``./build.sh bench`` (or ``.venv/bin/python bench/browser/run.py``);
needs ``./build.sh build`` (build/site). Serves a temporary site (links to
build/site's web/, pyodide/, kuzu-wasm/ and to bench/out/ for the log) with
tools/devserver.py and drives Debian's Chromium with selenium. Measures, in
the same run:

* cold start, each in a fresh browser (own profile, the server sends
  ``no-store``): bare Pyodide (``loadPyodide``) against a ready workspace
  (Pyodide + micropip + our wheel + one kuzu-wasm worker opened through
  ``schemalog.browser.demo``), ``--starts`` rounds each, alternating; medians;
* replay throughput in Chromium, per store and chunk budget, each in a fresh
  page (the WebAssembly heap never shrinks, so one measurement per page):

  - ``ndjson``: the synthetic log of bench/replay (``replay-N-o3-s1.ndjson``,
    generated once with ``schemalog.synth.generator`` if missing) is fetched into
    Pyodide's MEMFS (a JS array, not the WebAssembly heap), then our full
    replay (``NdjsonStore`` + ``replay`` at the budget: decode, canonical
    check, checksum, hash link, schema apply), then in the same page the
    in-browser floor (read in budget-sized chunks, ``json.loads`` + ``sha256``
    per line), replay first so the floor's buffers do not hide its heap growth;
  - ``indexeddb``: the same log in IndexedDB (written once per run by the page's
    JS straight from the fetched stream, 8 MiB a transaction, through
    web/js/idb-store.mjs; kept in the run's browser profile for the next
    budgets), replayed from ``BrowserStore.iter_raw``; its ``replay_over_floor``
    is against the ndjson leg's floor at the same budget;
* the WebAssembly heap (``HEAP8.length``) before the replay, its high-water
  mark during it (``Tracer(memory=True)``: sampled at every chunk and batch)
  and after.

* the demo page as a product (bench/browser/page.py): capacity per workspace
  (node tables until ``WorkspaceFull`` through the page, against what a raw
  kuzu-wasm worker holds until Kuzu fails) and the longest main-thread stall
  while the page's Replay button replays ``--events`` events.

Prints one JSON line. ``--events N`` (default 1,000,000), ``--starts K``,
``--budget-mib B [B ...]`` (default 8 32), ``--stores`` (default both),
``--legs`` (default all: ``starts replay capacity stall``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SITE = ROOT / "build" / "site"
MIB = 1024 * 1024
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "pyodide-tests"))
sys.path.insert(0, str(ROOT / "bench" / "replay"))

import inspect  # noqa: E402

import measure  # noqa: E402

sys.path.insert(0, str(HERE))
import page  # noqa: E402

# The floor is the same loop as the CPython and Node legs of bench/replay.
FLOOR_SOURCE = inspect.getsource(measure.floor)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def ensure_log(events: int) -> Path:
    """bench/out/browser/replay-N-o3-s1.ndjson, written once by ``schemalog.synth.generator``.

    Our own copy (not bench/replay's): a log cached by an older synth may hold
    events today's schema rules reject (a renamed SERIAL table), and then the
    replay stops at the first of them."""
    path = ROOT / "bench" / "out" / "browser" / f"replay-{events}-o3-s1.ndjson"
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT / "pkg"))
    from schemalog.synth.generator import write_log

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    t0 = time.perf_counter()
    print(f"[bench/browser] generating {events:,} events into {path} ...", file=sys.stderr)
    write_log(tmp, events, origins=3, seed=1, overwrite=True)
    os.replace(tmp, path)
    print(f"[bench/browser] generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


def browser(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    path = os.environ.get("SE_CHROMEDRIVER") or shutil.which("chromedriver")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=path))
    driver.set_script_timeout(3600)
    # A command sent while the page's main thread runs Python (a replay of a
    # million events is minutes of synchronous work) waits for it: let the
    # HTTP client wait too (its default is 120 s).
    driver.command_executor._client_config.timeout = 3600
    return driver


def run_js(driver: Any, body: str, *args: Any, timeout_s: float = 3600) -> Any:
    """Runs an async JS body (``args`` in scope); returns its value, raises what it throws.

    Started, then polled: one WebDriver command may not last longer than the
    client's HTTP timeout (120 s), and a replay of a million events does."""
    driver.execute_script(
        "window.__bench = null; const args = Array.from(arguments);"
        f"(async () => {{ {body} }})().then((v) => (window.__bench = {{ok: true, v}}),"
        " (e) => (window.__bench = {ok: false, e: String(e && e.stack || e)}));",
        *args,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        out = driver.execute_script("return window.__bench;")
        if out is not None:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from the page in {timeout_s} s")
        time.sleep(1)
    if not out["ok"]:
        raise RuntimeError(out["e"])
    return out["v"]


BARE = """
const t0 = performance.now();
const { loadPyodide } = await import("/pyodide/pyodide.mjs");
const pyodide = await loadPyodide({ indexURL: "/pyodide/" });
pyodide.runPython("1 + 1");
return performance.now() - t0;
"""

READY = """
const t0 = performance.now();
const { startPython } = await import("/web/js/python.mjs");
const { pyodide } = await startPython();
const t1 = performance.now();
const demo = pyodide.pyimport("schemalog.browser.demo");
const reply = JSON.parse(await demo.call("open", JSON.stringify({ name: args[0] })));
if (!reply.ok) throw new Error(reply.error.message);
const t2 = performance.now();
return { total_ms: t2 - t0, python_ms: t1 - t0, workspace_ms: t2 - t1,
         worker_memory: reply.result.memory_bytes, state: reply.result.state };
"""

LOAD_LOG = """
const t0 = performance.now();
const { startPython } = await import("/web/js/python.mjs");
const { pyodide } = await startPython();
window.pyodide = pyodide;
const t1 = performance.now();
const response = await fetch(args[0]);
if (!response.ok) throw new Error(`fetch ${args[0]}: ${response.status}`);
const bytes = new Uint8Array(await response.arrayBuffer());
pyodide.FS.writeFile("/tmp/log.ndjson", bytes);  // MEMFS: a JS array, outside HEAP8
return { python_ms: t1 - t0, fetch_ms: performance.now() - t1, bytes: bytes.length };
"""

LOAD_IDB = """
const t0 = performance.now();
const [url, name, events] = args;
const { openLog, deleteLog } = await import("/web/js/idb-store.mjs");
try {
  const log = await openLog(name, { create: false });
  const info = await log.info();
  log.close();
  if (info.count === events) return { loaded: false, count: info.count, ms: 0 };
  await deleteLog(name);
} catch (error) {
  if (error.name !== "StoreMissing") throw error;
}
const log = await openLog(name, { create: true, durability: "relaxed" });
const response = await fetch(url);
if (!response.ok) throw new Error(`fetch ${url}: ${response.status}`);
const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
let rest = "", count = 0, checksum = null, batch = [], size = 0;
const flush = async () => {
  if (!batch.length) return;
  const sum = batch[batch.length - 1].slice(13, 87);  // {"checksum":"sha256-v1:<64 hex>
  await log.append({ expectedCount: count, expectedChecksum: checksum, token: null,
                     lines: batch.join("\\n"), checksum: sum });
  count += batch.length;
  checksum = sum;
  batch = [];
  size = 0;
};
for (;;) {
  const { done, value } = await reader.read();
  if (done) break;
  const parts = (rest + value).split("\\n");
  rest = parts.pop();
  for (const line of parts) {
    batch.push(line);
    size += line.length;
    if (size > 8 * 1024 * 1024) await flush();
  }
}
if (rest) batch.push(rest);
await flush();
log.close();
if (count !== events) {
  throw new Error(`IndexedDB got ${count} records of ${url}, expected ${events}`);
}
return { loaded: true, count, ms: performance.now() - t0 };
"""

START_PYTHON = """
const { startPython } = await import("/web/js/python.mjs");
const { pyodide } = await startPython();
window.pyodide = pyodide;
return true;
"""

OPEN_NDJSON = 'NdjsonStore.open("/tmp/log.ndjson", readonly=True, verify=False)'
OPEN_IDB = "await BrowserStore.open_async({name!r}, create=False)"

MEASURE_PY = r"""
import asyncio, hashlib, json, time
from schemalog import _compat
from schemalog.browser.bridge import blocking
from schemalog.log.replay import replay
from schemalog.browser.store import BrowserStore
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.log.trace import Tracer

PATH, BUDGET = "/tmp/log.ndjson", {budget}

{floor_source}

out = {{"heap_at_start": _compat.wasm_heap_bytes()}}
heap0 = _compat.wasm_heap_bytes()
tracer = Tracer(memory=True)
t0 = time.perf_counter()
store = {open_store}

def chunks():
    # between chunks, give the page's event loop a turn (JSPI): the renderer
    # answers WebDriver meanwhile (chromedriver gives up on it after 300 s)
    for chunk in store.iter_raw(0, BUDGET):
        yield chunk
        del chunk  # before the next one is read: one chunk in memory, not two
        blocking(asyncio.sleep(0))

report = replay(chunks(), max_chunk_bytes=BUDGET, tracer=tracer)
store.close()
seconds = time.perf_counter() - t0
heap1 = _compat.wasm_heap_bytes()
out["replay"] = {{
    "events": report.applied, "ok": report.ok, "seconds": seconds,
    "events_per_s": report.applied / seconds, "chunks": report.chunks,
    "tables": len(report.state.tables), "state_hash": report.state_hash,
    "heap_before": heap0, "heap_peak": max(tracer.memory_peak or 0, heap1), "heap_after": heap1,
    "heap_growth": max(tracer.memory_peak or 0, heap1) - heap0,
    "stopped": report.stopped.to_obj() if report.stopped else None,
    "error": repr(report.error) if report.error is not None else None,
}}
del report, store, tracer
if {run_floor}:
    t0 = time.perf_counter()
    n = floor(PATH, BUDGET)
    seconds = time.perf_counter() - t0
    heap2 = _compat.wasm_heap_bytes()
    out["floor"] = {{"events": n, "seconds": seconds, "events_per_s": n / seconds,
                     "heap_growth": heap2 - heap1}}
json.dumps(out)
"""


def cold_starts(url: str, rounds: int, tmp: Path) -> dict[str, Any]:
    bare, ready = [], []
    for i in range(rounds):
        for kind in ("bare", "ready"):
            driver = browser(tmp / f"profile-{kind}-{i}")
            try:
                driver.get(f"{url}/bench.html")
                if kind == "bare":
                    bare.append(run_js(driver, BARE))
                else:
                    ready.append(run_js(driver, READY, f"bench-{i}"))
            finally:
                driver.quit()
    med = statistics.median
    return {
        "rounds": rounds,
        "bare_pyodide_ms": round(med(bare)),
        "ready_workspace_ms": round(med(r["total_ms"] for r in ready)),
        "of_which_python_and_wheel_ms": round(med(r["python_ms"] for r in ready)),
        "of_which_kuzu_worker_ms": round(med(r["workspace_ms"] for r in ready)),
        "ready_over_bare": round(med(r["total_ms"] for r in ready) / med(bare), 2),
        "kuzu_worker_memory": ready[-1]["worker_memory"],
        "all_bare_ms": [round(x) for x in bare],
        "all_ready_ms": [round(r["total_ms"]) for r in ready],
    }


def replay_in_browser(
    url: str, log: Path, events: int, store: str, budget: int, profile: Path
) -> dict[str, Any]:
    """One measurement in a fresh browser (``profile`` keeps IndexedDB across budgets)."""
    driver = browser(profile)
    loaded: dict[str, Any]
    try:
        driver.get(f"{url}/bench.html")
        if store == "ndjson":
            loaded = run_js(driver, LOAD_LOG, f"/bench-out/{log.name}")
            open_store = OPEN_NDJSON
        else:
            loaded = run_js(driver, LOAD_IDB, f"/bench-out/{log.name}", log.stem, events)
            run_js(driver, START_PYTHON)
            open_store = OPEN_IDB.format(name=log.stem)
        code = MEASURE_PY.format(
            budget=budget,
            floor_source=FLOOR_SOURCE,
            open_store=open_store,
            run_floor=store == "ndjson",
        )
        text = run_js(driver, "return await window.pyodide.runPythonAsync(args[0]);", code)
        version = run_js(driver, "return navigator.userAgent.match(/Chrome\\/[0-9.]+/)[0];")
    finally:
        driver.quit()
    result = json.loads(text)
    rep, flo = result["replay"], result.get("floor")
    out = {
        "store": store,
        "browser": version,
        "chunk_budget": budget,
        "events": rep["events"],
        "replay_ok": rep["ok"],
        "replay_stopped": rep["stopped"],
        "replay_error": rep["error"],
        "replay_events_per_s": round(rep["events_per_s"]),
        "replay_seconds": round(rep["seconds"], 1),
        "chunks": rep["chunks"],
        "tables": rep["tables"],
        "state_hash": rep["state_hash"],
        "wasm_heap_before": rep["heap_before"],
        "wasm_heap_peak": rep["heap_peak"],
        "wasm_heap_growth": rep["heap_growth"],
        "wasm_heap_growth_mib": round(rep["heap_growth"] / MIB, 1),
    }
    if store == "ndjson":
        out["fetch_into_memfs_ms"] = round(loaded["fetch_ms"])
        out["log_bytes"] = loaded["bytes"]
    else:
        out["idb_load_ms"] = round(loaded["ms"]) if loaded["loaded"] else None
    if flo is not None:
        out["floor_events_per_s"] = round(flo["events_per_s"])
        out["floor_seconds"] = round(flo["seconds"], 1)
        out["floor_wasm_heap_growth"] = flo["heap_growth"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--budget-mib", type=int, nargs="+", default=[8, 32])
    parser.add_argument(
        "--stores", nargs="+", choices=["ndjson", "indexeddb"], default=["ndjson", "indexeddb"]
    )
    parser.add_argument(
        "--legs",
        nargs="+",
        choices=["starts", "replay", "capacity", "stall"],
        default=["starts", "replay", "capacity", "stall"],
    )
    args, _ = parser.parse_known_args()  # ./build.sh bench passes its args to every bench
    if not (SITE / "pyodide" / "pyodide-lock.json").exists():
        raise SystemExit("build/site is not built: run ./build.sh build first")
    from devserver import serve_in_thread

    log = ensure_log(args.events) if "replay" in args.legs else None
    with tempfile.TemporaryDirectory(prefix="schemalog-bench-browser-") as tmpdir:
        tmp = Path(tmpdir)
        site = tmp / "site"
        site.mkdir()
        for name in ("web", "pyodide", "kuzu-wasm"):
            (site / name).symlink_to((SITE / name).resolve())
        if log is not None:
            (site / "bench-out").symlink_to(log.parent.resolve())
        (site / "bench.html").write_text("<!doctype html><title>bench</title><body>bench</body>\n")
        server, url = serve_in_thread(site)
        try:
            t0 = time.perf_counter()
            wanted = "starts" in args.legs and args.starts
            starts = cold_starts(url, args.starts, tmp) if wanted else None
            replays = []
            for store in args.stores if log is not None else ():
                for budget in args.budget_mib:
                    profile = tmp / f"profile-replay-{store}"
                    leg = replay_in_browser(url, log, args.events, store, budget * MIB, profile)
                    print(f"[bench/browser] {json.dumps(leg)}", file=sys.stderr, flush=True)
                    replays.append(leg)
            product: dict[str, Any] = {}

            def fresh(tag: str) -> Any:
                return browser(tmp / f"profile-{tag}")

            if "capacity" in args.legs:
                product["capacity"] = page.capacity(url, fresh, run_js)
                print(f"[bench/browser] {json.dumps(product)}", file=sys.stderr, flush=True)
            if "stall" in args.legs:
                product["stall"] = page.stall(url, args.events, fresh)
        finally:
            server.shutdown()
    floors = {
        r["chunk_budget"]: r["floor_events_per_s"] for r in replays if "floor_events_per_s" in r
    }
    for r in replays:
        floor_rate = floors.get(r["chunk_budget"])
        if floor_rate:
            r["replay_over_floor"] = round(r["replay_events_per_s"] / floor_rate, 3)
    out = {
        "bench": "browser",
        "log": str(log.relative_to(ROOT)) if log is not None else None,
        "cold_start": starts,
        "replay": replays,
        **product,
        "wall_seconds": round(time.perf_counter() - t0),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
