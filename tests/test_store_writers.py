"""Writers that cannot corrupt the log (in one process): fencing at the moment of
writing, failed writes, a log removed under a handle, clock drift at append.

Real processes (concurrent writers, SIGSTOP, SIGKILL) are in
test_store_writers_processes.py; the stateful machine in test_store_writers_stateful.py.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from schemalog.api import SchemaLog
from schemalog.errors import ClockDriftError
from schemalog.log.store import (
    FencedOut,
    NdjsonStore,
    StoreMissing,
    StoreTruncated,
    StoreWriteFailed,
)
from schemalog.log.store.ndjson import FileOps
from schemalog.log.store.verify import verify_log
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Event, Tag, new_event

NOW = 1_700_000_000_000


def _clock(origin: str, offset_ms: int = 0) -> HybridLogicalClock:
    return HybridLogicalClock(origin, lambda: NOW + offset_ms)


def _tag(store: NdjsonStore, clock: HybridLogicalClock, name: str) -> Event:
    return new_event(clock, "ws", store.heads(), Tag(name))


def _append(store: NdjsonStore, clock: HybridLogicalClock, name: str, token: int | None) -> Event:
    event = _tag(store, clock, name)
    store.append([event], expected=store.head().checksum, fencing_token=token)
    return event


def _open(path: Path, **options: object) -> NdjsonStore:
    return NdjsonStore.open(path, create=True, now_ms=lambda: NOW, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the lock


def test_in_cpython_appends_exclude_other_processes(tmp_path: Path) -> None:
    # In Pyodide this is False (its flock locks nothing): pyodide-tests/test_pyodide_file_lock.py
    from schemalog.log import side_files

    assert side_files.CROSS_PROCESS_LOCK is True
    assert _open(tmp_path / "log.ndjson").process_safe is True


# ---------------------------------------------------------------- fencing


def test_a_stale_token_is_fenced_out_however_long_ago_the_handle_opened(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson"
    a, b = _open(path), _open(path)
    ca, cb = _clock("a"), _clock("b")
    _append(a, ca, "a1", 33)
    _append(b, cb, "b1", 34)  # b's lease is newer; a never reopened
    before = path.read_bytes()
    with pytest.raises(FencedOut) as info:
        _append(a, ca, "a2", 33)
    assert (info.value.token, info.value.newest) == (33, 34)
    assert "33" in str(info.value) and "34" in str(info.value)
    assert path.read_bytes() == before
    with pytest.raises(FencedOut):  # an unfenced writer too, once a token was seen
        _append(a, ca, "a3", None)
    _append(b, cb, "b2", 34)
    assert verify_log(path).ok


def test_the_facade_is_fenced_after_refresh(tmp_path: Path) -> None:
    """The issue's case: A opened with 33, B appends with 34, a.refresh(); a.comment()."""
    path = tmp_path / "log.ndjson"
    a = SchemaLog.open(path, create=True, origin="a", fencing_token=33)
    a.create_node_table("T", [("id", "INT64")], "id")
    b = SchemaLog.open(path, origin="b", fencing_token=34)
    b.comment("T", "by b")
    a.refresh()
    with pytest.raises(FencedOut) as info:
        a.comment("T", "stale")
    assert (info.value.token, info.value.newest) == (33, 34)
    assert [e.origin for e in SchemaLog.open(path).events()] == ["a", "b"]


# ---------------------------------------------------------------- failed writes


