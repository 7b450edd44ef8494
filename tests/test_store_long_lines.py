"""Files that are no log, given where a log is expected: never cut, never held whole.

Found by attacking the command line with files that are not logs (session 11):
- a writable open (``schemalog record``, ``init``, ``SchemaLog.open``) of a file without a
  newline took the whole file for a torn last record: it was moved to the quarantine
  file and the file cut to 0 bytes (a JSON document, a notes file: gone from its place);
  bytes someone appended to a log were cut the same way;
- a line longer than any record (a disk image, a sparse file: no newline for
  gigabytes) was read whole, by concatenation (quadratic), by the store's open scan,
  by ``verify`` and by ``upgrade``: a 1 GiB image took minutes and its size in memory.
Memory is measured with tracemalloc (the readers' own allocations), never time.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schemalog.cli import main
from schemalog.log.store import CorruptLog, NdjsonStore
from schemalog.log.store.ndjson import MAX_LINE_BYTES
from schemalog.log.store.verify import verify_log
from schemalog.log.upgrade import UpgradeRefused, upgrade_log
from store_contract import events

BIG = 48 << 20  # the file; every reader must stay far below it
BOUND = 8 << 20


def _peak(work: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        try:
            result: Any = work()
        except Exception as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _good_log(path: Path, n: int = 3) -> bytes:
    store = NdjsonStore.open(path, create=True, durable=False)
    store.append(events(n), expected=None)
    store.close()
    return path.read_bytes()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "disk.img"
    with open(path, "wb") as f:
        f.truncate(BIG)  # sparse zeros: no newline anywhere
    return path


def test_a_file_without_newlines_is_read_in_bounded_memory(image: Path) -> None:
    store, peak = _peak(lambda: NdjsonStore.open(image, readonly=True, verify=False))
    assert peak < BOUND, f"the open scan held {peak:,} bytes"
    assert len(store) == 0 and store.recovered is not None and store.recovered.nbytes == BIG
    store.close()
    report, peak = _peak(lambda: verify_log(image))
    assert peak < BOUND, f"verify held {peak:,} bytes"
    assert report.problem is not None and f"{BIG:,} bytes" in report.problem.reason
    assert "longer than any record" in report.problem.reason
    refused, peak = _peak(lambda: upgrade_log(image, image.with_name("out.ndjson")))
    assert peak < BOUND, f"upgrade held {peak:,} bytes"
    assert isinstance(refused, UpgradeRefused) and not image.with_name("out.ndjson").exists()


def test_a_line_longer_than_any_record_is_skipped_not_held(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson"
    good = _good_log(path)
    long = b'{"checksum":"sha256-v2:' + b"a" * (BIG // 2) + b"}\n"
    path.write_bytes(good + long + good)
    store, peak = _peak(lambda: NdjsonStore.open(path, readonly=True, verify=False))
    assert peak < BOUND, f"the open scan held {peak:,} bytes"
    assert len(store) == 7  # the long line counts as a line; reading it says what it is
    assert store.read(None, 3).positions == (0, 1, 2)
    store.close()
    refused, peak = _peak(lambda: NdjsonStore.open(path, readonly=True))
    assert peak < BOUND and isinstance(refused, CorruptLog), refused
    assert "longer than any record" in str(refused) and refused.position == 3
    report, peak = _peak(lambda: verify_log(path))
    assert peak < BOUND, f"verify held {peak:,} bytes"
    assert report.problem is not None and report.problem.position == 3
    assert f"a line of {len(long) - 1:,} bytes" in report.problem.reason


@pytest.mark.parametrize(
    "tail",
    [
        b'{"important": "a document that is no log, without a last newline"}',
        b"notes\nmore notes",  # lines that are no records, the last one unfinished
        b"x" * (MAX_LINE_BYTES + 10),
    ],
    ids=["json-document", "notes", "longer-than-a-record"],
)
def test_a_writable_open_never_cuts_what_is_no_torn_record(tmp_path: Path, tail: bytes) -> None:
    """Alone in a file or after a log's last record: left in place, CorruptLog naming it,
    no quarantine file; ``schemalog record`` exits 2 and changes nothing."""
    for before in (b"", _good_log(tmp_path / "good.ndjson")):
        path = tmp_path / "victim.ndjson"
        path.write_bytes(before + tail)
        with pytest.raises(CorruptLog) as refused:
            NdjsonStore.open(path)
        assert str(path) in str(refused.value)
        code = main(["record", str(path), "-e", "CREATE NODE TABLE A (id INT64, PRIMARY KEY (id))"])
        assert code == 2
        assert path.read_bytes() == before + tail
        assert not any(p.name.endswith("quarantine.ndjson") for p in tmp_path.iterdir())


def test_a_torn_record_and_zeros_a_crash_left_are_still_cut(tmp_path: Path) -> None:
    """What a crashed append leaves (a record's first bytes, or file space never written)
    is quarantined and cut as before."""
    path = tmp_path / "log.ndjson"
    good = _good_log(path, 4)
    start = good.rstrip(b"\n").rfind(b"\n") + 1
    size = len(good) - start - 1  # the last record, without its newline
    for torn in (1, 21, 60, size):
        for tail in (good[start : start + torn], b"\0" * torn):
            path.write_bytes(good[:start] + tail)
            store = NdjsonStore.open(path)
            assert len(store) == 3 and store.recovered is not None, (torn, tail[:30])
            assert store.recovered.nbytes == torn and path.read_bytes() == good[:start]
            store.close()


def test_record_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A dry run on a log with a torn tail shows the events and leaves the file (and its
    folder) as they were: before, its writable open quarantined and cut the tail."""
    path = tmp_path / "log.ndjson"
    good = _good_log(path, 4)
    path.write_bytes(good[:-30])
    before = sorted(os.listdir(tmp_path))
    code = main(
        [
            "record",
            str(path),
            "--dry-run",
            "-e",
            "CREATE NODE TABLE Zz (id INT64, PRIMARY KEY (id))",
        ]
    )
    assert code == 0 and "would record 1 events" in capsys.readouterr().err
    assert path.read_bytes() == good[:-30] and sorted(os.listdir(tmp_path)) == before
