"""Lease and fence files that cannot lie (issue 22): a strict schema, bounded
reads, never a FIFO or a directory; anything else is LeaseFileCorrupt /
FenceFileCorrupt naming the file, never a grant, never a traceback, never a
process blocked while it holds the lock.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemalog.cli import main
from schemalog.log.lease.file import FileLeaseStore
from schemalog.log.lease.port import LeaseFileCorrupt, LeaseHeld
from schemalog.log.store import FenceFileCorrupt, NdjsonStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Tag, new_event
from schemalog.synth.generator import write_log

NOW = 10_000_000


class Blocked(Exception):
    pass


@pytest.fixture
def no_blocking() -> Iterator[None]:
    """Fail (instead of hanging the suite) if the code under test blocks for 5 s."""

    def fire(signum: int, frame: object) -> None:
        raise Blocked("blocked for 5 s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, 5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _grant(**changes: object) -> bytes:
    obj: dict[str, object] = {
        "holder": "alice",
        "token": 7,
        "since_ms": NOW,
        "expires_at_ms": NOW + 60_000,
        "ttl_ms": 60_000,
        "released": False,
    }
    obj.update(changes)
    return json.dumps({k: v for k, v in obj.items() if v is not ...}).encode()


def test_a_live_grant_is_honoured(tmp_path: Path) -> None:
    (tmp_path / "log.lease").write_bytes(_grant())
    leases = FileLeaseStore(tmp_path, lambda: NOW + 1)
    with pytest.raises(LeaseHeld):
        leases.acquire("log", "bob", 1000)
    (tmp_path / "log.lease").write_bytes(_grant(released=True))
    assert leases.acquire("log", "bob", 1000).token == 8


BAD_GRANTS = {
    "released is the string no": _grant(released="no"),
    "released is 0": _grant(released=0),
    "released is null": _grant(released=None),
    "token is a boolean": _grant(token=True),
    "token is a float": _grant(token=7.0),
    "token is a string": _grant(token="7"),
    "token is negative": _grant(token=-1),
    "token is huge": _grant(token=2**70),
    "expires is a string": _grant(expires_at_ms=str(NOW + 60_000)),
    "expires before since": _grant(expires_at_ms=NOW - 1),
    "holder is a number": _grant(holder=5),
    "holder is not a token": _grant(holder="a b\n"),
    "a field is missing": _grant(ttl_ms=...),
    "an unknown field": _grant(extra=1),
    "not an object": b"[1, 2, 3]",
    "not JSON": b"{holder: alice",
    "NaN": _grant().replace(b'"token": 7', b'"token": NaN'),
    "not UTF-8": b'{"holder": "\xff"}',
    "empty": b"",
    "too large": _grant(holder="a" * 10_000),
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", sorted(BAD_GRANTS))
def test_a_lease_file_that_lies_is_corrupt_never_a_grant(tmp_path: Path, case: str) -> None:
    lease_file = tmp_path / "log.lease"
    lease_file.write_bytes(BAD_GRANTS[case])
    leases = FileLeaseStore(tmp_path, lambda: NOW + 1)
    for attempt in ("bob", "alice"):
        with pytest.raises(LeaseFileCorrupt) as info:
            leases.acquire("log", attempt, 1000)
        assert info.value.path == str(lease_file) and str(lease_file) in str(info.value)
    assert lease_file.read_bytes() == BAD_GRANTS[case]  # left for a person to look at


@pytest.mark.parametrize("what", ["lease", "lock"])
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_fifo_or_directory_is_refused_without_blocking(
    tmp_path: Path, what: str, kind: str, no_blocking: None
) -> None:
    target = tmp_path / f"log.{what}"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    leases = FileLeaseStore(tmp_path, lambda: NOW)
    with pytest.raises(LeaseFileCorrupt) as info:
        leases.acquire("log", "bob", 1000)
    assert info.value.path == str(target)
    assert ("FIFO" if kind == "fifo" else "directory") in str(info.value)


def test_a_fifo_left_as_the_temporary_file_does_not_block_a_grant(
    tmp_path: Path, no_blocking: None
) -> None:
    os.mkfifo(tmp_path / f"log.lease.{os.getpid()}.tmp")
    leases = FileLeaseStore(tmp_path, lambda: NOW)
    assert leases.acquire("log", "bob", 1000).token == 1


# ---------------------------------------------------------------- fence files


def _event(name: str) -> object:
    return new_event(HybridLogicalClock("w", lambda: NOW), "ws", [], Tag(name))


BAD_FENCES = {
    "non-ASCII digits": "²³".encode(),
    "non-ASCII bytes": b"\xff\xfe12\n",
    "4,301 digits": b"9" * 4301 + b"\n",
    "above 2**63": b"%d\n" % 2**63,
    "negative": b"-3\n",
    "leading zero": b"007\n",
    "text": b"seven\n",
    "empty": b"",
    "spaces": b" 7 \n",
    "two lines": b"7\n8\n",
}


@pytest.mark.parametrize("case", sorted(BAD_FENCES))
def test_a_fence_file_that_lies_is_corrupt(tmp_path: Path, case: str) -> None:
    path = tmp_path / "log.ndjson"
    NdjsonStore.open(path, create=True).close()
    fence = tmp_path / "log.fence"
    fence.write_bytes(BAD_FENCES[case])
    with pytest.raises(FenceFileCorrupt) as info:
        NdjsonStore.open(path)
    assert info.value.path == str(fence)


@pytest.mark.parametrize("case", sorted(BAD_FENCES))
def test_a_fence_file_spoiled_under_an_open_writer_stops_its_next_append(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "log.ndjson"
    store = NdjsonStore.open(path, create=True)
    store.append([_event("a")], expected=None, fencing_token=5)  # type: ignore[list-item]
    before = path.read_bytes()
    (tmp_path / "log.fence").write_bytes(BAD_FENCES[case])
    with pytest.raises(FenceFileCorrupt):
        store.append([_event("b")], expected=store.head().checksum, fencing_token=5)  # type: ignore[list-item]
    assert path.read_bytes() == before


def test_a_fence_file_that_went_back_or_vanished_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson"
    store = NdjsonStore.open(path, create=True)
    store.append([_event("a")], expected=None, fencing_token=9)  # type: ignore[list-item]
    fence = tmp_path / "log.fence"
    fence.write_bytes(b"3\n")  # would let token 3..8 write again
    with pytest.raises(FenceFileCorrupt, match="below 9"):
        store.append([_event("b")], expected=store.head().checksum, fencing_token=4)  # type: ignore[list-item]
    fence.unlink()
    with pytest.raises(FenceFileCorrupt, match="removed"):
        store.append([_event("b")], expected=store.head().checksum, fencing_token=4)  # type: ignore[list-item]


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_fence_fifo_or_directory_never_blocks(
    tmp_path: Path, kind: str, no_blocking: None
) -> None:
    path = tmp_path / "log.ndjson"
    store = NdjsonStore.open(path, create=True)
    fence = tmp_path / "log.fence"
    os.mkfifo(fence) if kind == "fifo" else fence.mkdir()
    with pytest.raises(FenceFileCorrupt):
        store.append([_event("a")], expected=None, fencing_token=1)  # type: ignore[list-item]
    with pytest.raises(FenceFileCorrupt):
        NdjsonStore.open(path)


@pytest.mark.parametrize("case", ["non-ASCII bytes", "non-ASCII digits", "4,301 digits"])
def test_schemalog_replay_names_a_bad_fence_file_without_a_traceback(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.ndjson"
    write_log(path, 20, seed=3)
    (tmp_path / "log.fence").write_bytes(BAD_FENCES[case])
    code = main(["replay", str(path)])
    out, err = capsys.readouterr()
    assert code != 0 and "Traceback" not in out + err
    assert str(tmp_path / "log.fence") in err and "fence file" in err
