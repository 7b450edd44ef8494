"""Output paths never overwrite stored logs (attacks of session 11).

Before: ``merge -o OUT`` replaced whatever OUT held, one of its own inputs included
(and records a writer appended to OUT meanwhile were gone with the old file), and
``replay --trace FILE`` / ``--snapshots`` wrote over the very log being replayed.
Now an output that is a LOG being read (or a segment of one, or a symlink to one) is
exit 2 naming both, before any work; merge's OUT must be new or empty unless
``--force`` (never an input, even then).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from schemalog.cli import main


def _synth(path: Path, seed: int, capsys: pytest.CaptureFixture[str]) -> bytes:
    assert main(["synth", str(path), "--events", "40", "--seed", str(seed)]) == 0
    capsys.readouterr()
    return path.read_bytes()


def _files(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


def test_merge_never_replaces_an_input_or_a_log_that_is_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    _synth(a, 1, capsys)
    b_bytes = _synth(b, 2, capsys)
    os.symlink(a, tmp_path / "link.ndjson")
    before = _files(tmp_path)
    for out, extra in (
        (a, ()),
        (a, ("--force",)),
        (tmp_path / "link.ndjson", ("--force",)),
        (b, ()),  # not an input here: a log that is there
    ):
        inputs = [str(a)] if out == b else [str(a), str(b)]
        code = main(["merge", *inputs, "-o", str(out), *extra])
        err = capsys.readouterr().err
        assert code == 2, (out, extra, err)
        assert str(out) in err and "Traceback" not in err
        assert _files(tmp_path) == before, (out, extra)
    # a new or empty OUT is written; a non-empty one only with --force
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "m.ndjson")]) in (0, 1)
    merged = (tmp_path / "m.ndjson").read_bytes()
    (tmp_path / "empty.ndjson").write_bytes(b"")
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "empty.ndjson")]) in (0, 1)
    assert (tmp_path / "empty.ndjson").read_bytes() == merged
    assert main(["merge", str(a), str(b), "-o", str(b.with_name("m.ndjson")), "--force"]) in (0, 1)
    assert main(["merge", str(a), "-o", str(b), "--force"]) in (0, 1)
    assert b.read_bytes() != b_bytes and a.read_bytes() == (tmp_path / "link.ndjson").read_bytes()


def test_replay_never_writes_its_trace_or_snapshots_over_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log.ndjson"
    data = _synth(log, 3, capsys)
    folder = tmp_path / "seglog"
    folder.mkdir()
    (folder / "00000000.ndjson").write_bytes(data)
    os.symlink(log, tmp_path / "link.ndjson")
    cases = [
        (log, "--trace", log),
        (log, "--trace", tmp_path / "link.ndjson"),
        (folder, "--trace", folder / "00000000.ndjson"),
        (log, "--snapshots", log),
    ]
    for target, option, out in cases:
        code = main(["replay", str(target), option, str(out)])
        err = capsys.readouterr().err
        assert code == 2 and str(out) in err and "Traceback" not in err, (option, out, err)
        assert log.read_bytes() == data and (folder / "00000000.ndjson").read_bytes() == data
    code = main(["replay", str(log), "--trace", str(tmp_path / "trace.json")])
    assert code == 0 and (tmp_path / "trace.json").stat().st_size > 0
