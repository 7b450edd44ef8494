"""Apply a 1,000,000-event log to an empty on-disk database, against creating its
final schema directly, on each engine (Kuzu, LadybugDB) in one run. Prints one JSON
line per engine.

    .venv/bin/python bench/apply/run.py [--events N] [--seed S] [--origins K]
                                        [--engines kuzu,ladybug]

The two engines cannot share a process: the first named runs in this one, the
other through ``kuzu.remote`` (a child process, ``"transport": "child"``); both
paths of one engine (apply and direct) use the same transport, so the ratio
compares like with like. Ratios within one engine and run only.

* ``apply_s``: ``apply_log`` on an empty on-disk database (record read, catalog
  introspection, drift check, compacted plan, pre-check, one transaction with
  the DDL and the bookkeeping row), given the replayed head state;
* ``direct_s``: ``backend.execute(ddl_for_state(final))`` on another empty
  on-disk database;
* ``replay_s``: replaying the log into the head state (shared by both paths;
  reported apart);
* ``naive_statements``: what applying event by event would send (counted by
  rendering ``ddl_for_event`` for every event, not run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "pkg"))

from schemalog.encoding.codec import decode_record_or_raise
from schemalog.kuzu.apply import apply_log
from schemalog.kuzu.ddl import ddl_for_event, ddl_for_state
from schemalog.kuzu.engines import open_backend
from schemalog.kuzu.port import KuzuBackend
from schemalog.kuzu.profile import ENGINES, EngineProfile
from schemalog.kuzu.remote import RemoteBackend
from schemalog.log.replay import replay
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.model.schema import Applied, apply, empty_state
from schemalog.synth.generator import write_log


def naive_count(path: str) -> int:
    state, count = empty_state(), 0
    with open(path, "rb") as f:
        for position, line in enumerate(f):
            event = decode_record_or_raise(line, position).event
            count += len(ddl_for_event(state, event))
            result = apply(state, event)
            assert isinstance(result, Applied), result
            state = result.state
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--origins", type=int, default=1)
    parser.add_argument("--node-tables", type=int, default=100)
    parser.add_argument("--rel-tables", type=int, default=100)
    parser.add_argument("--engines", default="kuzu,ladybug")
    args = parser.parse_args()
    engines = [ENGINES[name] for name in args.engines.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        log = os.path.join(tmp, "log.ndjson")
        t = time.perf_counter()
        write_log(
            log,
            args.events,
            args.origins,
            args.seed,
            max_node_tables=args.node_tables,
            max_rel_tables=args.rel_tables,
        )
        write_s = time.perf_counter() - t

        t = time.perf_counter()
        with NdjsonStore.open(log, readonly=True) as store:
            report = replay(store)
        replay_s = time.perf_counter() - t
        assert report.ok, report.to_obj()
        final = report.state

        t = time.perf_counter()
        naive = naive_count(log)
        naive_s = time.perf_counter() - t
        direct_ddl = ddl_for_state(final)
        tables = list(final.tables.values())
        for engine in engines:
            run_engine(engine, tmp, report, direct_ddl)
            row = RESULTS[-1]
            row.update(
                {
                    "bench": "apply",
                    "events": args.events,
                    "origins": args.origins,
                    "node_tables": sum(1 for x in tables if x.kind == "NODE"),
                    "rel_tables": sum(1 for x in tables if x.kind == "REL"),
                    "replay_s": round(replay_s, 2),
                    "direct_statements": len(direct_ddl),
                    "naive_statements": naive,
                    "naive_count_s": round(naive_s, 2),
                    "write_log_s": round(write_s, 2),
                }
            )
            print(json.dumps(row), flush=True)


RESULTS: list[dict[str, object]] = []


def run_engine(engine: EngineProfile, tmp: str, report: Any, direct_ddl: list[str]) -> None:
    name = engine.name

    def fresh(label: str) -> KuzuBackend:
        return open_backend(os.path.join(tmp, f"{name}-{label}"), engine)

    # warm-up (not timed): the first on-disk database of a process pays ~1 s once
    backend = fresh("warm-up")
    transport = "child" if isinstance(backend, RemoteBackend) else "in-process"
    backend.execute(direct_ddl)
    backend.close()

    backend = fresh("applied")
    t = time.perf_counter()
    result = apply_log(backend, report)
    apply_s = time.perf_counter() - t
    backend.close()
    assert result.status == "applied"

    backend = fresh("direct")
    t = time.perf_counter()
    backend.execute(direct_ddl)
    direct_s = time.perf_counter() - t
    backend.close()
    RESULTS.append(
        {
            "engine": name,
            "transport": transport,
            "apply_s": round(apply_s, 3),
            "direct_s": round(direct_s, 3),
            "ratio": round(apply_s / direct_s, 3),
            "apply_statements": len(result.statements),
            "bookkeeping_statements": len(result.bookkeeping),
        }
    )


if __name__ == "__main__":
    main()
