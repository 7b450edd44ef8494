"""Kuzu 0.11.3 segfaults on a rel-table property drop followed by ADD FROM in one session;
apply never sends that (kuzu/hazards.py).

Everything that could crash runs in a subprocess, so the suite survives a
crash and reports it as a failure with the statements that caused it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from schemalog.cli import main
from schemalog.encoding.codec import encode_record
from schemalog.kuzu.apply import check_steps
from schemalog.kuzu.ddl import ddl_for_diff, model_of_state
from schemalog.kuzu.hazards import ANY_TABLE, SessionHazards, parse_alter
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    DropProperty,
    Event,
    build_node_table,
    build_rel_table,
    new_event,
)
from schemalog.model.parts import Connection
from schemalog.model.schema import Applied, SchemaState, apply, empty_state

pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu

HERE = os.path.dirname(os.path.abspath(__file__))
SEGV = -signal.SIGSEGV


def _python(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- the fact, on raw kuzu ---------------------------------------------------

_RAW = """
    import json, sys, kuzu
    path, steps = sys.argv[1], json.loads(sys.argv[2])
    db = kuzu.Database(path); c = kuzu.Connection(db)
    def x(q):
        r = c.execute(q)
        for one in (r if isinstance(r, list) else [r]):
            one.close()
    for t in "ABC":
        x(f"CREATE NODE TABLE {t}(id INT64, PRIMARY KEY(id))")
    x("CREATE REL TABLE R(FROM A TO B, w INT64, v INT64)")
    for q in steps:
        if q == "REOPEN":
            c.close(); db.close(); db = kuzu.Database(path); c = kuzu.Connection(db)
        else:
            print(q, flush=True)
            x(q)
    c.close(); db.close()
    print("survived", flush=True)
