"""`schemalog synth`, `verify` and `log` through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemalog.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "log.ndjson"
    code, out, _ = run(capsys, "synth", str(path), "--events", "200", "--origins", "2", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["events"] == 200 and summary["path"] == str(path)
    return path


def test_synth_text_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.ndjson"
    code, out, _ = run(capsys, "synth", str(path), "--events", "50", "--seed", "3")
    assert code == 0 and "wrote 50 events" in out
    code, _, err = run(capsys, "synth", str(path), "--events", "50")
    assert code == 2 and "exists" in err and "Traceback" not in err
    code, _, _ = run(capsys, "synth", str(path), "--events", "50", "--force")
    assert code == 0
    code, _, err = run(capsys, "synth", str(path), "--events", "-1", "--force")
    assert code == 2
    with pytest.raises(SystemExit) as info:
        main(["synth", str(path)])  # --events missing: argparse usage error
    assert info.value.code == 2


def test_verify_ok_and_bad(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", str(log))
    assert code == 0 and "ok, 200 records" in out
    code, out, _ = run(capsys, "verify", str(log), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    lines = log.read_bytes().split(b"\n")
    lines[41] = lines[41].replace(b'"format":1', b'"format":1 ')
    log.write_bytes(b"\n".join(lines))
    code, _, err = run(capsys, "verify", str(log))
    assert code == 1 and f"{log}:42:" in err and "record 41" in err
    code, out, _ = run(capsys, "verify", str(log), "--json")
    report = json.loads(out)
    assert code == 1 and report["problem"]["line_number"] == 42
    assert report["problem"]["event_id"] and report["records"] == 41
    code, _, err = run(capsys, "verify", str(log.parent / "missing.ndjson"))
    assert code == 2 and "missing.ndjson" in err and "Traceback" not in err


def test_log_pages(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "log", str(log), "--limit", "7", "--json")
    page = json.loads(out)
    assert code == 0 and [r["position"] for r in page["records"]] == list(range(7))
    assert page["total"] == 200
    seen = 7
    cursor = page["cursor"]
    while True:
        code, out, _ = run(capsys, "log", str(log), "--after", cursor, "--limit", "50", "--json")
        page = json.loads(out)
        if not page["records"]:
            break
        assert page["records"][0]["position"] == seen
        seen += len(page["records"])
        cursor = page["cursor"]
    assert seen == 200
    code, out, _ = run(capsys, "log", str(log), "--limit", "3")
    assert code == 0 and "next cursor: c1.3." in out
    code, _, err = run(capsys, "log", str(log), "--after", "c1.999.0123456789abcdef")
    assert code == 2 and "bad cursor" in err
    code, _, err = run(capsys, "log", str(log), "--limit", "0")
    assert code == 2


def test_log_reports_corrupt_record(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = log.read_bytes().split(b"\n")
    lines[2] = b"garbage"
    log.write_bytes(b"\n".join(lines))
    code, _, err = run(capsys, "log", str(log), "--limit", "10")
    # every reader runs verify's reader first: a log that does not verify is a finding
    assert code == 1 and f"{log}:3:" in err


def test_python_m_schemalog(tmp_path: Path) -> None:
    path = tmp_path / "p.ndjson"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "pkg")}
    made = subprocess.run(
        [sys.executable, "-m", "schemalog", "synth", str(path), "--events", "30", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert made.stderr == ""  # no progress when not a terminal
    checked = subprocess.run(
        [sys.executable, "-m", "schemalog", "verify", str(path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert checked.returncode == 0 and json.loads(checked.stdout)["records"] == 30
