"""SIGKILL at random moments of an incremental `schemalog apply`: the database is always at
the old or the new state (record, catalog and rows agree), and a re-run completes.

Bounded: KILLS kills, each on a fresh copy of one template database; the kill
moment is drawn uniformly over the length of an uninterrupted apply (measured
first, from the moment the process says it starts), so the kills land while
the database is opened, the log replayed, the catalog read, the transaction
sent, committed and checkpointed at close.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rel_histories import rel_history, states_at
from schemalog.encoding.codec import encode_record, state_hash
from schemalog.model.events import Event

pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu

KILLS = 30

_APPLY = """
    import sys
    import kuzu  # imported before "go": the kill window is the apply itself
    import schemalog.kuzu.apply, schemalog.log.replay, schemalog.log.store.ndjson
    from schemalog.cli import main
    print("ready", flush=True)
    sys.stdin.readline()  # spawned ahead of time; starts when told
    sys.exit(main(["apply", sys.argv[1], "--db", sys.argv[2], "--allow-destructive"]))
"""

_CHECK = """
    import contextlib, io, json, sys
    from schemalog.cli import main
    from schemalog.kuzu.cypher import quote_identifier as q
    from schemalog.kuzu.native import NativeKuzuBackend
    from schemalog.kuzu.verdict import assess

    def look(db):
        with NativeKuzuBackend(db) as b:
            v = assess(b)
            nodes = [t.name for t in v.catalog.node_tables if not t.name.startswith("_")]
            rows = {n: b.query(f"MATCH (a:{q(n)}) RETURN count(*) AS n")[0]["n"] for n in nodes}
            return {"position": v.record.position if v.record else None,
                    "hash": v.record.state_hash if v.record else None,
                    "clean": v.clean, "rows": rows}

    for line in sys.stdin:  # one killed database per line
        db = line.strip()
        before = look(db)
        with contextlib.redirect_stdout(io.StringIO()):  # the DDL it prints
            code = main(["apply", sys.argv[1], "--db", db, "--allow-destructive"])
        print(json.dumps({"before": before, "rerun": code, "after": look(db)}), flush=True)
"""


def _python(script: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(script)]


def _write(path: Path, events: list[Event]) -> None:
    prev, lines = None, []
    for ev in events:
        line = encode_record(ev, prev)
        prev = json.loads(line)["checksum"]
        lines.append(line + b"\n")
    path.write_bytes(b"".join(lines))


def _copy(src: Path, dst: Path) -> None:
    dst.mkdir()
    for f in src.iterdir():
        shutil.copyfile(f, dst / f.name)


def _spawn(log: Path, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*_python(_APPLY), str(log), str(db / "db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _go(proc: subprocess.Popen[str]) -> float:
    assert proc.stdout is not None and proc.stdin is not None
    ready = proc.stdout.readline().strip()
    assert ready == "ready", proc.stderr.read() if proc.stderr else ""
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return time.monotonic()


def test_random_sigkills_during_an_incremental_apply(tmp_path: Path) -> None:
    events, ends = rel_history(seed=4, changes=30)
    path = states_at(events, ends)
    old_n, new_n = ends[0], ends[-1]
    old_hash, new_hash = state_hash(path[0]), state_hash(path[-1])
    log = tmp_path / "log.ndjson"
    template = tmp_path / "template"
    template.mkdir()
    # the template: the base applied, one row per node table
    _write(log, events[:old_n])
    first = _spawn(log, template)
    _go(first)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    from schemalog.kuzu.native import NativeKuzuBackend

    with NativeKuzuBackend(str(template / "db")) as b:
        b.execute([f"CREATE (:`{n}` {{id: 1}})" for n in "ABCD"])
    _write(log, events)  # the log moves on: the next apply is incremental

    # an uninterrupted apply, timed from "go"
    calibrate = tmp_path / "calibrate"
    _copy(template, calibrate)
    proc = _spawn(log, calibrate)
    t0 = _go(proc)
    out, err = proc.communicate(timeout=300)
    length = time.monotonic() - t0
    assert proc.returncode == 0, err
    assert "ADD FROM" in out and "DROP" in out  # the plan holds the crash-prone shapes

    rng = random.Random(22)
    seen = {"old": 0, "new": 0}
    checker = subprocess.Popen(
        [*_python(_CHECK), str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert checker.stdin is not None and checker.stdout is not None
    dbs = [tmp_path / f"k{i}" for i in range(KILLS)]
    _copy(template, dbs[0])
    ahead = _spawn(log, dbs[0])
    try:
        for i, db in enumerate(dbs):
            proc, delay = ahead, rng.uniform(0, length * 1.1)
            t0 = _go(proc)
            time.sleep(max(0.0, delay - (time.monotonic() - t0)))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            killed = proc.returncode == -signal.SIGKILL
            if i + 1 < KILLS:  # the next one imports while this one is checked
                _copy(template, dbs[i + 1])
                ahead = _spawn(log, dbs[i + 1])
            checker.stdin.write(f"{db / 'db'}\n")
            checker.stdin.flush()
            line = checker.stdout.readline()
            where = f"kill {i} at {delay:.3f}s of {length:.3f}s (killed: {killed})"
            if not line:
                checker.kill()
                pytest.fail(f"{where}: the checker died: {checker.communicate()[1][-1500:]}")
            seen_now = json.loads(line)
            before, after = seen_now["before"], seen_now["after"]
            state = {old_n: "old", new_n: "new"}.get(before["position"])
            assert state is not None, (where, before)
            assert before["hash"] == (old_hash if state == "old" else new_hash), (where, before)
            assert before["clean"], (where, before)  # the catalog is the recorded state
            assert set(before["rows"].values()) == {1}, (where, before)  # no row lost
            seen[state] += 1
            assert seen_now["rerun"] == 0, where
            assert (after["position"], after["hash"], after["clean"]) == (new_n, new_hash, True)
            assert set(after["rows"].values()) == {1}, where
            shutil.rmtree(db)
    finally:
        checker.stdin.close()
        checker.wait(timeout=60)
        if ahead.poll() is None:
            ahead.kill()
            ahead.communicate()
    # the kills landed on both sides of the commit
    print(f"{KILLS} kills over {length:.3f} s: {seen}")
    assert seen["old"] > 0 and seen["new"] > 0, seen
