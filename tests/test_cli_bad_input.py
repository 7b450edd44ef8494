"""Bad input to the command line: a clear error naming what and where, exit 2, no
traceback, nothing made or changed (attacks of session 11, each a traceback, a wrong
exit code or a file made before).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from schemalog.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_server(tmp_path: Path) -> Iterator[str]:
    """A web server that is not `schemalog serve`, at a log URL's place."""
    root = tmp_path / "www"
    for name, body in (
        ("text", b"hello, this is no service\n"),
        ("typed", b'{"position": "lots", "checksum": 5}'),
        ("deep", b"[" * 100_000),
    ):
        (root / "logs" / name).mkdir(parents=True)
        (root / "logs" / name / "head").write_bytes(body)
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_urls_that_name_no_log_or_no_service_are_named(
    other_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        f"{other_server}/logs/text": "not JSON: 'hello, this is no service'",
        f"{other_server}/logs/typed": "'position': 'lots'",
        f"{other_server}/logs/deep": "not JSON",
        f"{other_server}/logs/missing": "HTTP 404",
        f"{other_server}/nologs": "is not a served log URL",
        "http://": "is not a served log URL",
        "http://[::1": "Invalid IPv6 URL",
        "postgresql://someone:s3cret@127.0.0.1:1/db": "name the log (?log=NAME)",
    }
    for url, why in cases.items():
        for command in ("verify", "log", "replay", "schema"):
            code, out, err = run(capsys, command, url)
            assert code == 2 and why in err and "Traceback" not in err, (command, url, err)
            assert "s3cret" not in err + out  # a password is never shown
        code, out, _ = run(capsys, "verify", url, "--json")
        assert code == 2 and json.loads(out)["exit"] == 2


def test_replay_skip_says_it_hid_a_torn_tail_or_a_file_that_is_no_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under --on-corrupt skip (not gated), a torn last line was hidden and a JSON file
    replayed as an empty log with exit 0."""
    log = tmp_path / "log.ndjson"
    assert main(["synth", str(log), "--events", "20", "--seed", "4"]) == 0
    data = log.read_bytes()
    log.write_bytes(data + data[:50])
    document = tmp_path / "doc.json"
    document.write_bytes(b'{"a document": "no log"}')
    for path, position in ((log, 20), (document, 0)):
        capsys.readouterr()
        code, _, err = run(capsys, "replay", str(path), "--on-corrupt", "skip")
        assert code == 1 and "torn last line" in err and f"at record {position}" in err, err
        code, out, _ = run(capsys, "replay", str(path), "--on-corrupt", "skip", "--json")
        report = json.loads(out)
        assert code == 1 and report["ok"] is False and report["torn_tail"]["position"] == position
    code, _, err = run(capsys, "replay", str(log), "--on-corrupt", "skip", "--allow-torn-tail")
    assert code == 0 and "torn last line" in err
    assert log.read_bytes() == data + data[:50]


def test_nothing_is_made_before_an_argument_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ddl = "CREATE NODE TABLE A (id INT64, PRIMARY KEY (id))"
    for origin in ("bad origin", "x" * 65, ".dot"):
        code, _, err = run(
            capsys, "record", str(tmp_path / "new.ndjson"), "--origin", origin, "-e", ddl
        )
        assert code == 2 and "origin" in err
        assert not (tmp_path / "new.ndjson").exists()
    os.symlink("nowhere.ndjson", tmp_path / "dangling.ndjson")
    code, _, err = run(capsys, "record", str(tmp_path / "dangling.ndjson"), "-e", ddl)
    assert code == 2 and "symbolic link to nowhere.ndjson" in err
    assert not (tmp_path / "nowhere.ndjson").exists()
    (tmp_path / "notes.txt").write_text("my notes\n")
    code, _, err = run(capsys, "serve", "--store", str(tmp_path / "notes.txt"), "--port", "1")
    assert code == 2 and "not a folder" in err
    assert (tmp_path / "notes.txt").read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.ndjson", "notes.txt"]


def _rehashed(lines: list[bytes]) -> bytes:
    """The records re-chained (each v2 checksum recomputed), as a forger would."""
    from schemalog.encoding.codec import record_checksum

    out, prev = [], None
    for line in lines:
        end = len(line) - (13 if line.endswith(b',"prev":null}') else 85)
        checksum = record_checksum(prev, line[97:end])
        tail = b',"prev":null}' if prev is None else b',"prev":"' + prev.encode() + b'"}'
        out.append(b'{"checksum":"' + checksum.encode() + line[87:end] + tail + b"\n")
        prev = checksum
    return b"".join(out)


def test_replay_skip_refuses_a_log_with_a_record_removed_and_the_chain_rehashed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every record of it replays, so skip skipped nothing and said exit 0, while verify and
    every other reader refuse it (a parent in no earlier record)."""
    log = tmp_path / "log.ndjson"
    assert main(["synth", str(log), "--events", "30", "--seed", "6"]) == 0
    lines = log.read_bytes().split(b"\n")[:-1]
    forged = tmp_path / "forged.ndjson"
    for cut in (10, 20):
        forged.write_bytes(_rehashed(lines[:cut] + lines[cut + 1 :]))
        capsys.readouterr()
        assert run(capsys, "verify", str(forged))[0] == 1
        code, _, err = run(capsys, "replay", str(forged), "--on-corrupt", "skip")
        assert code == 1 and "does not verify" in err and "parent" in err, err
        code, out, _ = run(capsys, "replay", str(forged), "--on-corrupt", "skip", "--json")
        assert code == 1 and json.loads(out)["ok"] is False
    code, _, err = run(capsys, "replay", str(log), "--on-corrupt", "skip")
    assert code == 0 and "does not verify" not in err


