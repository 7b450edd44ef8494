"""Shared-log benchmark: appends through the sync service, replay streamed from PostgreSQL.

Run by ``./build.sh bench shared`` (or ``.venv/bin/python bench/shared/run.py``).
Starts its own throwaway PostgreSQL (tests/pg_server.py, like the tests) and
``schemalog serve`` processes (tests/served.py), and prints one JSON line per part:

* ``appends``: ``--clients`` client processes (default 10) append
  ``--appends`` events each to ONE served log at once, every event naming
  the heads it read, retrying when the head moved; once over PostgreSQL and
  once over the NDJSON folder default. Acknowledged appends per second of
  the whole run, p50/p99 of an append request (won or lost) and of an
  event's time to acknowledgement (retries included), requests lost to a
  moved head.
* ``replay``: the ``--events`` event log of bench/replay (1,000,000 by
  default; generated once, cached in bench/out/) loaded into PostgreSQL
  (COPY of its canonical lines into our tables, not measured), then
  ``replay`` of it from PostgreSQL and from the NDJSON file at the chunk
  budget, each in a fresh process: events/s, the ratio PostgreSQL/NDJSON,
  peak memory (``ru_maxrss``; tracemalloc peak in separate runs) against
  replay's target (budget + state + 16 MiB, state counted as its canonical
  JSON bytes is what bench/replay reports; here the same state, so the
  figures compare directly). Both replays must reach the same state hash.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MIB = 1024 * 1024
sys.path.insert(0, str(ROOT / "tests"))  # the test run's PostgreSQL and service starters

from pg_server import PgServer  # noqa: E402
from served import Service  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000, 2)


def appends(store: str, clients: int, per_client: int) -> dict[str, Any]:
    service = Service(store).start()
    log = f"bench{int(time.time() * 1000)}"
    try:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "client.py"),
                    service.log_url(log),
                    f"c{i}",
                    str(per_client),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(clients)
        ]
        time.sleep(3.0)  # every client imported and connected
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [json.loads(p.communicate(timeout=1800)[0]) for p in procs]
    finally:
        service.stop()
    acked = [x for o in outs for x in o["acked"]]
    requests = [x for o in outs for x in o["requests"]]
    wall = max(o["end"] for o in outs) - min(o["begin"] for o in outs)
    return {
        "store": "postgresql" if store.startswith("postgresql://") else "ndjson folder",
        "clients": clients,
        "acknowledged": len(acked),
        "appends_per_s": round(len(acked) / wall, 1),
        "request_p50_ms": pct(requests, 50),
        "request_p99_ms": pct(requests, 99),
        "ack_p50_ms": pct(acked, 50),
        "ack_p99_ms": pct(acked, 99),
        "lost_to_moved_head": sum(o["lost"] for o in outs),
        "wall_s": round(wall, 2),
    }


def load_replay_log(events: int) -> Path:
    spec = importlib.util.spec_from_file_location("bench_replay_run", ROOT / "bench/replay/run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path: Path = module.ensure_log(events)
    return path


def copy_into_postgres(url: str, log: str, path: Path) -> float:
    """Bulk-load a verified NDJSON log into our tables (the shape PostgresStore writes)."""
    import psycopg

    from schemalog.log.store.base import line_checksum, line_id
    from schemalog.log.store.postgres import PostgresStore

    PostgresStore.open(url, log=log, create=True).close()  # our tables and the log's row
    t0 = time.perf_counter()
    n, head = 0, None
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        copy_sql = "COPY schemalog_records (log, seq, event_id, checksum, line) FROM STDIN"
        with cur.copy(copy_sql) as copy, open(path, "rb") as f:
            for line in f:
                line = line.rstrip(b"\n")
                head = line_checksum(line)
                copy.write_row((log, n, line_id(line).decode("ascii"), head, line))
                n += 1
        cur.execute(
            "UPDATE schemalog_logs SET count = %s, head = %s WHERE log = %s", (n, head, log)
        )
    return time.perf_counter() - t0


def measure(kind: str, source: str, budget: int, trace: bool) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(HERE / "measure.py"),
        kind,
        source,
        str(budget),
        "1" if trace else "0",
    ]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def replay_part(url: str, events: int, budget: int, tracemalloc: bool) -> dict[str, Any]:
    path = load_replay_log(events)
    log = "replay1m" if events == 1_000_000 else f"replay{events}"
    load_s = copy_into_postgres(url, log, path)
    pg = f"{url}?log={log}"
    nd = measure("ndjson", str(path), budget, False)
    pgr = measure("postgres", pg, budget, False)
    assert nd["ok"] and pgr["ok"] and nd["state_hash"] == pgr["state_hash"], (nd, pgr)
    out: dict[str, Any] = {
        "events": nd["events"],
        "budget_mib": budget // MIB,
        "copy_into_postgres_s": round(load_s, 1),
        "ndjson_events_per_s": nd["events_per_s"],
        "postgres_events_per_s": pgr["events_per_s"],
        "ratio_postgres_to_ndjson": round(pgr["events_per_s"] / nd["events_per_s"], 3),
        "ndjson_maxrss": nd["maxrss"],
        "postgres_maxrss": pgr["maxrss"],
        "maxrss_baseline": pgr["maxrss_baseline"],
        "same_state_hash": True,
    }
    if tracemalloc:
        out["ndjson_tracemalloc_peak"] = measure("ndjson", str(path), budget, True)[
            "tracemalloc_peak"
        ]
        out["postgres_tracemalloc_peak"] = measure("postgres", pg, budget, True)["tracemalloc_peak"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--appends", type=int, default=50, help="events per client")
    ap.add_argument("--events", type=int, default=1_000_000, help="events of the replayed log")
    ap.add_argument("--budget-mib", type=int, default=8)
    ap.add_argument("--no-tracemalloc", action="store_true")
    ap.add_argument("--skip", choices=["appends", "replay"], action="append", default=[])
    args = ap.parse_args()
    server = PgServer.start()
    try:
        if "appends" not in args.skip:
            for store in (server.url, tempfile.mkdtemp(prefix="schemalog-bench-") + "/logs"):
                print(
                    json.dumps({"part": "appends", **appends(store, args.clients, args.appends)}),
                    flush=True,
                )
        if "replay" not in args.skip:
            part = replay_part(
                server.url, args.events, args.budget_mib * MIB, not args.no_tracemalloc
            )
            print(json.dumps({"part": "replay", **part}), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
