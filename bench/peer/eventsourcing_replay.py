"""The peer: ``eventsourcing`` replaying the same number of schema-like events.

``python bench/peer/eventsourcing_replay.py write-sqlite N FILE`` writes
``N`` events to one ``Schema`` aggregate in a SQLite file;
``get-sqlite N FILE`` (a fresh process, as our replay opens a log) times
``repository.get`` of that aggregate, the peer's replay, by CPU time;
``popo N`` writes to the in-memory POPO recorder and times ``get`` in the
same process (its memory then includes the recorder's copy of every event:
``rss_before_get_kib`` says how much was there before the get). Each prints
one JSON line: events, seconds, events/s, ru_maxrss.

``pyodide_runner.mjs`` (next to this file) runs the same three legs inside
Pyodide under Node, one fresh runtime each: it imports this module and calls
``write`` and ``get`` with Node's CPU clock; Pyodide has no ``resource``.

The events mirror our synthetic log's kinds (create a node table with three
properties, add / rename / drop a property, rename a table, comment) and the
aggregate applies them to dicts of tables and properties, as our schema
state does, without our validation: the peer does less work per event.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Schema(Aggregate):
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}

    @event("TableCreated")
    def create_table(self, table_id: str, name: str, properties: list[list[str]]) -> None:
        self.tables[table_id] = {
            "name": name,
            "comment": None,
            "props": {p[0]: {"name": p[1], "type": p[2]} for p in properties},
        }

    @event("PropertyAdded")
    def add_property(self, table_id: str, property_id: str, name: str, type_: str) -> None:
        self.tables[table_id]["props"][property_id] = {"name": name, "type": type_}

    @event("PropertyRenamed")
    def rename_property(self, table_id: str, property_id: str, name: str) -> None:
        self.tables[table_id]["props"][property_id]["name"] = name

    @event("PropertyDropped")
    def drop_property(self, table_id: str, property_id: str) -> None:
        del self.tables[table_id]["props"][property_id]

    @event("TableRenamed")
    def rename_table(self, table_id: str, name: str) -> None:
        self.tables[table_id]["name"] = name

    @event("TableCommented")
    def comment(self, table_id: str, text: str) -> None:
        self.tables[table_id]["comment"] = text


def write(app: Application, n: int, seed: int = 1) -> Any:
    rng = random.Random(seed)
    schema = Schema()
    tables: list[str] = []
    props: dict[str, list[str]] = {}
    made = 1  # the creation event
    serial = 0
    while made < n:
        serial += 1
        roll = rng.random()
        if not tables or roll < 0.05:
            tid = f"t{serial}"
            plist = [[f"{tid}/p{i}", f"prop{i}", "INT64"] for i in range(3)]
            schema.create_table(tid, f"Table{serial}", plist)
            tables.append(tid)
            props[tid] = [p[0] for p in plist]
        else:
            tid = rng.choice(tables)
            ps = props[tid]
            if roll < 0.45 and len(ps) < 40:
                pid = f"{tid}/p{serial}"
                schema.add_property(tid, pid, f"prop{serial}", "STRING")
                ps.append(pid)
            elif roll < 0.7 and ps:
                schema.rename_property(tid, rng.choice(ps), f"name{serial}")
            elif roll < 0.8 and len(ps) > 1:
                pid = ps.pop(rng.randrange(len(ps)))
                schema.drop_property(tid, pid)
            elif roll < 0.9:
                schema.rename_table(tid, f"Table{serial}")
            else:
                schema.comment(tid, f"comment {serial}")
        made += 1
        if made % 10_000 == 0:
            app.save(schema)
    app.save(schema)
    return schema.id


def _app(recorder: str, file: str | None) -> Application:
    if recorder == "sqlite":
        assert file is not None
        return Application(
            env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": file}
        )
    return Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _maxrss_kib() -> int | None:
    """Peak RSS as bench/replay/measure.py reads ours: VmHWM, which exec resets."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return int(next(x for x in f if x.startswith("VmHWM:")).split()[1])
    except (OSError, StopIteration):
        pass
    try:
        import resource
    except ImportError:  # Pyodide: the runner reports the WebAssembly heap instead
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _get(app: Application, aggregate_id: Any, n: int, recorder: str) -> dict[str, Any]:
    rss_before = _maxrss_kib()
    t0 = time.process_time()
    schema = app.repository.get(aggregate_id)
    seconds = time.process_time() - t0
    assert schema.version == n, (schema.version, n)
    return {
        "peer": f"eventsourcing-{recorder}",
        "events": n,
        "seconds": round(seconds, 3),
        "events_per_s": round(n / seconds),
        "rss_before_get_kib": rss_before,
        "ru_maxrss_kib": _maxrss_kib(),
        "tables": len(schema.tables),
    }


def get_timed(
    recorder: str,
    n: int,
    file: str | None,
    aggregate_id: str | None,
    cpu: Callable[[], float],
    heap: Callable[[], int],
) -> dict[str, Any]:
    """One leg for a runtime where ``time.process_time`` is not CPU time (Pyodide: it
    is Emscripten's wall clock) and ``resource`` is missing: ``cpu`` (the runner's
    process CPU seconds) and ``heap`` (its memory size, which never shrinks, so a
    peak) are read right around ``repository.get``, as ``process_time`` is."""
    import uuid

    if recorder == "sqlite":
        assert aggregate_id is not None
        app, the_id = _app("sqlite", file), uuid.UUID(aggregate_id)
    else:
        app = _app("popo", None)
        the_id = write(app, n)
    heap_before = heap()
    c0 = cpu()
    out = _get(app, the_id, n, recorder)
    cpu_seconds = cpu() - c0
    out["heap_before_get"] = heap_before
    out["heap_after"] = heap()
    out["host_cpu_seconds"] = round(cpu_seconds, 3)
    out["events_per_host_cpu_s"] = round(n / cpu_seconds) if cpu_seconds > 0 else None
    return out


def main() -> None:
    mode, n = sys.argv[1], int(sys.argv[2])
    file = sys.argv[3] if len(sys.argv) > 3 else None
    if mode == "write-sqlite":
        aggregate_id = write(_app("sqlite", file), n)
        print(json.dumps({"aggregate_id": str(aggregate_id)}))
    elif mode == "get-sqlite":
        import uuid

        aggregate_id = uuid.UUID(sys.argv[4])
        print(json.dumps(_get(_app("sqlite", file), aggregate_id, n, "sqlite")))
    elif mode == "popo":
        app = _app("popo", None)
        print(json.dumps(_get(app, write(app, n), n, "popo")))
    else:
        raise SystemExit(f"unknown mode {mode!r}: write-sqlite, get-sqlite or popo")


if __name__ == "__main__":
    main()