@pytest.mark.parametrize("name", ["log.ndjson", "segments"])
def test_two_writers_making_one_log_at_once_both_open_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The other writer makes the log between this one's look and its make (the race of
    two `schemalog record` on a new log; rare for real, so the other writer's make is put
    right there): both open the one log, neither fails with "File exists"."""
    from schemalog.log.store import NdjsonStore

    path = tmp_path / name
    real_exists = os.path.exists
    raced: list[bool] = []

    def exists_then_made(p: object) -> bool:
        there = real_exists(p)  # type: ignore[arg-type]
        if os.fspath(p) == str(path) and not there and not raced:  # type: ignore[arg-type]
            raced.append(True)
            NdjsonStore.open(path, create=True).close()  # the other writer, just now
        return there

    monkeypatch.setattr(os.path, "exists", exists_then_made)
    store = NdjsonStore.open(path, create=True)
    monkeypatch.undo()
    assert raced and len(store) == 0
    store.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_a_database_path_that_is_a_fifo_or_a_link_to_the_old_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--db FIFO` hung for ever (the engine is told by the file's first bytes, and a FIFO
    read waits for a writer); `migrate --to-db` naming a link to --from-db built NEW into
    OLD, which migrate promises only to read."""
    import subprocess
    import sys

    import schemalog

    log = tmp_path / "log.ndjson"
    assert main(["synth", str(log), "--events", "20", "--seed", "1"]) == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": str(Path(schemalog.__file__).resolve().parents[1])}
    for argv in (
        ["apply", str(log), "--db", str(fifo)],
        ["drift", str(log), "--db", str(fifo)],
        ["init", str(tmp_path / "new.ndjson"), "--from-db", str(fifo)],
        ["migrate", "--from-db", str(fifo), "--to-db", str(tmp_path / "new.lbug")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "schemalog", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,  # reading the FIFO would block for ever
            check=False,
        )
        assert done.returncode == 2 and "a FIFO, not a database file" in done.stderr, argv
    pytest.importorskip("kuzu")
    old = tmp_path / "people.kuzu"
    capsys.readouterr()
    assert main(["apply", str(log), "--db", str(old)]) == 0
    os.symlink(old, tmp_path / "link.kuzu")
    capsys.readouterr()
    argv = ["migrate", "--from-db", str(old), "--to-db", str(tmp_path / "link.kuzu")]
    code, _, err = run(capsys, *argv, "--to-engine", "kuzu")
    assert code == 2 and "the same path" in err