"""

DROP, ADD_PAIR = "ALTER TABLE R DROP w", "ALTER TABLE R ADD FROM A TO C"


@pytest.mark.parametrize(
    "steps",
    [
        [DROP, ADD_PAIR],
        ["BEGIN TRANSACTION", DROP, ADD_PAIR, "COMMIT"],
        [DROP, "CHECKPOINT", ADD_PAIR],
        [DROP, "ALTER TABLE R RENAME TO Q", "ALTER TABLE Q ADD FROM A TO C"],
        ["ALTER TABLE R DROP v", "ALTER TABLE R ADD x INT64", ADD_PAIR],
    ],
    ids=["autocommit", "one-transaction", "checkpoint-between", "renamed-between", "drop-last-add"],
)
def test_fact_property_drop_then_add_from_in_one_session_segfaults(steps: list[str]) -> None:
    done = _python(_RAW, ":memory:", json.dumps(steps))
    assert done.returncode == SEGV, (done.returncode, done.stdout, done.stderr[-500:])
    assert done.stdout.splitlines()[-1].endswith("ADD FROM A TO C")  # dies on the pair


@pytest.mark.parametrize(
    ("steps", "on_disk"),
    [
        ([ADD_PAIR, DROP], False),  # the pair first: what plan_diff sends
        (["ALTER TABLE R DROP v", ADD_PAIR], False),  # the last property: no crash
        ([DROP, "REOPEN", ADD_PAIR], True),  # a new session: what the adapter does
    ],
    ids=["pair-first", "drop-last-only", "reopen-between"],
)
def test_fact_the_ways_around_it_survive(steps: list[str], on_disk: bool, tmp_path: Path) -> None:
    path = str(tmp_path / "db") if on_disk else ":memory:"
    done = _python(_RAW, path, json.dumps(steps))
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-500:])
    assert done.stdout.splitlines()[-1] == "survived"


# -- the rule (pure) ----------------------------------------------------------


def test_parse_alter_shapes() -> None:
    assert parse_alter("ALTER TABLE `R` DROP `w`") == ("drop_property", "R", None)
    assert parse_alter("alter table r drop if exists w") == ("drop_property", "r", None)
    assert parse_alter("ALTER TABLE `a``b` DROP `x y`") == ("drop_property", "a``b", None)
    assert parse_alter("ALTER TABLE R DROP FROM A TO B") is None
    # comments do not count (a trailing one once made every table tainted)
    assert parse_alter("ALTER TABLE R DROP IF EXISTS w /* c */") == ("drop_property", "R", None)
    assert parse_alter("ALTER /* c */ TABLE R // x\n DROP w") == ("drop_property", "R", None)
    assert parse_alter("ALTER TABLE `R//x` DROP w") == ("drop_property", "R//x", None)
    assert parse_alter("ALTER TABLE R DROP w /* never closed") == ("unknown_drop", "R", None)
    assert parse_alter("ALTER TABLE R ADD FROM A TO B") == ("add_connection", "R", None)
    assert parse_alter("ALTER TABLE R ADD IF NOT EXISTS FROM A TO B")[0] == "add_connection"  # type: ignore[index]
    assert parse_alter("ALTER TABLE R ADD w INT64") is None
    assert parse_alter("ALTER TABLE `R` RENAME TO `Q`") == ("rename_table", "R", "Q")
    assert parse_alter("ALTER TABLE R RENAME w TO z") is None
    assert parse_alter("DROP TABLE `R`") == ("drop_table", "R", None)
    assert parse_alter("ALTER TABLE R DROP w x")[0] == "unknown_drop"  # type: ignore[index]
    assert parse_alter("MATCH (a) RETURN a") is None


_SHORTCUT_PIECES = [
    "ALTER", "alter", "Alter", "DROP", "drop", "TABLE", "table", "R", "`R`", "w", "ADD",
    "FROM", "TO", "RENAME", "IF", "EXISTS", "MATCH", "MERGE", "CREATE", "ALTERED", "DROPS",
    "_ALTER", "1", "é", "ſ", "/* c */", "/*", "*/", "// c\n", " ", "  ", "\t", "\n",
    "\u00a0", "\x1c", "'x'", ";", "(", ")",
]  # fmt: skip


def test_parse_alter_shortcut_agrees_with_the_full_parse() -> None:
    """A statement opening with another word than ALTER/DROP is ruled out before it is
    tokenized (the record's MERGE holds the whole state); the answer must not change."""
    import random

    from schemalog.kuzu.hazards import _parse_shapes

    corpus = [
        text
        for path in sorted((Path(__file__).parent / "ddl_corpus").glob("*.cypher"))
        for text in path.read_text(encoding="utf-8").split(";")
    ]
    rng = random.Random(20)
    corpus += [
        "".join(rng.choice(_SHORTCUT_PIECES) for _ in range(rng.randint(1, 9))) for _ in range(5000)
    ]
    corpus += [
        "ALTER TABLE R DROP w x",
        "ALTER TABLE R DROP w /* never closed",
        "/* c */ ALTER TABLE R DROP w",
        "// c\nDROP TABLE R",
        "\u00a0ALTER TABLE R DROP w",
        "ALTERTABLE R DROP w",
        "DROPTABLE R",
    ]
    corpus += [" " + s for s in corpus[:200]] + ["\n\t" + s.lower() for s in corpus[:200]]
    seen = set()
    for statement in corpus:
        found = parse_alter(statement)
        assert found == _parse_shapes(statement), statement
        seen.add(None if found is None else found[0])
    # the corpus reaches every answer, so a shortcut that hid one would show
    assert seen == {None, "drop_property", "add_connection", "rename_table", "drop_table",
                    "unknown_drop"}  # fmt: skip


def test_parse_alter_does_not_tokenize_the_record_statement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import schemalog.kuzu.hazards as hazards
    from schemalog.kuzu.record import record_statements

    def refuse(text: str) -> object:
        raise AssertionError(f"tokenized {text[:40]!r}")

    monkeypatch.setattr(hazards, "tokenize", refuse)
    merge = record_statements(3, None, empty_state(), create=False)[-1]
    assert merge.startswith("MERGE ")
    assert parse_alter(merge + " // ALTER TABLE R DROP w") is None
    assert hazards.SessionHazards().first_crash([merge + " /* c */"]) is None
    with pytest.raises(AssertionError, match="tokenized"):  # the patch is in effect
        parse_alter("ALTER TABLE R DROP w /* c */")


def test_session_hazards_follow_drops_renames_and_reopens() -> None:
    h = SessionHazards()
    assert h.first_crash(["ALTER TABLE R ADD FROM A TO C"]) is None
    crash = h.first_crash(["ALTER TABLE R DROP w", "ALTER TABLE r ADD FROM A TO C"])
    assert crash is not None and crash.index == 1 and crash.within
    h.sent(["ALTER TABLE `R` DROP `w`"])
    assert h.tainted == {"r"}
    crash = h.first_crash(["CREATE NODE TABLE X(id INT64, PRIMARY KEY(id))", ADD_PAIR])
    assert crash is not None and crash.index == 1 and not crash.within
    h.sent(["ALTER TABLE R RENAME TO Q"])  # the taint follows the table
    assert h.first_crash([ADD_PAIR]) is None
    assert h.first_crash(["ALTER TABLE Q ADD FROM A TO C"]) is not None
    h.sent(["DROP TABLE Q"])  # gone: a new Q is a new table
    assert h.first_crash(["ALTER TABLE Q ADD FROM A TO C"]) is None
    h.sent(["ALTER TABLE S DROP something odd"])  # not attributable: every table
    assert h.tainted == {ANY_TABLE}
    assert h.first_crash(["ALTER TABLE T ADD FROM A TO C"]) is not None
    h.reset()
    assert h.first_crash(["ALTER TABLE T ADD FROM A TO C"]) is None


# -- the plan ---------------------------------------------------------------


def _issue_history() -> tuple[list[Event], list[SchemaState]]:
    clock = HybridLogicalClock("o1", lambda: 1_700_000_000_000)
    events: list[Event] = []
    states = [empty_state()]

    def add(change: object) -> Event:
        ev = new_event(clock, "ws", [events[-1].id] if events else [], change)  # type: ignore[arg-type]
        result = apply(states[-1], ev)
        assert isinstance(result, Applied), result
        states.append(result.state)
        events.append(ev)
        return ev

    a, b, c = (add(build_node_table(n, [("id", "INT64")], "id")) for n in "ABC")
    r = add(build_rel_table("R", [(a.id, b.id)], [("w", "INT64"), ("v", "INT64")]))
    w = states[-1].tables[r.id].properties[0]
    assert w.name == "w"
    add(DropProperty(r.id, w.property_id))
    add(AddConnection(r.id, Connection(a.id, c.id)))
    return events, states


def test_a_plan_adds_the_pair_before_it_drops_the_property() -> None:
    _events, states = _issue_history()
    plan = ddl_for_diff(states[4], states[6], allow_destructive=True)
    assert plan.statements == [
        "ALTER TABLE `R` ADD FROM `A` TO `C`",
        "ALTER TABLE `R` DROP `w`",
    ]
    check_steps(model_of_state(states[4]), plan.steps)
    assert SessionHazards().first_crash(plan.statements) is None


def _write(path: Path, events: list[Event]) -> None:
    prev, lines = None, []
    for ev in events:
        line = encode_record(ev, prev)
        prev = json.loads(line)["checksum"]
        lines.append(line + b"\n")
    path.write_bytes(b"".join(lines))


def test_the_issue_repro_applies_in_a_subprocess(tmp_path: Path) -> None:
    """The issue's steps through `schemalog apply`: it used to die with exit 139 every time."""
    events, _ = _issue_history()
    log, db = tmp_path / "log.ndjson", str(tmp_path / "db")
    _write(log, events[:4])
    cli = [sys.executable, "-m", "schemalog", "apply", str(log), "--db", db]
    first = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    _write(log, events)
    cli.append("--allow-destructive")
    again = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, (again.returncode, again.stdout, again.stderr)
    assert main(["drift", str(log), "--db", db]) == 0


# -- the adapter: a new session, or a refusal --------------------------------

_ADAPTER = """
    import sys
    from schemalog.kuzu.native import NativeKuzuBackend
    from schemalog.kuzu.port import KnownCrash
    path = None if sys.argv[1] == "memory" else sys.argv[1]
    b = NativeKuzuBackend(path)
    b.execute([f"CREATE NODE TABLE {t}(id INT64, PRIMARY KEY(id))" for t in "ABC"]
              + ["CREATE REL TABLE R(FROM A TO B, w INT64, v INT64)",
                 "CREATE (:A {id: 1})", "CREATE (:B {id: 1})",
                 "MATCH (a:A), (b:B) CREATE (a)-[:R {w: 1, v: 2}]->(b)"])
    b.execute(["ALTER TABLE R DROP w"])
    try:
        b.execute(["ALTER TABLE R ADD FROM A TO C"])
        print("added", b.sessions)
    except KnownCrash as e:
        print("refused", e.index, e.statement)
    try:
        b.execute(["ALTER TABLE R DROP v", "ALTER TABLE R ADD FROM B TO C"])
        print("added both")
    except KnownCrash as e:
        print("refused", e.index, e.statement)
    pairs = b.query("CALL show_connection('R') RETURN *")
    rows = b.query("MATCH ()-[r:R]->() RETURN r.v AS v")
    print(len(pairs), [r["v"] for r in rows])
    b.close()
"""


def test_an_on_disk_database_is_reopened_before_the_crashing_statement(tmp_path: Path) -> None:
    done = _python(_ADAPTER, str(tmp_path / "db"))
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-800:])
    assert done.stdout.splitlines() == [
        "added 2",  # a second session
        "refused 1 ALTER TABLE R ADD FROM B TO C",  # the batch itself would crash
        "2 [2]",  # the pair added, the row and its other property kept
    ]


