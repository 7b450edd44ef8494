"""A lease taken over fences the old holder at once, and no token can lock a log.

Found by attacking the NDJSON store with real processes (session 11): a file-lease
holder SIGSTOPped past its TTL went on appending after another process took the lease,
for as long as the new holder had not written yet -- the NDJSON store only knew the
newest token *appended*. Over HTTP the same held for `schemalog serve` on NDJSON logs
(the PostgreSQL store reads the lease table in its append, so it fenced at once).
And an append with a token of 2**63 or more was written to the fence file, which every
later append then refused to read: one request locked the log for every writer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from schemalog.encoding.codec import encode_record
from schemalog.log.lease.file import FileLeaseStore
from schemalog.log.store import FencedOut, MemoryStore, NdjsonStore
from schemalog.log.store.http import HttpStore
from schemalog.log.store.verify import verify_log
from served import Service
from store_contract import events
from test_store_writers_processes import _acked, _spawn


def _records(log: Path) -> int:
    store = NdjsonStore.open(log, readonly=True)
    try:
        return len(store)
    finally:
        store.close()


def test_a_paused_holder_is_fenced_out_before_the_new_holder_writes(tmp_path: Path) -> None:
    """SIGSTOP a holder (a real process appending with its token) past its TTL; this
    process takes the lease with ``fence=store`` and writes nothing; SIGCONT: the old
    holder's next append is FencedOut, and nothing of it lands after the takeover."""
    log = tmp_path / "log.ndjson"
    NdjsonStore.open(log, create=True).close()
    leases_dir, acks, ttl = str(tmp_path / "leases"), tmp_path / "a", 300
    a = _spawn("holder", log, "a", 100_000, acks, leases_dir, str(ttl))
    try:
        deadline = time.monotonic() + 30
        while len(_acked(acks)) < 6:
            assert time.monotonic() < deadline and a.poll() is None, "holder did not start"
            time.sleep(0.005)
        os.kill(a.pid, signal.SIGSTOP)
        time.sleep(ttl / 1000 + 0.2)  # its lease expires while it sleeps
        store = NdjsonStore.open(log)
        got: list[object] = []
        # if a was stopped inside an append (holding the log's lock), the takeover
        # waits for it: take the lease in a thread, let a finish that append
        taker = threading.Thread(
            target=lambda: got.append(
                FileLeaseStore(leases_dir).acquire("log", "b", 60_000, fence=store)
            )
        )
        taker.start()
        taker.join(timeout=2)
        os.kill(a.pid, signal.SIGCONT)
        taker.join(timeout=30)
        assert got, "the takeover did not finish"
        (lease,) = got
        at_takeover = _records(log)
        with contextlib.suppress(subprocess.TimeoutExpired):
            a.wait(timeout=5)  # a stops at its first FencedOut
        after = _records(log)
        assert after == at_takeover, (
            f"the paused holder appended {after - at_takeover} records after the lease was "
            "taken over"
        )
        assert _acked(acks)[-1] == f"fenced 1 {lease.token}"  # type: ignore[attr-defined]
        assert verify_log(log).ok
        store.close()
    finally:
        if a.poll() is None:
            os.kill(a.pid, signal.SIGCONT)
            a.kill()
        a.wait(timeout=30)


def test_a_takeover_starts_above_the_newest_token_the_log_has_seen(tmp_path: Path) -> None:
    """A fence raised by another lease store (or a lease folder lost and made again) does
    not fence out every later holder: the new grant starts above it."""
    store = NdjsonStore.open(tmp_path / "log.ndjson", create=True)
    evs = events(3)
    head = store.append(evs[:1], expected=None, fencing_token=41)
    leases = FileLeaseStore(tmp_path / "leases")
    lease = leases.acquire("log", "me", 60_000, fence=store)
    assert lease.token == 42 and store.newest_fencing_token == 42
    store.append(evs[1:2], expected=head.checksum, fencing_token=lease.token)
    with pytest.raises(FencedOut):
        store.append(evs[2:], expected=None, fencing_token=41)
    store.close()


@pytest.mark.parametrize("kind", ["memory", "ndjson"])
def test_a_token_no_lease_can_grant_is_refused_and_locks_nothing(tmp_path: Path, kind: str) -> None:
    store = MemoryStore() if kind == "memory" else NdjsonStore.open(tmp_path / "l", create=True)
    evs = events(2)
    for bad in (2**63, 2**64, -1, True, 1.0, "7"):
        with pytest.raises(ValueError, match="fencing token"):
            store.append(evs[:1], expected=None, fencing_token=bad)  # type: ignore[arg-type]
    assert len(store) == 0 and store.newest_fencing_token is None
    if kind == "ndjson":
        assert not (tmp_path / "l" / "fence").exists()
        store.close()
        store = NdjsonStore.open(tmp_path / "l")  # reopens: no fence it cannot read
    head = store.append(evs[:1], expected=None, fencing_token=2**63 - 1)
    with pytest.raises(FencedOut):
        store.append(evs[1:], expected=head.checksum, fencing_token=5)
    store.close()


def test_the_service_refuses_a_token_no_lease_can_grant(tmp_path: Path) -> None:
    """Over HTTP: 400, and the log still takes appends (the fence file was never written)."""
    service = Service(str(tmp_path / "logs")).start()
    try:
        store = HttpStore.open(service.log_url("t"))
        evs = events(2)
        body = encode_record(evs[0], None) + b"\n"
        for token in (str(2**63), "9" * 25):
            r = httpx.post(
                f"{service.log_url('t')}/append",
                content=body,
                headers={"Schemalog-Expected-Head": "null", "Schemalog-Fencing-Token": token},
            )
            assert r.status_code == 400 and "0..2**63-1" in r.text, r.text
        head = store.append(evs[:1], expected=None, fencing_token=3)
        store.append(evs[1:], expected=head.checksum, fencing_token=3)
        assert len(store) == 2
        store.close()
    finally:
        service.stop()
