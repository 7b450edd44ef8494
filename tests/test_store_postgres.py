"""The PostgreSQL store and lease against a real server that the test run starts."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemalog.log.lease.postgres import PostgresLeaseStore
from schemalog.log.store import FencedOut, StoreMissing
from schemalog.log.store.postgres import PostgresStore
from schemalog.log.store.verify import verify_bytes
from store_contract import StoreContract, events, read_all
from test_lease import _contract

HERE = Path(__file__).parent


def fresh_log() -> str:
    return "t" + uuid.uuid4().hex[:20]


class TestPostgresStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _server(self, pg_url: str) -> Iterator[None]:
        self.url = pg_url
        self.opened: list[PostgresStore] = []
        yield
        for store in self.opened:
            store.close()

    def make_store(self) -> PostgresStore:
        store = PostgresStore.open(self.url, log=fresh_log(), create=True)
        self.opened.append(store)
        return store

    def test_reopen_sees_everything(self) -> None:
        log = fresh_log()
        a = PostgresStore.open(f"{self.url}?log={log}", create=True)
        self.opened.append(a)
        evs = events(40, origins=2, seed=1)
        a.append(evs, expected=None, fencing_token=3)
        b = PostgresStore.open(f"{self.url}?log={log}")
        self.opened.append(b)
        assert read_all(b) == evs and b.head() == a.head() and b.heads() == a.heads()
        assert b.newest_fencing_token == 3

    def test_missing_log(self) -> None:
        with pytest.raises(StoreMissing):
            PostgresStore.open(self.url, log=fresh_log())

    def test_logs_are_separate(self) -> None:
        a, b = self.make_store(), self.make_store()
        evs = events(10)
        a.append(evs, expected=None, fencing_token=7)
        b.append(evs[:3], expected=None)  # the same events in another log: their own chain
        assert len(a) == 10 and len(b) == 3 and b.newest_fencing_token is None

    def test_other_writer_seen(self) -> None:
        a = self.make_store()
        b = PostgresStore.open(self.url, log=a.log)
        self.opened.append(b)
        evs = events(10)
        h = a.append(evs[:5], expected=None)
        assert b.head() == h and evs[4].id in b
        h = b.append(evs[5:], expected=h.checksum)
        assert a.head() == h and read_all(a) == evs


def test_lease_contract(pg_url: str) -> None:
    opened: list[PostgresLeaseStore] = []

    def make(now: object) -> PostgresLeaseStore:
        store = PostgresLeaseStore(pg_url, now)  # type: ignore[arg-type]
        opened.append(store)
        return store

    # the contract expects first tokens on the resources "log" and "other":
    # no other test uses those names
    try:
        _contract(make)
    finally:
        for s in opened:
            s.close()


def test_lease_uses_the_database_clock(pg_url: str) -> None:
    leases = PostgresLeaseStore(pg_url)
    try:
        log = fresh_log()
        a = leases.acquire(log, "alice", 60_000)
        assert leases.current(log) == a
        leases.release(a)
        assert leases.current(log) is None
        assert leases.acquire(log, "bob", 60_000).token == a.token + 1
    finally:
        leases.close()


def test_taken_over_lease_fences_the_old_holder_at_once(pg_url: str) -> None:
    """The store reads the lease row in its append: no write by the new holder needed."""
    now = [1_000]
    leases = PostgresLeaseStore(pg_url, lambda: now[0])
    log = fresh_log()
    store = PostgresStore.open(pg_url, log=log, create=True)
    try:
        evs = events(4)
        old = leases.acquire(log, "old", 100)
        h = store.append(evs[:1], expected=None, fencing_token=old.token)
        now[0] += 500  # old paused past its lease
        new = leases.acquire(log, "new", 100)
        with pytest.raises(FencedOut) as info:
            store.append(evs[1:2], expected=h.checksum, fencing_token=old.token)
        assert (info.value.token, info.value.newest) == (old.token, new.token)
        with pytest.raises(FencedOut):
            store.append(evs[1:2], expected=h.checksum)  # unfenced: out once a lease exists
        assert store.head() == h
        h = store.append(evs[1:], expected=h.checksum, fencing_token=new.token)
        assert h.position == 4
    finally:
        store.close()
        leases.close()


# ---------------------------------------------------------------- real processes


def run_appenders(targets: list[str], per_writer: int) -> list[dict[str, object]]:
    """One OS process per target, all at once; every attempt they report."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "concurrent_appenders.py"),
                t,
                f"w{i}",
                str(per_writer),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, t in enumerate(targets)
    ]
    attempts: list[dict[str, object]] = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        attempts.extend(json.loads(line) for line in out.splitlines())
    return attempts


def check_one_winner_per_head(store: PostgresStore, attempts: list[dict[str, object]]) -> None:
    won = [a for a in attempts if a["won"]]
    # exactly one winner per head: no two acknowledged appends expected the same head
    expected = [a["expected"] for a in won]
    assert len(expected) == len(set(expected))
    # nothing lost: every acknowledged event is stored, nothing else is
    stored = list(store.event_ids())
    assert sorted(stored) == sorted(str(a["id"]) for a in won)
    # the log verifies as a whole (checksums, links) and its heads are one chain's end
    data = b"".join(line + b"\n" for c in store.iter_raw() for line in c.lines)
    report = verify_bytes(data)
    assert report.problem is None and report.records == len(won)
    assert report.head == store.head().checksum
    # each event named the heads it read: with one winner per head the DAG is a chain
    assert len(store.heads()) == 1


def test_eight_writer_processes_one_winner_per_head(pg_url: str) -> None:
    log = fresh_log()
    store = PostgresStore.open(pg_url, log=log, create=True)
    try:
        attempts = run_appenders([f"{pg_url}?log={log}"] * 8, 12)
        assert sum(1 for a in attempts if a["won"]) == 96
        assert any(not a["won"] for a in attempts)  # they did contend
        check_one_winner_per_head(store, attempts)
    finally:
        store.close()
