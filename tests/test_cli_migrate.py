"""`schemalog migrate` Kuzu -> LadybugDB, and `apply`/`drift --engine`, end to end.

The test process holds kuzu (conftest.py): every LadybugDB database here is
opened by the CLI through a child process, as a migration in one process does.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from schemalog.cli import main
from schemalog.encoding.codec import encode_record
from schemalog.kuzu.engines import detect_engine
from schemalog.kuzu.native import NativeKuzuBackend
from schemalog.kuzu.profile import KUZU, LADYBUG
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import SetSortedBy, SortKey, build_node_table, new_event
from schemalog.synth.generator import write_log

pytestmark = [
    pytest.mark.kuzu,
    pytest.mark.skipif(
        importlib.util.find_spec("ladybug") is None or importlib.util.find_spec("kuzu") is None,
        reason="needs both the 'kuzu' and the 'ladybug' extras (./build.sh setup installs them)",
    ),
]


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_a_10000_event_log_moves_from_kuzu_to_ladybug_without_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, old = str(tmp_path / "log.ndjson"), str(tmp_path / "old.kuzu")
    # 10,000 events; at most 40 node tables at a time (each costs ~5 MB resident per engine)
    summary = write_log(log, 10_000, 1, 11, max_node_tables=40, max_rel_tables=40)
    assert summary.events == 10_000
    assert main(["apply", log, "--db", old, "--json"]) == 0
    assert _json(capsys)["status"] == "applied"
    assert detect_engine(old) is KUZU

    # from the log (checked against OLD's record), and from OLD's record alone
    for new, extra in (("via-log.lbug", ["--log", log]), ("via-record.lbug", [])):
        path = str(tmp_path / new)
        assert main(["migrate", "--from-db", old, "--to-db", path, "--json", *extra]) == 0
        out = _json(capsys)
        assert out["status"] == "migrated", out
        assert out["source"] == ("log" if extra else "record")
        assert out["from"]["drift"]["clean"] and out["to"]["drift"]["clean"]
        assert out["position"] == 10_000 and out["statements"]
        assert detect_engine(path) is LADYBUG
        # drift, as a user runs it: the engine is read from each file
        assert main(["drift", log, "--db", path, "--json"]) == 0
        report = _json(capsys)
        assert report["clean"] and report["applied_position"] == 10_000
    assert main(["drift", log, "--db", old, "--json"]) == 0
    assert _json(capsys)["clean"]
    # the two LadybugDB databases hold the same catalog and record
    assert main(["apply", log, "--db", str(tmp_path / "via-record.lbug"), "--json"]) == 0
    assert _json(capsys)["status"] == "up-to-date"


def _hand_made_kuzu(path: str) -> None:
    with NativeKuzuBackend(path) as backend:
        backend.execute(
            [
                "CREATE NODE TABLE `Per son`(id INT64, name STRING DEFAULT 'it\\'s', "
                "score INT32 DEFAULT -(7), born DATE DEFAULT CAST('2001-02-03' AS DATE), "
                "ok BOOLEAN DEFAULT true, w DOUBLE DEFAULT 1.5, PRIMARY KEY(id))",
                "CREATE NODE TABLE City(code STRING, PRIMARY KEY(code))",
                "CREATE REL TABLE LivesIn(FROM `Per son` TO City, FROM City TO City, since DATE)",
                "COMMENT ON TABLE City IS 'places'",
            ]
        )


def test_a_database_without_record_becomes_a_new_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    _hand_made_kuzu(old)
    assert main(["migrate", "--from-db", old, "--to-db", new, "--json"]) == 0
    out = _json(capsys)
    assert out["status"] == "migrated" and out["source"] == "catalog", out
    assert out["assumed"] == ["rel table 'LivesIn': multiplicity not shown, MANY_MANY assumed"]
    log = out["new_log"]
    assert log == new + ".schemalog.ndjson"
    assert main(["verify", log]) == 0
    capsys.readouterr()
    with NdjsonStore.open(log, readonly=True) as store:
        assert len(list(store.event_ids())) == 4  # two node tables, one rel table, one comment
    for db in (old, new):
        assert main(["drift", log, "--db", db, "--json"]) == 0, db
        assert _json(capsys)["clean"]
    # a second migration of the same database refuses to overwrite that log
    assert (
        main(["migrate", "--from-db", old, "--to-db", str(tmp_path / "n2"), "--new-log", log]) == 2
    )
    assert "exists" in capsys.readouterr().err


def test_refusals_leave_nothing_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    log = str(tmp_path / "log.ndjson")
    write_log(log, 60, 1, 3, max_node_tables=5, max_rel_tables=5)
    assert main(["apply", log, "--db", old]) == 0
    capsys.readouterr()
    # a log that is not the one OLD applied
    other = str(tmp_path / "other.ndjson")
    write_log(other, 61, 1, 3, max_node_tables=5, max_rel_tables=5)
    assert main(["migrate", "--from-db", old, "--to-db", new, "--log", other]) == 2
    assert "apply the log to it first" in capsys.readouterr().err
    # OLD drifted from its record: refused before NEW exists
    with NativeKuzuBackend(old) as backend:
        backend.execute(["CREATE NODE TABLE Intruder(id INT64, PRIMARY KEY(id))"])
    assert main(["migrate", "--from-db", old, "--to-db", new]) == 1
    assert "Intruder" in capsys.readouterr().err
    assert not Path(new).exists()
    assert main(["migrate", "--from-db", old, "--to-db", old]) == 2
    # a default that is an expression, not a value, cannot become an event
    raw = str(tmp_path / "raw")
    with NativeKuzuBackend(raw) as backend:
        backend.execute(["CREATE NODE TABLE T(id INT64, x INT64 DEFAULT 1 + 2, PRIMARY KEY(id))"])
    assert main(["migrate", "--from-db", raw, "--to-db", new]) == 2
    assert "cannot record a baseline: T.x: default '1 + 2'" in capsys.readouterr().err
    assert not Path(new).exists()
    assert not Path(new + ".schemalog.ndjson").exists()


def _sorted_log(path: Path) -> None:
    clock = HybridLogicalClock("o1", lambda: 1_700_000_000_000)
    a = new_event(clock, "ws", [], build_node_table("A", [("id", "INT64"), ("n", "STRING")], "id"))
    b = new_event(clock, "ws", [a.id], SetSortedBy(a.id, (SortKey(a.id + "/p1", "DESC"),)))
    prev, lines = None, []
    for ev in (a, b):
        line = encode_record(ev, prev)
        prev = json.loads(line)["checksum"]
        lines.append(line + b"\n")
    path.write_bytes(b"".join(lines))


def test_apply_with_sorted_by_goes_to_ladybug_and_is_refused_by_kuzu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "sorted.ndjson"
    _sorted_log(log)
    kuzu_db, lbug_db = str(tmp_path / "k"), str(tmp_path / "l")
    assert main(["apply", str(log), "--db", kuzu_db, "--json"]) == 1  # default engine: kuzu
    out = _json(capsys)
    assert (out["status"], out["rule"]) == ("rejected", "set-sorted-by-unsupported")
    assert main(["apply", str(log), "--db", lbug_db, "--engine", "ladybug", "--json"]) == 0
    out = _json(capsys)
    assert out["statements"][-1] == "ALTER TABLE `A` SET SORTED BY (`n` DESC)"
    assert main(["drift", str(log), "--db", lbug_db]) == 0
    # the wrong engine for a file is a usage error that names both
    assert main(["drift", str(log), "--db", lbug_db, "--engine", "kuzu"]) == 2
    assert "a ladybug database" in capsys.readouterr().err
    # and the migration from LadybugDB back to Kuzu is refused with the rule
    assert (
        main(["migrate", "--from-db", lbug_db, "--to-db", kuzu_db + "2", "--to-engine", "kuzu"])
        == 1
    )
    assert "set-sorted-by-unsupported" in capsys.readouterr().err
