"""A full disk while a command writes: exit 2 naming the output, nothing partial left,
what was stored unchanged. The disk is filled for real, for the child process only:
RLIMIT_FSIZE makes a write past the limit fail with EFBIG (Python ignores SIGXFSZ).

Found in session 11: ``merge`` left ``OUT.tmp`` behind and said ``schemalog merge: :
File too large`` (no path); ``synth`` left a partial log that looks like a log cut at
a torn line, with the same message; ``replay --snapshots`` said ``: File too large``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import schemalog
from schemalog.synth.generator import generate
from test_cli_integrity import v1_lines, write

PKG = str(Path(schemalog.__file__).resolve().parents[1])  # the package this run imports

pytestmark = pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="POSIX only")


def _limit(nbytes: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


def _cli(cwd: Path, limit: int | None, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PKG}
    return subprocess.run(
        [sys.executable, "-m", "schemalog", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit(limit) if limit else None,
        check=False,
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_full_disk_leaves_no_partial_output_and_names_it(tmp_path: Path) -> None:
    assert (
        _cli(tmp_path, None, "synth", "big.ndjson", "--events", "400", "--seed", "2").returncode
        == 0
    )
    r = _cli(tmp_path, None, "synth", "reps", "--events", "300", "--replicas", "2", "--seed", "2")
    assert r.returncode == 0, r.stderr
    write(tmp_path / "old.ndjson", v1_lines(list(generate(300, origins=2, seed=2))))
    size = (tmp_path / "big.ndjson").stat().st_size
    cases = [  # (the limit: past what the command needs before it writes its output)
        (("merge", "reps/r1.ndjson", "reps/r2.ndjson", "-o", "m.ndjson"), "m.ndjson", 20_000),
        (("synth", "s.ndjson", "--events", "2000"), "s.ndjson", 20_000),
        (("upgrade", "old.ndjson", "-o", "up.ndjson"), "up.ndjson", 20_000),
        (("replay", "big.ndjson", "--snapshots", "snaps"), "snaps", 2000),
    ]
    for argv, output, limit in cases:
        before = _files(tmp_path)
        r = _cli(tmp_path, limit, *argv)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (argv, r.stderr)
        assert f"{output}:" in r.stderr and "File too large" in r.stderr, (argv, r.stderr)
        assert _files(tmp_path) == before, argv  # nothing partial, nothing changed
    # an append that does not fit is cut back: the log verifies with what it held
    ddl = "CREATE NODE TABLE Wide (id INT64, " + ", ".join(f"p{i} STRING" for i in range(40))
    r = _cli(tmp_path, size + 100, "record", "big.ndjson", "-e", ddl + ", PRIMARY KEY (id))")
    assert r.returncode == 2 and "File too large" in r.stderr and "nothing was written" in r.stderr
    assert (tmp_path / "big.ndjson").stat().st_size == size
    assert _cli(tmp_path, None, "verify", "big.ndjson").returncode == 0
