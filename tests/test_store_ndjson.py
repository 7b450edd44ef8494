"""NDJSON store: the contract, plus what a disk does to files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from schemalog.log.store import CorruptLog, NdjsonStore, StoreMissing, StoreReadOnly
from schemalog.log.store.verify import verify_bytes, verify_log
from schemalog.synth.generator import write_log
from store_contract import StoreContract, events, read_all


class TestNdjsonFileStore(StoreContract):
    def make_store(self) -> NdjsonStore:
        return NdjsonStore.open(Path(tempfile.mkdtemp()) / "log.ndjson", create=True, durable=False)


class TestNdjsonSegmentStore(StoreContract):
    def make_store(self) -> NdjsonStore:
        # tiny segments: every contract test crosses segment boundaries
        return NdjsonStore.open(
            Path(tempfile.mkdtemp()) / "log", create=True, segment_bytes=3000, durable=False
        )


def _log(tmp_path: Path, n: int = 12, origins: int = 1) -> tuple[Path, bytes]:
    path = tmp_path / "log.ndjson"
    write_log(path, n, origins=origins, seed=11)
    return path, path.read_bytes()


def test_missing_and_create(tmp_path: Path) -> None:
    with pytest.raises(StoreMissing):
        NdjsonStore.open(tmp_path / "nope.ndjson")
    s = NdjsonStore.open(tmp_path / "new.ndjson", create=True)
    assert (tmp_path / "new.ndjson").exists() and len(s) == 0
    d = NdjsonStore.open(tmp_path / "dir", create=True)
    assert d.directory and len(d) == 0


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "segs"
    s = NdjsonStore.open(path, create=True, segment_bytes=2000)
    evs = events(60, origins=2, seed=2)
    for i in range(0, 60, 5):  # a batch stays in one segment; segments roll between batches
        s.append(evs[i : i + 5], expected=s.head().checksum, fencing_token=3)
    heads = s.heads()
    assert len(s.segments()) > 3
    s.close()
    names = sorted(os.listdir(path))
    assert names[0] == "00000000.ndjson" and "fence" in names
    r = NdjsonStore.open(path)
    assert read_all(r, limit=7) == evs and r.heads() == heads
    assert r.newest_fencing_token == 3
    # segments read across boundaries
    lines = [x for c in r.iter_raw(0, 1500) for x in c.lines]
    assert len(lines) == 60


def test_synth_log_opens_and_pages(tmp_path: Path) -> None:
    path = tmp_path / "big.ndjson"
    summary = write_log(path, 20_000, origins=3, seed=5)
    s = NdjsonStore.open(path)
    assert s.head().position == 20_000 and s.head().checksum == summary.head_checksum
    assert s.heads() == summary.heads
    cursor, seen, positions = None, 0, []
    while True:
        page = s.read(cursor, 997)
        if not page.records:
            break
        positions.extend(page.positions)
        seen += len(page.records)
        cursor = page.cursor
    assert seen == 20_000 and positions == list(range(20_000))
    assert verify_log(path).ok


def test_other_writer_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson"
    a = NdjsonStore.open(path, create=True)
    b = NdjsonStore.open(path)
    evs = events(10)
    h = a.append(evs[:5], expected=None)
    assert b.head() == h
    from schemalog.log.store import AppendConflict

    with pytest.raises(AppendConflict):
        b.append(evs[5:], expected=None)
    b.append(evs[5:], expected=h.checksum)
    assert read_all(a) == evs and evs[7].id in a


# ---------------------------------------------------------------- torn tails


def test_torn_tail_at_every_offset(tmp_path: Path) -> None:
    _, data = _log(tmp_path, 3)
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start + 1, len(data)):  # cut == len(data) is the intact log
        work = tmp_path / f"cut{cut}.ndjson"
        work.write_bytes(data[:cut])
        s = NdjsonStore.open(work)
        assert s.head().position == 2, cut
        assert s.recovered is not None and s.recovered.position == 2
        assert s.recovered.nbytes == cut - last_start
        assert work.read_bytes() == data[:last_start]
        q = Path(s.recovered.quarantine or "")
        assert q.name == f"cut{cut}.quarantine.ndjson" and q.exists()
        import base64
        import json

        entry = json.loads(q.read_text().splitlines()[-1])
        assert base64.b64decode(entry["bytes_b64"]) == data[last_start:cut]
        assert len(read_all(s)) == 2
        s.close()
    # cutting exactly at a record boundary leaves a shorter valid log
    work = tmp_path / "boundary.ndjson"
    work.write_bytes(data[:last_start])
    s = NdjsonStore.open(work)
    assert s.recovered is None and s.head().position == 2


def test_torn_tail_read_only_is_left_in_place(tmp_path: Path) -> None:
    path, data = _log(tmp_path, 4)
    path.write_bytes(data[:-10])
    s = NdjsonStore.open(path, readonly=True)
    assert s.recovered is not None and s.recovered.quarantine is None
    assert len(s) == 3 and path.read_bytes() == data[:-10]
    with pytest.raises(StoreReadOnly):
        s.append(events(8)[4:], expected=s.head().checksum)


def test_appends_after_recovery_continue_the_chain(tmp_path: Path) -> None:
    path, data = _log(tmp_path, 6)
    path.write_bytes(data[:-5])
    s = NdjsonStore.open(path)
    assert len(s) == 5
    # the torn event (position 5) can be appended again: it is not stored
    evs = [r.event for r in s.read(limit=10).records]
    assert len(evs) == 5
    assert verify_log(path).ok


# ---------------------------------------------------------------- garbage in the middle


def test_garbage_in_the_middle_is_a_hard_error(tmp_path: Path) -> None:
    path, data = _log(tmp_path, 8)
    lines = data.split(b"\n")
    lines[3] = b"garbage"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptLog) as info:
        NdjsonStore.open(path)
    assert (info.value.line_number, info.value.position) == (4, 3)
    assert path.read_bytes() == b"\n".join(lines)  # never truncated
    s = NdjsonStore.open(path, verify=False)  # tools that report
    with pytest.raises(CorruptLog) as info:
        s.read(limit=100)
    assert info.value.line_number == 4


def test_bad_last_complete_line_is_corrupt_not_torn(tmp_path: Path) -> None:
    path, data = _log(tmp_path, 5)
    lines = data.split(b"\n")
    lines[4] = lines[4].replace(b'"format":1', b'"format":2')
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptLog) as info:
        NdjsonStore.open(path)
    assert info.value.position == 4


# ---------------------------------------------------------------- verify


def test_every_bit_flip_is_found_at_its_record(tmp_path: Path) -> None:
    _, data = _log(tmp_path, 3, origins=2)
    starts = [0]
    for i, b in enumerate(data):
        if b == 0x0A:
            starts.append(i + 1)
    assert verify_bytes(data).ok
    for offset in range(len(data)):
        record = max(i for i, s in enumerate(starts) if s <= offset)
        if record == len(starts) - 1:
            record -= 1  # the final newline belongs to the last record
        for bit in range(8):
            flipped = bytearray(data)
            flipped[offset] ^= 1 << bit
            report = verify_bytes(bytes(flipped))
            assert not report.ok, (offset, bit)
            assert report.problem is not None
            assert report.problem.position == record, (offset, bit, report.problem)
            assert report.problem.line_number == record + 1


@pytest.mark.parametrize("damage", ["duplicate", "swap", "missing"])
def test_reordered_records_are_reported_at_the_first_inconsistent_position(
    tmp_path: Path, damage: str
) -> None:
    path, data = _log(tmp_path, 10)
    lines = data.split(b"\n")[:-1]
    if damage == "duplicate":
        lines.insert(5, lines[4])
    elif damage == "swap":
        lines[4], lines[5] = lines[5], lines[4]
    else:
        del lines[4]
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = verify_log(path)
    assert report.problem is not None
    assert report.problem.position == (5 if damage == "duplicate" else 4)
    assert "hash link broken" in report.problem.reason
    assert report.problem.event_id is not None


def test_verify_reports_torn_tail_and_segment_gaps(tmp_path: Path) -> None:
    path, data = _log(tmp_path, 4)
    path.write_bytes(data[:-3])
    report = verify_log(path)
    assert report.problem is not None and report.problem.position == 3
    assert "torn" in report.problem.reason
    segs = tmp_path / "segs"
    s = NdjsonStore.open(segs, create=True, segment_bytes=1000)
    for e in events(20):
        s.append([e], expected=s.head().checksum)
    s.close()
    assert verify_log(segs).ok and verify_log(segs).records == 20
    os.remove(segs / "00000001.ndjson")
    with pytest.raises(CorruptLog):
        verify_log(segs)
