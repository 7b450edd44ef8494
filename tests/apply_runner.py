"""Subprocess side of the session-crash differential test (test_kuzu_session_crash.py).

``python apply_runner.py WORKDIR SEED...``: for each seed, the rel-table
history of ``rel_histories.rel_history(seed)`` is applied to real on-disk Kuzu
three ways -- batch by batch in one backend object on disk (rows inserted
after the base; the adapter may reopen it to avoid a known crash), compacted
(the base, rows, then the last state in one apply) and from empty, both in
memory, where no reopen can save a plan that crashes by itself -- and each
result is compared with the model. Every plan is printed (one
JSON line, flushed) before it is sent, so that when Kuzu kills this process the
parent can name the plan it died on. A line ``{"fail": ...}`` is a mismatch.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rel_histories import rel_history, states_at
from schemalog.kuzu.apply import apply_log
from schemalog.kuzu.cypher import quote_identifier as q
from schemalog.kuzu.drift import drift
from schemalog.kuzu.native import NativeKuzuBackend
from schemalog.model.schema import NODE, REL, SchemaState

POOL = 64 * 1024 * 1024


def say(**obj: object) -> None:
    print(json.dumps(obj, sort_keys=True), flush=True)


def rows(state: SchemaState) -> list[str]:
    """One row per node table and one relationship per rel table (its first pair)."""
    out = []
    names = {tid: t.name for tid, t in state.tables.items()}
    for t in state.tables.values():
        if t.kind == NODE:
            out.append(f"CREATE (:{q(t.name)} {{id: 1}})")
    for t in state.tables.values():
        if t.kind == REL and t.connections:
            c = t.connections[0]
            a, b = q(names[c.from_table_id]), q(names[c.to_table_id])
            out.append(
                f"MATCH (x:{a}), (y:{b}) WHERE x.id = 1 AND y.id = 1 CREATE (x)-[:{q(t.name)}]->(y)"
            )
    return out


def check(backend: NativeKuzuBackend, state: SchemaState, **where: object) -> None:
    report = drift(state, backend.catalog())
    if not report.clean:
        say(fail=[str(d) for d in report.differences], **where)
    for t in state.tables.values():
        if t.kind == NODE:
            n = backend.query(f"MATCH (a:{q(t.name)}) RETURN count(*) AS n")[0]["n"]
            if n != 1:
                say(fail=f"node table {t.name!r} holds {n} rows, not 1", **where)


def apply(backend: NativeKuzuBackend, state: SchemaState, position: int, **where: object) -> None:
    planned = apply_log(backend, state, position=position, dry_run=True, allow_destructive=True)
    say(plan=list(planned.statements), **where)
    apply_log(backend, state, position=position, allow_destructive=True)


def run(workdir: str, seed: int) -> None:
    events, ends = rel_history(seed)
    path = states_at(events, ends)
    db = os.path.join(workdir, f"{seed}-step")
    backend = NativeKuzuBackend(db, buffer_pool_size=POOL)
    try:
        for k, (end, state) in enumerate(zip(ends, path, strict=True)):
            apply(backend, state, end, seed=seed, mode="step", batch=k)
            if k == 0:
                backend.execute(rows(state))
            check(backend, state, seed=seed, mode="step", batch=k)
        sessions = backend.sessions
    finally:
        backend.close()
    say(seed=seed, mode="step-reopen", plan=[])
    with NativeKuzuBackend(db, buffer_pool_size=POOL) as again:
        check(again, path[-1], seed=seed, mode="step-reopen")
    # in memory: no new session can save a plan that crashes by itself
    with NativeKuzuBackend(None, buffer_pool_size=POOL) as backend:
        apply(backend, path[0], ends[0], seed=seed, mode="compacted", batch=0)
        backend.execute(rows(path[0]))
        apply(backend, path[-1], ends[-1], seed=seed, mode="compacted", batch=len(ends) - 1)
        check(backend, path[-1], seed=seed, mode="compacted")
    with NativeKuzuBackend(None, buffer_pool_size=POOL) as b:
        apply(b, path[-1], ends[-1], seed=seed, mode="empty", batch=0)
    say(seed=seed, done=True, sessions=sessions, batches=len(ends))


if __name__ == "__main__":
    for arg in sys.argv[2:]:
        run(sys.argv[1], int(arg))