def test_an_in_memory_database_refuses_and_sends_nothing() -> None:
    done = _python(_ADAPTER, "memory")
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-800:])
    assert done.stdout.splitlines() == [
        "refused 0 ALTER TABLE R ADD FROM A TO C",
        "refused 1 ALTER TABLE R ADD FROM B TO C",
        "1 [2]",  # nothing of either batch was sent
    ]


# -- differential: random rel-table histories, step by step and compacted -----

SEEDS = range(1, 21)  # 8 of them need a new session step by step


def test_rel_table_histories_apply_step_by_step_and_compacted(tmp_path: Path) -> None:
    runner = os.path.join(HERE, "apply_runner.py")
    done = subprocess.run(
        [sys.executable, runner, str(tmp_path), *map(str, SEEDS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    plans = [line for line in lines if "plan" in line]
    if done.returncode != 0:
        last = plans[-1] if plans else None
        pytest.fail(
            f"the runner died (exit {done.returncode}) applying {last}\n"
            f"(seed {last and last['seed']}: rel_histories.rel_history(seed)); stderr:\n"
            f"{done.stderr[-1500:]}"
        )
    fails = [line for line in lines if "fail" in line]
    assert not fails, fails
    finished = [line for line in lines if line.get("done")]
    assert [f["seed"] for f in finished] == list(SEEDS)
    # the histories reach the hazard: some step-by-step runs needed a new session,
    # and some compacted plans both add a pair to and drop a property of one table
    assert any(f["sessions"] > 1 for f in finished)
    both = [
        p
        for p in plans
        if p["mode"] == "compacted"
        and any(" ADD FROM " in s for s in p["plan"])
        and any(" DROP `" in s and " FROM " not in s for s in p["plan"])
    ]
    assert both
