"""`schemalog apply / drift / schema` end to end on an NDJSON log and an on-disk database."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from schemalog.cli import main
from schemalog.encoding.codec import encode_record
from schemalog.kuzu.native import NativeKuzuBackend
from test_drift import _log

pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu


def _write_log(path: Path, upto: int | None = None) -> None:
    events, _ = _log()
    prev = None
    lines = []
    for ev in events[:upto]:
        line = encode_record(ev, prev)
        prev = json.loads(line)["checksum"]
        lines.append(line)
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_apply_dry_run_then_apply_then_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, db = tmp_path / "log.ndjson", str(tmp_path / "db")
    _write_log(log, 3)
    assert main(["apply", str(log), "--db", db, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("CREATE NODE TABLE `Person`")
    assert main(["apply", str(log), "--db", db, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "applied" and len(result["statements"]) == 3
    _write_log(log)  # two more events
    assert main(["drift", str(log), "--db", db]) == 1  # behind the log: drift until applied
    captured = capsys.readouterr()
    assert "ALTER TABLE `Person` ADD `age` INT32 DEFAULT -(1);" in captured.out
    assert main(["apply", str(log), "--db", db]) == 0
    assert capsys.readouterr().out.count(";") == 2
    assert main(["drift", str(log), "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clean"] is True
    assert main(["apply", str(log), "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "up-to-date"

    backend = NativeKuzuBackend(db)
    backend.execute(
        ["ALTER TABLE City RENAME TO Town", "CREATE NODE TABLE X(id INT64, PRIMARY KEY(id))"]
    )
    backend.close()
    assert main(["drift", str(log), "--db", db, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    kinds = sorted(d["kind"] for d in report["differences"])
    assert kinds == ["extra-table", "renamed-table"]
    assert report["repair"]["statements"] == ["ALTER TABLE `Town` RENAME TO `City`"]
    assert report["repair"]["withheld"][0]["statement"] == "DROP TABLE `X`"
    assert main(["apply", str(log), "--db", db]) == 1  # refuses: drift
    assert "behind the log's back" in capsys.readouterr().err
    assert main(["apply", str(log), "--db", db, "--repair"]) == 1  # withheld: drop X
    assert main(["apply", str(log), "--db", db, "--repair", "--allow-destructive"]) == 0
    capsys.readouterr()
    assert main(["drift", str(log), "--db", db]) == 0


def test_schema_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.ndjson"
    _write_log(log)
    assert main(["schema", str(log)]) == 0
    out = capsys.readouterr().out
    assert "CREATE REL TABLE `LivesIn`(FROM `Person` TO `City`, `since` DATE, MANY_ONE);" in out
    assert main(["schema", str(log), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["position"] == 5 and len(obj["state"]["tables"]) == 3


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", str(tmp_path / "missing.ndjson")]) == 2
    log = tmp_path / "log.ndjson"
    _write_log(log)
    assert main(["drift", str(log), "--db", os.fspath(tmp_path / "nodb")]) == 2
    log.write_bytes(log.read_bytes().replace(b"Person", b"PersoX", 1))
    assert main(["apply", str(log), "--db", os.fspath(tmp_path / "db")]) == 1  # verify's finding
    err = capsys.readouterr().err
    assert "Traceback" not in err
