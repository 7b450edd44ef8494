"""Lease lock: memory and file adapters, and fenced appends through the event store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from schemalog.log.lease.file import FileLeaseStore
from schemalog.log.lease.port import Lease, LeaseHeld, LeaseLost, MemoryLeaseStore
from schemalog.log.store import FencedOut, MemoryStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Tag, new_event

TTL = 1_000


def _contract(make: object) -> None:
    now = [10_000]
    store = make(lambda: now[0])  # type: ignore[operator]
    a = store.acquire("log", "alice", TTL)
    assert a.token == 1 and a.expires_at_ms == 11_000
    with pytest.raises(LeaseHeld) as info:
        store.acquire("log", "bob", TTL)
    assert (info.value.holder, info.value.since_ms, info.value.expires_at_ms) == (
        "alice",
        10_000,
        11_000,
    )
    now[0] += 500
    a = store.renew(a)
    assert a.token == 1 and a.expires_at_ms == 11_500
    now[0] = 11_500  # alice died: expiry by itself, judged by the store clock
    b = store.acquire("log", "bob", TTL)
    assert b.token == 2
    with pytest.raises(LeaseLost):
        store.renew(a)
    store.release(a)  # a superseded lease frees nothing
    with pytest.raises(LeaseHeld):
        store.acquire("log", "carol", TTL)
    store.release(b)
    c = store.acquire("log", "carol", TTL)
    assert c.token == 3  # tokens never go back, also after release
    with pytest.raises(LeaseLost):
        store.renew(b)
    assert store.acquire("other", "bob", TTL).token == 1  # per resource


def test_memory_lease_contract() -> None:
    _contract(MemoryLeaseStore)


def test_file_lease_contract_and_tokens_persist(tmp_path: Path) -> None:
    _contract(lambda now: FileLeaseStore(tmp_path, now))
    again = FileLeaseStore(tmp_path, lambda: 10**9)
    assert again.acquire("log", "dave", TTL).token == 4


def test_file_lease_two_processes_contend(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from schemalog.log.lease.port import LeaseHeld
        from schemalog.log.lease.file import FileLeaseStore
        store = FileLeaseStore({str(tmp_path)!r})
        me = sys.argv[1]
        deadline = time.time() + 1.5
        while time.time() < deadline:
            try:
                lease = store.acquire("log", me, 5_000)
            except LeaseHeld:
                time.sleep(0.002)
                continue
            with open({str(tmp_path / "grants")!r}, "a") as fh:
                fh.write(f"{{lease.token}} {{me}} start\\n"); fh.flush()
                time.sleep(0.01)
                fh.write(f"{{lease.token}} {{me}} end\\n"); fh.flush()
            store.release(lease)
            time.sleep(0.001)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, name], cwd=tmp_path)
        for name in ("p1", "p2")
    ]
    for p in procs:
        assert p.wait(timeout=30) == 0
    lines = (tmp_path / "grants").read_text().split("\n")[:-1]
    rows = [line.split() for line in lines]
    # strictly alternating start/end of one token at a time: never two holders at once
    for start, end in zip(rows[::2], rows[1::2], strict=True):
        assert start[2] == "start" and end[2] == "end" and start[:2] == end[:2]
    tokens = [int(r[0]) for r in rows[::2]]
    assert tokens == sorted(set(tokens))
    assert {r[1] for r in rows} == {"p1", "p2"}


# ---------------------------------------------------------------- stateful


HOLDERS = ("h1", "h2", "h3")


class FencedAppends(RuleBasedStateMachine):
    """Holders with skewed clocks acquire, renew, pause, crash and append through a fenced store."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000  # the lease store's clock
        self.leases = MemoryLeaseStore(lambda: self.now)
        self.store = MemoryStore()
        self.skew = {h: 0 for h in HOLDERS}
        self.clocks = {
            h: HybridLogicalClock(h, lambda h=h: self.now + self.skew[h] + 10**9)  # type: ignore[misc]
            for h in HOLDERS
        }
        self.held: dict[str, Lease | None] = dict.fromkeys(HOLDERS)
        self.acked: list[tuple[str, str, int]] = []  # (event id, holder, token)
        self.max_token = 0

    @rule(holder=st.sampled_from(HOLDERS), skew=st.integers(-3 * TTL, 3 * TTL))
    def set_skew(self, holder: str, skew: int) -> None:
        self.skew[holder] = skew

    @rule(holder=st.sampled_from(HOLDERS))
    def acquire(self, holder: str) -> None:
        live = self.leases.current("log")
        try:
            lease = self.leases.acquire("log", holder, TTL)
        except LeaseHeld as exc:
            assert live is not None and exc.holder == live.holder != holder
            return
        assert lease.token > self.max_token
        self.max_token = lease.token
        self.held[holder] = lease

    @rule(holder=st.sampled_from(HOLDERS))
    def renew(self, holder: str) -> None:
        lease = self.held[holder]
        if lease is None:
            return
        try:
            self.held[holder] = self.leases.renew(lease)
        except LeaseLost:
            assert self.leases.current("log") != lease

    @rule(holder=st.sampled_from(HOLDERS))
    def release(self, holder: str) -> None:
        lease = self.held[holder]
        if lease is not None:
            self.leases.release(lease)
            self.held[holder] = None

    @rule(holder=st.sampled_from(HOLDERS))
    def crash(self, holder: str) -> None:
        self.held[holder] = None  # forgets its lease, never releases it

    @rule(ms=st.integers(0, 3 * TTL))
    def pause(self, ms: int) -> None:
        self.now += ms

    @precondition(lambda self: any(self.held.values()))
    @rule(holder=st.sampled_from(HOLDERS))
    def append(self, holder: str) -> None:
        lease = self.held[holder]
        if lease is None:
            return
        # the holder judges by ITS clock (skewed): it may wrongly believe it still holds
        if self.now + self.skew[holder] >= lease.expires_at_ms:
            return
        head = self.store.head()
        parents = list(self.store.heads())
        event = new_event(self.clocks[holder], "ws", parents, Tag(f"t{len(self.acked)}"))
        try:
            self.store.append([event], expected=head.checksum, fencing_token=lease.token)
        except FencedOut as exc:
            assert exc.newest > lease.token
            return
        self.acked.append((event.id, holder, lease.token))

    @invariant()
    def one_holder_per_epoch(self) -> None:
        by_token: dict[int, set[str]] = {}
        for _, holder, token in self.acked:
            by_token.setdefault(token, set()).add(holder)
        assert all(len(hs) == 1 for hs in by_token.values())
        tokens = [t for _, _, t in self.acked]
        assert tokens == sorted(tokens)  # an older epoch never appends after a newer one

    @invariant()
    def acknowledged_appends_are_in_the_log(self) -> None:
        ids = set(self.store.event_ids())
        assert all(eid in ids for eid, _, _ in self.acked)
        assert len(self.store) == len(self.acked)


TestFencedAppends = FencedAppends.TestCase
TestFencedAppends.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
