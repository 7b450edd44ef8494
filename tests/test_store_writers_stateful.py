"""A stateful test: writers (separate store handles, so separate OS locks), file
leases judged by a clock the test moves (pauses past the TTL), stale views,
faults (ENOSPC, EIO, failed fsync, a cut-back that fails), handles reopened as
after a crash -- against one NDJSON log.

Invariants after every step: a fresh open reads exactly the acknowledged
records in order (nothing acknowledged lost, nothing failed kept), the log
verifies, and no append was accepted with a token older than one accepted
before it (nothing stale).
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from schemalog.log.lease.file import FileLeaseStore
from schemalog.log.lease.port import Lease, LeaseHeld, LeaseLost
from schemalog.log.store import AppendConflict, FencedOut, NdjsonStore, StoreWriteFailed
from schemalog.log.store.verify import verify_log
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import Tag, new_event
from test_store_writers import FaultyOps

WRITERS = ("w1", "w2", "w3")
TTL = 1_000
NOW = 1_700_000_000_000
FAULTS = ("write", "write-partial", "fsync", "uncut")


class Writers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.path = self.dir / "log"
        self.now = NOW
        self.leases = FileLeaseStore(self.dir / "leases", lambda: self.now)
        self.handles = {w: self._open(w) for w in WRITERS}
        self.clocks = {w: HybridLogicalClock(w, lambda: self.now) for w in WRITERS}
        self.lease: dict[str, Lease | None] = dict.fromkeys(WRITERS)
        self.view: dict[str, str | None] = dict.fromkeys(WRITERS)  # head a writer last saw
        self.acked: list[tuple[str, int]] = []
        self.newest = 0  # newest token an accepted append carried
        self.pending_torn = False  # a cut-back failed: the next open/append quarantines

    def _open(self, writer: str) -> NdjsonStore:
        store = NdjsonStore.open(
            self.path, create=True, segment_bytes=2000, durable=False, now_ms=lambda: self.now
        )
        store.ops = FaultyOps()
        return store

    def teardown(self) -> None:
        for h in self.handles.values():
            h.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------ rules

    @rule(writer=st.sampled_from(WRITERS))
    def acquire(self, writer: str) -> None:
        with contextlib.suppress(LeaseHeld):
            self.lease[writer] = self.leases.acquire("log", writer, TTL)

    @rule(writer=st.sampled_from(WRITERS))
    def take_over(self, writer: str) -> None:
        """The holder pauses past its TTL (it still believes it holds); ``writer`` takes over."""
        self.now += TTL
        self.acquire(writer)

    @rule(writer=st.sampled_from(WRITERS))
    def renew(self, writer: str) -> None:
        lease = self.lease[writer]
        if lease is not None:
            with contextlib.suppress(LeaseLost):  # it keeps believing: fenced at append
                self.lease[writer] = self.leases.renew(lease)

    @rule(ms=st.integers(0, 3 * TTL))
    def pause(self, ms: int) -> None:
        self.now += ms

    @rule(writer=st.sampled_from(WRITERS))
    def look(self, writer: str) -> None:
        self.view[writer] = self.handles[writer].head().checksum

    @rule(writer=st.sampled_from(WRITERS), fault=st.sampled_from(FAULTS))
    def arm_fault(self, writer: str, fault: str) -> None:
        ops = self.handles[writer].ops
        assert isinstance(ops, FaultyOps)
        ops.write_error = ops.fsync_error = ops.truncate_error = None  # one fault at a time
        if fault == "fsync":
            ops.fsync_error = errno.EIO
            self.handles[writer].durable = True
        else:
            ops.write_error = errno.ENOSPC
            ops.partial = 0 if fault == "write" else 50
            if fault == "uncut":
                ops.truncate_error = errno.EIO

    @rule(writer=st.sampled_from(WRITERS))
    def reopen(self, writer: str) -> None:
        self.handles[writer].close()
        self.handles[writer] = self._open(writer)
        self.view[writer] = None
        self.pending_torn = False

    @rule(writer=st.sampled_from(WRITERS))
    def append_one(self, writer: str) -> None:
        """The common case, drawn more often: one event on the head as it is now."""
        self.append(writer, 1, True)

    @rule(writer=st.sampled_from(WRITERS), batch=st.integers(1, 3), fresh=st.booleans())
    def append(self, writer: str, batch: int, fresh: bool) -> None:
        """``fresh``: expect the head as it is now, else the head the writer last saw."""
        lease = self.lease[writer]
        if lease is None:
            return
        store = self.handles[writer]
        events = []
        parents = list(store.heads())
        for i in range(batch):
            tag = Tag(f"{writer}-{len(self.acked)}-{i}")
            events.append(new_event(self.clocks[writer], "ws", parents, tag))
            parents = [events[-1].id]
        expected = store.head().checksum if fresh else self.view[writer]
        ops = store.ops
        assert isinstance(ops, FaultyOps)
        armed = ops.write_error is not None or ops.fsync_error is not None
        uncut = ops.truncate_error is not None
        try:
            head = store.append(events, expected=expected, fencing_token=lease.token)
        except FencedOut as exc:
            assert exc.token == lease.token and exc.newest > lease.token
            assert exc.newest >= self.newest  # a failed write may have raised the fence
            return
        except AppendConflict as exc:
            assert exc.expected == expected != exc.actual
            self.view[writer] = exc.actual
            return
        except StoreWriteFailed as exc:
            assert armed
            # (cutting a torn tail left before meets the fault first: not restored either)
            assert exc.restored == (not uncut) or self.pending_torn
            self.pending_torn = self.pending_torn or not exc.restored
            ops.write_error = ops.fsync_error = ops.truncate_error = None
            store.durable = False
            return
        assert not armed, "an armed fault did not fail the append"
        assert lease.token >= self.newest, "a stale token was accepted"
        self.newest = lease.token
        self.acked.extend((e.id, lease.token) for e in events)
        self.view[writer] = head.checksum
        self.pending_torn = False  # the append cut a torn tail under the lock first

    # ------------------------------------------------ invariants

    @invariant()
    def the_log_is_what_was_acknowledged(self) -> None:
        if self.pending_torn:
            return  # a failed cut-back leaves a torn tail until the next append or open
        if not self.path.exists():
            return
        fresh = NdjsonStore.open(self.path, readonly=True)
        try:
            assert list(fresh.event_ids()) == [eid for eid, _ in self.acked]
        finally:
            fresh.close()
        assert verify_log(self.path).ok

    @invariant()
    def tokens_never_go_back(self) -> None:
        tokens = [t for _, t in self.acked]
        assert tokens == sorted(tokens)


TestWriters = Writers.TestCase
TestWriters.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
