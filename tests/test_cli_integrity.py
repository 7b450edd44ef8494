"""Every reader accepts exactly what `verify` accepts; CLI errors behave alike.

Each test damages a log the way the issue describes and runs the real
commands (in-process ``main``, or a real process where a pipe or a FIFO is
the point) and checks that each one gives verify's finding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from schemalog.cli import main
from schemalog.encoding.codec import canonical_bytes, checksum, encode_record, event_bytes
from schemalog.history.known_ids import KnownIds, id_digest
from schemalog.log.store.verify import verify_bytes, verify_log
from schemalog.synth.generator import generate

PKG = str(Path(__file__).parents[1] / "pkg")
# the readers that take one LOG, with what else each needs
READERS: dict[str, list[str]] = {
    "verify": [],
    "replay": [],
    "log": ["--limit", "5"],
    "schema": [],
    "apply": ["--dry-run", "--db", "{tmp}/db"],
    "compat": ["--mode", "FULL"],
    "metrics": [],
    "merge": ["-o", "{tmp}/merged.ndjson"],
    "upgrade": ["-o", "{tmp}/up.ndjson"],
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def chain(events: list[Any]) -> list[bytes]:
    lines, prev = [], None
    for event in events:
        line = encode_record(event, prev)
        lines.append(line)
        prev = line[13:87].decode()
    return lines


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return chain(list(generate(60, origins=1, seed=5)))


def write(path: Path, lines: list[bytes], tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines) + tail)
    return path


def each_reader(capsys: Any, tmp_path: Path, log: Path, *extra: str) -> dict[str, tuple[int, str]]:
    out = {}
    for command, args in READERS.items():
        argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
        for leftover in ("merged.ndjson", "up.ndjson"):
            (tmp_path / leftover).unlink(missing_ok=True)
        code, stdout, err = run(capsys, command, str(log), *argv, *extra)
        assert "Traceback" not in err
        out[command] = (code, stdout + err)
    return out


# ---------------------------------------------------------------- one reader


def _relinked_dup(lines: list[bytes], i: int, obj: dict[str, Any]) -> list[bytes]:
    """Insert an event at i, chained so that only the causal rule can refuse it."""
    out = list(lines[:i])
    prev = out[-1][13:87].decode() if out else None
    from schemalog.encoding.codec import record_checksum

    data = canonical_bytes(obj)
    out.append(
        canonical_bytes({"checksum": record_checksum(prev, data), "event": obj, "prev": prev})
    )
    for line in lines[i:]:
        event = json.loads(line)["event"]
        d = canonical_bytes(event)
        prev = out[-1][13:87].decode()
        out.append(
            canonical_bytes({"checksum": record_checksum(prev, d), "event": event, "prev": prev})
        )
    return out


def test_unknown_parent_and_twice_stored_id_are_refused_by_every_reader(
    lines: list[bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = json.loads(lines[10])["event"]
    # a parent found in no earlier record (the chain itself is sound)
    orphan = {
        **base,
        "change": {"kind": "tag", "name": "orphan"},
        "id": "q@5.0",
        "origin": "q",
        "hlc": {"logical": 0, "wall_ms": 5},
        "parents": ["nowhere@1.0"],
    }
    log = write(tmp_path / "orphan.ndjson", _relinked_dup(lines, 20, orphan))
    results = each_reader(capsys, tmp_path, log)
    for command, (code, text) in results.items():
        assert code == 1, (command, text)
        assert "record 20" in text and "nowhere@1.0" in text and "no earlier record" in text
    # one id, two payloads: both positions named
    twin = {**json.loads(lines[5])["event"]}
    twin["change"] = {"kind": "tag", "name": "other payload"}
    log = write(tmp_path / "twin.ndjson", _relinked_dup(lines, 30, twin))
    report = verify_log(log)
    assert report.problem is not None and report.problem.position == 30
    assert "at record 5 and here" in report.problem.reason
    assert "another payload" in report.problem.reason
    for command, (code, text) in each_reader(capsys, tmp_path, log).items():
        assert code == 1 and "stored twice" in text, (command, text)


def test_torn_tail_is_a_finding_unless_allowed(
    lines: list[bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write(tmp_path / "torn.ndjson", lines, tail=lines[0][:40])
    for command, (code, text) in each_reader(capsys, tmp_path, log).items():
        assert code == 1 and "torn last line: 40 bytes" in text, (command, text)
    allowed = each_reader(capsys, tmp_path, log, "--allow-torn-tail")
    for command in ("verify", "replay", "log", "schema", "apply", "compat", "metrics"):
        code, text = allowed[command]
        ran = code == 0 or (command == "compat" and "breaking change" in text)  # its own finding
        assert ran and "40 bytes without a trailing newline ignored" in text, (command, text)


@pytest.mark.parametrize(
    "damage",
    ["crlf", "blank", "only_newline", "deep"],
)
def test_framing_merge_and_verify_agree(
    damage: str, lines: list[bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.ndjson"
    if damage == "crlf":
        path.write_bytes(b"".join(line + b"\r\n" for line in lines))
    elif damage == "blank":
        write(path, [*lines[:3], b"", *lines[3:]])
    elif damage == "only_newline":
        path.write_bytes(b"\n")
    else:
        write(path, [*lines[:3], b"[" * 1000 + b"]" * 1000, *lines[3:]])
    results = each_reader(capsys, tmp_path, path)
    codes = {command: code for command, (code, _) in results.items()}
    assert set(codes.values()) == {1}, results
    reason = verify_log(path).problem
    assert reason is not None
    for command, (_, text) in results.items():
        assert reason.reason in text, (command, text)
    assert not (tmp_path / "merged.ndjson").exists()


def test_paths_that_are_no_log_exit_2_naming_them(
    lines: list[bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a log")
    for command, (code, text) in each_reader(capsys, tmp_path, folder).items():
        assert code in (2,), (command, text)
        assert str(folder) in text
    code, _, err = run(capsys, "verify", "/etc")
    assert code == 2 and "not a log" in err
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder is an empty segment log (the store makes one so)
    assert run(capsys, "verify", str(empty))[0] == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.ndjson"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": PKG}
    for command in ("verify", "replay", "merge"):
        extra = ["-o", str(tmp_path / "m.ndjson")] if command == "merge" else []
        done = subprocess.run(
            [sys.executable, "-m", "schemalog", command, str(fifo), *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,  # reading the FIFO would block forever
            check=False,
        )
        assert done.returncode == 2 and "FIFO" in done.stderr and str(fifo) in done.stderr


def test_expect_head_on_every_reader(
    lines: list[bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write(tmp_path / "full.ndjson", lines)
    head = lines[-1][13:87].decode()
    code, out, _ = run(capsys, "verify", str(log))
    assert code == 0 and f"--expect-head 60:{head}" in out  # the anchor: count and head
    cut = write(tmp_path / "cut.ndjson", lines[:-5])
    for command, (code, text) in each_reader(capsys, tmp_path, cut, "--expect-head", head).items():
        assert code == 1 and "is in none of the 55 records" in text, (command, text)
    for command, (code, text) in each_reader(capsys, tmp_path, log, "--expect-head", head).items():
        assert code in (0, 1) and "is in none" not in text, (command, text)
    # a log that grew still holds the head
    assert verify_log(log, expected_head=lines[30][13:87].decode()).ok
    code, out, err = run(capsys, "replay", str(cut), "--on-corrupt", "skip", "--expect-head", head)
    assert code == 1 and "is in none of the 55 records" in err


# ---------------------------------------------------------------- CLI errors


def test_json_errors_are_one_object_on_stdout(
    lines: list[bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "replay", str(tmp_path / "missing.ndjson"), "--json")
    assert code == 2 and err == ""
    obj = json.loads(out)
    assert obj["ok"] is False and obj["exit"] == 2 and "no such log" in obj["error"]
    bad = write(tmp_path / "bad.ndjson", [lines[0], b"garbage"])
    code, out, err = run(capsys, "schema", str(bad), "--json")
    obj = json.loads(out)
    assert code == 1 and obj["ok"] is False and obj["problem"]["position"] == 1 and err == ""


def test_broken_pipe_ends_quietly(lines: list[bytes], tmp_path: Path) -> None:
    log = write(tmp_path / "log.ndjson", chain(list(generate(3000, origins=2, seed=1))))
    env = {**os.environ, "PYTHONPATH": PKG}
    proc = subprocess.Popen(
        [sys.executable, "-m", "schemalog", "log", str(log), "--limit", "3000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert err == "", err


def test_output_folders_are_never_created(
    lines: list[bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    log = write(tmp_path / "log.ndjson", lines)
    missing = tmp_path / "no" / "such"
    cases = [
        ("merge", str(log), "-o", str(missing / "m.ndjson")),
        ("synth", str(missing / "s.ndjson"), "--events", "5"),
        ("upgrade", str(log), "-o", str(missing / "u.ndjson")),
        ("replay", str(log), "--snapshots", str(missing / "snaps")),
        ("apply", str(log), "--db", str(missing / "db")),
    ]
    import schemalog.log.replay as replay_pkg

    called: list[int] = []
    monkeypatch.setattr(replay_pkg, "replay", lambda *a, **k: called.append(1))
    for argv in [*cases, ("replay", str(log), "--trace", str(missing / "t.json"))]:
        code, _, err = run(capsys, *argv)
        assert code == 2 and str(tmp_path / "no") in err, (argv, err)
        assert not (tmp_path / "no").exists(), argv
    assert called == []  # --trace to a missing folder is refused before the replay
    monkeypatch.undo()
    code, _, err = run(capsys, "apply", str(log), "--db", str(log))  # not a database
    assert code == 2 and "statement: None" not in err


# ---------------------------------------------------------------- upgrade


def v1_lines(events: list[Any]) -> list[bytes]:
    out, prev = [], None
    for event in events:
        sum_ = checksum(event_bytes(event))
        out.append(canonical_bytes({"checksum": sum_, "event": event.to_obj(), "prev": prev}))
        prev = sum_
    return out


def test_upgrade_rewrites_v1_as_v2_and_refuses_a_tampered_v1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = list(generate(80, origins=2, seed=2))
    old = write(tmp_path / "old.ndjson", v1_lines(events))
    code, _, err = run(capsys, "verify", str(old))
    assert code == 0 and "record format v1" in err and "not cumulative" in err
    code, _, _ = run(capsys, "upgrade", str(old), "-o", str(tmp_path / "new.ndjson"))
    assert code == 0
    new = (tmp_path / "new.ndjson").read_bytes()
    assert new == b"".join(line + b"\n" for line in chain(events))  # same events, v2 chain
    assert verify_bytes(new).format == 2
    # replay of both gives the same state
    _, a, _ = run(capsys, "replay", str(old), "--json")
    _, b, _ = run(capsys, "replay", str(tmp_path / "new.ndjson"), "--json")
    assert json.loads(a)["state_hash"] == json.loads(b)["state_hash"]
    # a tampered v1 log (a rewritten event, re-hashed: v1 cannot tell) that breaks a rule
    bad = v1_lines(events)
    bad[3] = bad[3].replace(b'"sha256-v1:', b'"sha256-v1:', 1)[:-20] + b"garbage"
    write(tmp_path / "bad.ndjson", bad)
    code, _, _ = run(capsys, "upgrade", str(tmp_path / "bad.ndjson"), "-o", str(tmp_path / "x"))
    assert code == 1 and not (tmp_path / "x").exists() and not (tmp_path / "x.tmp").exists()
    code, _, err = run(capsys, "upgrade", str(tmp_path / "new.ndjson"), "-o", str(tmp_path / "y"))
    assert code == 1 and "already record format v2" in err and not (tmp_path / "y").exists()


def test_a_v1_log_takes_no_appends(tmp_path: Path) -> None:
    from schemalog.encoding.codec import LegacyLog
    from schemalog.log.store.ndjson import NdjsonStore

    events = list(generate(10, origins=1, seed=2))
    path = write(tmp_path / "old.ndjson", v1_lines(events[:5]))
    store = NdjsonStore.open(path)
    with pytest.raises(LegacyLog, match="schemalog upgrade"):
        store.append(events[5:], expected=store.head().checksum)
    assert path.read_bytes() == b"".join(line + b"\n" for line in v1_lines(events[:5]))


def test_known_ids_across_runs() -> None:
    known = KnownIds()
    ids = [f"o@{n}.0" for n in range(300_000)]
    for eid in ids:
        known.add(id_digest(eid))
    assert all(id_digest(eid) in known for eid in ids[::997])
    assert not any(id_digest(f"x@{n}.0") in known for n in range(2000))
    assert known.nbytes() < 16 * len(ids)
