"""`schemalog replay`: exit codes, JSON, snapshots, trace file, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemalog.cli import main
from schemalog.synth.generator import write_log


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "log.ndjson"
    write_log(path, 150, origins=2, seed=11)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_clean_log_exits_0_with_json(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(log), "--json", "--chunk-bytes", "16k")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["applied"] == 150 and report["chunks"] > 1
    code, out, _ = run(capsys, str(log))
    assert code == 0 and "150 applied" in out and report["state_hash"] in out


def test_corrupt_record_stop_and_skip(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = log.read_bytes().split(b"\n")
    at = lines[20].index(b'"workspace"') + 14
    lines[20] = lines[20][:at] + b"X" + lines[20][at + 1 :]
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b"\n".join(lines))
    code, _, err = run(capsys, str(bad))
    # the strict reader refuses the log before the replay, naming the record
    assert code == 1 and "NOT intact after 20 good records" in err and "record 20" in err
    code, out, _ = run(capsys, str(bad), "--on-corrupt", "skip", "--json")
    report = json.loads(out)
    assert code == 1 and report["skipped"][0]["position"] == 20
    assert report["position"] == 150 and report["stopped"] is None


def test_snapshots_and_trace(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEMALOG_SNAPSHOT_KEY", str(tmp_path / "snapshot.key"))  # not ~/.config
    snaps, trace = tmp_path / "snaps", tmp_path / "trace.json"
    code, out, _ = run(capsys, str(log), "--snapshots", str(snaps), "--json")
    assert code == 0 and (snaps / "snapshot-150.json").exists()
    code, out, err = run(
        capsys, str(log), "--snapshots", str(snaps), "--trace", str(trace), "--trace-memory"
    )
    assert code == 0 and "started from snapshot" in err and "0 applied" in out
    assert "traceEvents" in json.loads(trace.read_text())


def test_usage_errors_exit_2(log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "missing.ndjson"))
    assert code == 2 and "no such log" in err
    with pytest.raises(SystemExit) as info:
        main(["replay", str(log), "--chunk-bytes", "lots"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["replay", str(log), "--on-corrupt", "ignore"])
    assert info.value.code == 2
    code, _, err = run(capsys, str(log), "--trace-memory")
    assert code == 2 and "--trace" in err


def test_chunk_budget_below_a_record_is_a_finding(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, str(log), "--chunk-bytes", "64")
    assert code == 1 and "too-large" in err and "record 0" in err