class FaultyOps(FileOps):
    """Fails the next write / fsync / truncate as told; ``partial``: bytes that land first."""

    def __init__(self) -> None:
        self.write_error: int | None = None
        self.fsync_error: int | None = None
        self.truncate_error: int | None = None
        self.partial = 0

    def write(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        if self.write_error is not None:
            code, self.write_error = self.write_error, None
            if self.partial:
                os.pwrite(fd, bytes(data[: self.partial]), offset)
            raise OSError(code, os.strerror(code))
        return super().write(fd, data, offset)

    def fsync(self, fd: int) -> None:
        if self.fsync_error is not None:
            code, self.fsync_error = self.fsync_error, None
            raise OSError(code, os.strerror(code))
        super().fsync(fd)

    def truncate(self, fd: int, size: int) -> None:
        if self.truncate_error is not None:
            code, self.truncate_error = self.truncate_error, None
            raise OSError(code, os.strerror(code))
        super().truncate(fd, size)


@pytest.mark.parametrize(
    ("fault", "code", "partial"),
    [
        ("write", errno.ENOSPC, 0),
        ("write", errno.ENOSPC, 200),  # half a record landed before the disk filled
        ("write", errno.EIO, 37),
        ("fsync", errno.EIO, 0),
        ("fsync", errno.ENOSPC, 0),
    ],
)
@pytest.mark.parametrize("layout", ["log.ndjson", "segments"])
def test_a_failed_write_leaves_the_log_as_it_was_and_the_handle_usable(
    tmp_path: Path, fault: str, code: int, partial: int, layout: str
) -> None:
    path = tmp_path / layout
    store = _open(path, segment_bytes=1500)
    faulty = FaultyOps()
    store.ops = faulty
    clock = _clock("w")
    acked = [_append(store, clock, f"t{i}", None).id for i in range(6)]
    files = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*.ndjson"))}
    head = store.head()
    event = _tag(store, clock, "failed")
    setattr(faulty, f"{fault}_error", code)
    faulty.partial = partial
    with pytest.raises(StoreWriteFailed) as info:
        store.append([event], expected=head.checksum)
    err = info.value
    assert err.errno == code and err.restored and err.position == 6
    assert str(err.path).startswith(str(path)) and os.strerror(code) in str(err)
    # the log is byte for byte what it was (a new empty segment at most)
    assert {p: p.read_bytes() for p in files} == files
    assert all(p.stat().st_size == 0 for p in tmp_path.rglob("*.ndjson") if p not in files)
    assert store.head() == head
    # the cause is gone: the same handle appends, the same event too
    store.append([event], expected=head.checksum)
    acked.append(event.id)
    acked.append(_append(store, clock, "after", None).id)
    store.close()
    reopened = NdjsonStore.open(path)
    assert list(reopened.event_ids()) == acked
    assert reopened.recovered is None
    assert verify_log(path).ok


def test_a_tail_that_could_not_be_cut_back_is_quarantined_by_the_next_append(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.ndjson"
    store = _open(path)
    faulty = FaultyOps()
    store.ops = faulty
    clock = _clock("w")
    acked = [_append(store, clock, f"t{i}", None).id for i in range(3)]
    good = path.read_bytes()
    faulty.write_error, faulty.partial, faulty.truncate_error = errno.EIO, 90, errno.EIO
    with pytest.raises(StoreWriteFailed) as info:
        _append(store, clock, "torn", None)
    assert not info.value.restored
    assert path.read_bytes().startswith(good) and len(path.read_bytes()) == len(good) + 90
    other = NdjsonStore.open(path, readonly=True)  # a reader meanwhile: the torn line is hidden
    assert list(other.event_ids()) == acked
    acked.append(_append(store, clock, "next", None).id)
    assert store.recovered is not None and store.recovered.nbytes == 90
    quarantined = Path(store.recovered.quarantine or "").read_text()
    assert '"nbytes": 90' in quarantined
    assert list(NdjsonStore.open(path).event_ids()) == acked
    assert verify_log(path).ok


def test_an_fsync_error_is_never_swallowed(tmp_path: Path) -> None:
    store = _open(tmp_path / "log.ndjson")
    store.ops = faulty = FaultyOps()
    faulty.fsync_error = errno.EIO
    with pytest.raises(StoreWriteFailed):
        _append(store, _clock("w"), "t", None)
    assert len(store) == 0 and (tmp_path / "log.ndjson").read_bytes() == b""


# ---------------------------------------------------------------- the log under a handle


def test_a_log_removed_under_a_handle_is_store_missing(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson"
    log = SchemaLog.open(path, create=True, origin="a")
    log.create_node_table("T", [("id", "INT64")], "id")
    os.remove(path)
    with pytest.raises(StoreMissing):
        log.comment("T", "x")
    with pytest.raises(StoreMissing):
        log.store.head()
    with pytest.raises(StoreMissing):
        SchemaLog.open(path)  # never an empty log unless asked
    assert not path.exists()


def test_a_log_replaced_or_truncated_under_a_handle(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson"
    store = _open(path)
    clock = _clock("w")
    for i in range(3):
        _append(store, clock, f"t{i}", None)
    data = path.read_bytes()
    with open(path, "r+b") as f:
        f.truncate(0)
    with pytest.raises(StoreTruncated) as info:
        _append(store, clock, "x", None)
    assert info.value.size == 0 and info.value.known_bytes == len(data)
    with pytest.raises(StoreTruncated):
        store.read()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreTruncated):
        store.heads()
    os.remove(path)
    path.write_bytes(data)  # another file with the same bytes: not the log we indexed
    with pytest.raises(StoreMissing, match="replaced"):
        store.head()


def test_a_segment_directory_removed_under_a_handle(tmp_path: Path) -> None:
    path = tmp_path / "log"
    store = _open(path, segment_bytes=1000)
    for i in range(5):
        _append(store, _clock("w"), f"t{i}", None)
    for name in os.listdir(path):
        os.remove(path / name)
    os.rmdir(path)
    with pytest.raises(StoreMissing):
        store.head()


# ---------------------------------------------------------------- clocks


def test_an_event_from_a_fast_clock_is_refused_at_append(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson"
    store = _open(path)
    fast = _clock("fast", offset_ms=3_600_000)
    with pytest.raises(ClockDriftError) as info:
        _append(store, fast, "early", None)
    assert info.value.local == NOW and info.value.bound_ms == store.max_drift_ms
    assert str(NOW + 3_600_000) in str(info.value) and str(NOW) in str(info.value)
    assert len(store) == 0
    _append(store, _clock("ok", offset_ms=50_000), "within the bound", None)


def test_a_log_holding_a_fast_event_does_not_lock_out_right_clocks(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson"
    legacy = _open(path, max_drift_ms=None)  # written before the check existed
    _append(legacy, _clock("fast", offset_ms=3_600_000), "from the future", None)
    legacy.close()
    log = SchemaLog(_open(path), origin="right", now_ms=lambda: NOW)
    log.tag("v1")
    log.tag("v2")
    assert len(log.store) == 3
    # a writer whose own clock runs ahead is still refused on top of it
    fast2 = SchemaLog(_open(path), origin="fast2", now_ms=lambda: NOW + 7_200_000)
    with pytest.raises(ClockDriftError):
        fast2.tag("v3")


# ---------------------------------------------------------------- cost of an append


class CountingStore(NdjsonStore):
    """Counts the record lines an operation reads (raw chunks and line reads)."""

    lines_read = 0

    def _lines(self, start: int, stop: int) -> list[bytes]:
        out = super()._lines(start, stop)
        self.lines_read += len(out)
        return out

    def iter_raw(self, start: int = 0, max_chunk_bytes: int = 32 << 20):  # type: ignore[no-untyped-def]
        for chunk in super().iter_raw(start, max_chunk_bytes):
            self.lines_read += len(chunk.lines)
            yield chunk


@pytest.mark.parametrize("size", [200, 800])
def test_an_append_reads_the_new_records_not_the_log(tmp_path: Path, size: int) -> None:
    """O(new records): what one facade append (with its refresh) reads does not grow with
    the log (counted in lines read, not timed)."""
    path = tmp_path / "log.ndjson"
    store = CountingStore.open(path, create=True, durable=False)
    log = SchemaLog(store, origin="w")
    log.create_node_table("T", [("id", "INT64")], "id")
    for i in range(size):
        log.add_property("T", f"p{i % 7}", "INT64") if i % 2 == 0 else log.drop_property(
            "T", f"p{(i - 1) % 7}"
        )
    other = SchemaLog.open(path, origin="other")
    store.lines_read = 0
    log.comment("T", "mine")
    other.comment("T", "theirs")  # a record this handle has not seen: read once
    log.refresh()
    log.comment("T", "mine again")
    assert store.lines_read <= 12, store.lines_read


def test_a_memory_store_checks_drift_when_given_a_bound() -> None:
    from schemalog.log.store import MemoryStore

    fast = new_event(_clock("fast", offset_ms=3_600_000), "ws", [], Tag("t"))
    MemoryStore().append([fast], expected=None)  # synthetic histories: no receiver clock
    store = MemoryStore(now_ms=lambda: NOW, max_drift_ms=60_000)
    with pytest.raises(ClockDriftError):
        store.append([fast], expected=None)
