"""One verdict from apply and drift; a repair that keeps what matches and counts what it deletes.

The issue's cases: the apply record deleted (apply said "changed behind the
log's back" and suggested --repair, drift said "no drift", and the repair
dropped and re-created every table, data and all), ``position = NULL`` (a
TypeError traceback), and the other ways a record can be unreadable.
"""

from __future__ import annotations

import base64
import json
import shutil
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

import schemalog.kuzu.record as record_module
from ddl_helpers import assert_matches, fresh
from schemalog.cli import main
from schemalog.kuzu.apply import (
    BOOKKEEPING_TABLE,
    RECORD_FORMAT,
    RecordCorrupt,
    RecordMissing,
    apply_log,
    read_record,
)
from schemalog.kuzu.cypher import string_literal
from schemalog.kuzu.native import NativeKuzuBackend
from schemalog.model.state_json import state_to_obj
from schemalog.synth.generator import write_log
from test_cli_apply import _write_log
from test_drift import _log

pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu

T = f"`{BOOKKEEPING_TABLE}`"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log applied to a database, with one Person and one City: made once, copied."""
    where = tmp_path_factory.mktemp("template")
    log, db = where / "log.ndjson", str(where / "db")
    _write_log(log)
    assert main(["apply", str(log), "--db", db]) == 0
    with NativeKuzuBackend(db) as b:
        b.execute(["CREATE (:Person {id: 1, name: 'Ada', age: 36})", "CREATE (:City {id: 7})"])
    return where


@pytest.fixture
def applied_db(template_db: Path, tmp_path: Path) -> tuple[Path, str]:
    for f in template_db.iterdir():
        shutil.copyfile(f, tmp_path / f.name)
    return tmp_path / "log.ndjson", str(tmp_path / "db")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _tamper(db: str, *statements: str) -> None:
    with NativeKuzuBackend(db) as b:
        b.execute(list(statements))


# -- a missing or corrupt record: both commands say so, exit 2, name the field --


@pytest.mark.parametrize(
    ("tamper", "kind", "field"),
    [
        ([f"MATCH (a:{T}) DELETE a"], "record-missing", f"{BOOKKEEPING_TABLE}.key"),
        ([f"DROP TABLE {T}"], "record-missing", BOOKKEEPING_TABLE),
        ([f"MATCH (a:{T}) SET a.position = NULL"], "record-corrupt", "position"),
        ([f"MATCH (a:{T}) SET a.position = -3"], "record-corrupt", "position"),
        ([f"MATCH (a:{T}) SET a.format = 9"], "record-corrupt", "format"),
        ([f"MATCH (a:{T}) SET a.format = NULL"], "record-corrupt", "format"),
        ([f"MATCH (a:{T}) SET a.state = '{{'"], "record-corrupt", "state"),
        ([f"MATCH (a:{T}) SET a.state = NULL"], "record-corrupt", "state"),
        ([f"MATCH (a:{T}) SET a.state_hash = 'sha256-v1:00'"], "record-corrupt", "state"),
        ([f"MATCH (a:{T}) SET a.state_hash = NULL"], "record-corrupt", "state_hash"),
        ([f"MATCH (a:{T}) SET a.head_checksum = ''"], "record-corrupt", "head_checksum"),
        (
            [
                f"MATCH (a:{T}) CREATE (:{T} {{key: 'other', format: a.format, "
                "position: a.position, state_hash: a.state_hash, state: a.state})",
                f"MATCH (a:{T}) WHERE a.key = 'applied' DELETE a",
            ],
            "record-corrupt",
            "key",
        ),
        ([f"CREATE (:{T} {{key: 'second'}})"], "record-corrupt", "key"),
        ([f"ALTER TABLE {T} DROP state"], "record-corrupt", "state"),
        (
            [f"ALTER TABLE {T} DROP position", f"ALTER TABLE {T} ADD position STRING"],
            "record-corrupt",
            "position",
        ),
    ],
)
def test_apply_and_drift_give_one_verdict_on_a_bad_record(
    applied_db: tuple[Path, str],
    capsys: pytest.CaptureFixture[str],
    tamper: list[str],
    kind: str,
    field: str,
) -> None:
    log, db = applied_db
    _tamper(db, *tamper)
    expected = RecordMissing if kind == "record-missing" else RecordCorrupt
    with NativeKuzuBackend(db) as b, pytest.raises(expected) as info:
        read_record(b)
    assert info.value.field.endswith(field)
    never = info.value.field == BOOKKEEPING_TABLE  # no record table at all
    for command in ("apply", "drift"):
        code, out, err = _run(capsys, command, str(log), "--db", db)
        if never and command == "drift":
            # never applied to (as a hand-made database): compared with the head, the
            # missing record named; apply refuses it until --repair
            assert code == 0 and str(info.value) in err and "Traceback" not in err
            code, out, err = _run(capsys, command, str(log), "--db", db, "--json")
            assert code == 0 and json.loads(out)["record"]["status"] == kind
            continue
        assert code == 2, (command, out, err)
        assert "Traceback" not in err and "TypeError" not in err
        assert field in err and str(info.value) in err
        code, out, err = _run(capsys, command, str(log), "--db", db, "--json")
        assert code == 2
        obj = json.loads(out)
        assert obj["status"] == kind and obj["field"] == info.value.field
    # nothing was written by either command
    with NativeKuzuBackend(db) as b, pytest.raises(expected):
        read_record(b)


# -- the record's two formats: 1 (the state as JSON) read, 2 (zlib + base64) written --


def _state_text(db: str) -> tuple[int, str]:
    with NativeKuzuBackend(db) as b:
        row = b.query(f"MATCH (a:{T}) RETURN a.format AS f, a.state AS s")[0]
    return row["f"], row["s"]


def _packed(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_a_format_1_record_still_reads_and_the_next_apply_writes_format_2(
    applied_db: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    log, db = applied_db
    fmt, text = _state_text(db)
    assert fmt == RECORD_FORMAT == 2
    with NativeKuzuBackend(db) as b:
        record = read_record(b)
    assert record is not None
    plain = json.dumps(state_to_obj(record.state), sort_keys=True, separators=(",", ":"))
    assert json.loads(zlib.decompress(base64.b64decode(text))) == json.loads(plain)
    assert len(text) < len(plain)  # what the format is for
    _tamper(db, f"MATCH (a:{T}) SET a.format = 1, a.state = {string_literal(plain)}")
    with NativeKuzuBackend(db) as b:
        again = read_record(b)
    assert again == record
    code, _out, err = _run(capsys, "drift", str(log), "--db", db)
    assert code == 0, err
    assert _run(capsys, "apply", str(log), "--db", db)[0] == 0
    assert _state_text(db)[0] == 1  # up to date: nothing rewritten
    with NativeKuzuBackend(db) as b:
        apply_log(b, SimpleNamespace(state=record.state, position=record.position + 1, head="x"))
    assert _state_text(db)[0] == 2


_JSON = b'{"format":1,"tables":[]}'


@pytest.mark.parametrize(
    ("fmt", "text", "reason"),
    [
        (2, "not base64!", "not base64"),
        (2, "QUJD", "incorrect header check"),  # base64 of b"ABC": not zlib
        (2, _packed(zlib.compress(_JSON)[:-3]), "not one whole zlib stream"),
        (2, _packed(zlib.compress(_JSON) + b"tail"), "not one whole zlib stream"),
        (2, _packed(zlib.compress(b"{not json")), "cannot be read"),
        (2, _packed(zlib.compress(b"[]" + b" " * 5000)), "inflates past"),
        (2, _JSON.decode(), "not base64"),  # format 2 holding format 1's text
        (1, _packed(zlib.compress(_JSON)), "cannot be read"),  # and the other way round
    ],
)
def test_a_bad_format_2_state_is_corrupt_naming_the_field(
    applied_db: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
    fmt: int,
    text: str,
    reason: str,
) -> None:
    monkeypatch.setattr(record_module, "_MAX_STATE_BYTES", 4096)
    _, db = applied_db
    _tamper(db, f"MATCH (a:{T}) SET a.format = {fmt}, a.state = {string_literal(text)}")
    with NativeKuzuBackend(db) as b, pytest.raises(RecordCorrupt) as info:
        read_record(b)
    assert info.value.field == f"{BOOKKEEPING_TABLE}.state"
    assert reason in str(info.value)


# -- the repair keeps what matches ----------------------------------------------


def _rows(db: str) -> tuple[int, int]:
    with NativeKuzuBackend(db) as b:
        people = b.query("MATCH (p:Person) RETURN p.name AS name")
        cities = b.query("MATCH (c:City) RETURN count(c) AS n")
    assert [r["name"] for r in people] == ["Ada"]
    return len(people), cities[0]["n"]


@pytest.mark.parametrize(
    "tamper",
    [
        [f"MATCH (a:{T}) DELETE a"],
        [f"DROP TABLE {T}"],
        [f"MATCH (a:{T}) SET a.position = NULL"],
        [f"CREATE (:{T} {{key: 'second'}})"],
        [f"ALTER TABLE {T} DROP state"],
    ],
)
def test_repair_of_a_database_equal_to_the_head_only_writes_the_record(
    applied_db: tuple[Path, str], capsys: pytest.CaptureFixture[str], tamper: list[str]
) -> None:
    log, db = applied_db
    _tamper(db, *tamper)
    code, out, err = _run(capsys, "apply", str(log), "--db", db, "--repair", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "applied"
    assert result["statements"] == [] and result["losses"] == []
    assert _rows(db) == (1, 1)  # the rows are still there
    assert _run(capsys, "drift", str(log), "--db", db)[0] == 0
    code, out, _ = _run(capsys, "apply", str(log), "--db", db, "--json")
    assert code == 0 and json.loads(out)["status"] == "up-to-date"


def test_repair_drops_only_what_differs_counts_rows_and_needs_a_flag_for_a_full_table(
    applied_db: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    log, db = applied_db
    # City's key changed type behind our back (a recreate); Person gained a column
    _tamper(
        db,
        f"MATCH (a:{T}) DELETE a",
        "DROP TABLE LivesIn",
        "DROP TABLE City",
        "CREATE NODE TABLE City(id STRING, pop INT64 DEFAULT 7, PRIMARY KEY(id))",
        "CREATE (:City {id: 'a'})",
        "CREATE (:City {id: 'b'})",
        "CREATE REL TABLE LivesIn(FROM Person TO City, since DATE, MANY_ONE)",
        "ALTER TABLE Person ADD nick STRING",
        "MATCH (p:Person) SET p.nick = 'A'",
    )
    argv = ["apply", str(log), "--db", db, "--repair", "--json"]
    code, out, _ = _run(capsys, *argv)
    held = json.loads(out)
    assert code == 1 and held["status"] == "withheld"
    assert held["destructive"] == [] and sorted(held["withheld"]) == sorted(
        ["DROP TABLE `LivesIn`", "DROP TABLE `City`", "ALTER TABLE `Person` DROP `nick`"]
    )
    lost = {(x["table"], x["what"]): x["rows"] for x in held["losses"]}
    assert lost == {
        ("LivesIn", "relationships"): 0,
        ("City", "rows"): 2,
        ("Person", "values of 'nick'"): 1,
    }
    code, out, _ = _run(capsys, *argv, "--allow-destructive")
    held = json.loads(out)
    assert code == 1 and held["status"] == "withheld"  # City holds rows: its own flag
    assert [(x["table"], x["rows"]) for x in held["blocked"]] == [("City", 2)]
    with NativeKuzuBackend(db) as b, pytest.raises(RecordMissing):
        read_record(b)  # nothing sent
    code, out, err = _run(capsys, "apply", str(log), "--db", db, "--repair", "--allow-destructive")
    assert code == 1 and "--allow-drop-nonempty" in err and "deletes 2 rows of 'City'" in err
    code, out, _ = _run(capsys, *argv, "--allow-destructive", "--allow-drop-nonempty")
    done = json.loads(out)
    assert code == 0 and done["status"] == "applied"
    # Person was kept (only its extra column went): its row is still there
    assert "DROP TABLE `Person`" not in done["statements"]
    with NativeKuzuBackend(db) as b:
        assert [r["name"] for r in b.query("MATCH (p:Person) RETURN p.name AS name")] == ["Ada"]
        assert b.query("MATCH (c:City) RETURN count(c) AS n")[0]["n"] == 0
    assert _run(capsys, "drift", str(log), "--db", db)[0] == 0


def test_drift_shows_the_plan_apply_would_send(
    applied_db: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    log, db = applied_db
    _tamper(db, "ALTER TABLE City RENAME TO Town", "ALTER TABLE Person ADD nick STRING")
    code, out, _ = _run(capsys, "drift", str(log), "--db", db, "--json", "--allow-destructive")
    report = json.loads(out)
    assert code == 1 and not report["changed"]["clean"]
    code, out, _ = _run(
        capsys, "apply", str(log), "--db", db, "--repair", "--allow-destructive", "--dry-run",
        "--json",
    )  # fmt: skip
    assert code == 0
    assert report["repair"]["statements"] == json.loads(out)["statements"]
    assert report["losses"] == json.loads(out)["losses"]


def test_a_large_database_with_its_record_deleted_is_adopted_without_ddl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's 5,000-event case, scaled to the suite: the repair used to drop and
    re-create every table whose catalog matched the head exactly."""
    log, db = tmp_path / "big.ndjson", str(tmp_path / "db")
    summary = write_log(log, 600, seed=3, max_node_tables=12, max_rel_tables=12)
    assert summary is not None
    assert main(["apply", str(log), "--db", db, "--allow-destructive"]) == 0
    capsys.readouterr()
    with NativeKuzuBackend(db) as b:
        tables = len(b.catalog().table_names) - 1
        b.execute([f"MATCH (a:{T}) DELETE a"])
    assert tables >= 12
    code, out, _ = _run(capsys, "apply", str(log), "--db", db, "--repair", "--json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "applied"
    assert result["statements"] == [] and len(result["repaired"]["differences"]) == 0
    assert _run(capsys, "drift", str(log), "--db", db)[0] == 0


def test_record_is_none_only_for_a_database_without_tables() -> None:
    _, state = _log()
    backend = fresh()
    try:
        assert read_record(backend) is None
        apply_log(backend, state, position=5)
        backend.execute([f"MATCH (a:{T}) DELETE a"])
        with pytest.raises(RecordMissing):
            apply_log(backend, state, position=5)
        result = apply_log(backend, state, position=5, repair=True)
        assert result.status == "applied" and result.statements == ()
        assert result.bookkeeping and result.bookkeeping[0].startswith("DROP TABLE")
        assert read_record(backend) is not None
        assert_matches(backend, state)
    finally:
        backend.close()
