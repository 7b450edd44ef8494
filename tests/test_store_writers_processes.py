"""Writers in real processes against one NDJSON log: concurrent appends without a
lease, a lease holder paused past its TTL (SIGSTOP/SIGCONT), SIGKILL at random
points. Invariants every time: nothing acknowledged is lost or doubled, nothing
stale is accepted, the log verifies after the next open. Bounded in time:
small counts, every wait with a timeout.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemalog.api import SchemaLog
from schemalog.log.store import NdjsonStore
from schemalog.log.store.verify import verify_log

WRITER = Path(__file__).with_name("writer_proc.py")
TIMEOUT = 120


def _env() -> dict[str, str]:
    env = dict(os.environ)
    pkg = str(Path(__file__).resolve().parents[1] / "pkg")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg, env.get("PYTHONPATH")) if p)
    return env


def _spawn(
    mode: str, log: Path, name: str, count: int, acks: Path, *lease: str
) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(WRITER), mode, str(log), name, str(count), str(acks), *lease]
    return subprocess.Popen(args, env=_env(), stderr=subprocess.PIPE)


def _wait(procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + TIMEOUT
    for p in procs:
        try:
            code = p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        err = p.stderr.read().decode() if p.stderr else ""
        assert code in (0, -signal.SIGKILL), f"writer exited {code}: {err}"


def _acked(acks: Path) -> list[str]:
    if not acks.exists():
        return []
    return [line for line in acks.read_text().split("\n") if line]


def _check(log: Path, acked: list[str]) -> list[str]:
    """The log opens and verifies; every acknowledged id is in it exactly once."""
    store = NdjsonStore.open(log)
    ids = list(store.event_ids())
    store.close()
    assert verify_log(log).ok
    assert len(ids) == len(set(ids)), "a record is stored twice"
    missing = set(acked) - set(ids)
    assert not missing, f"{len(missing)} acknowledged appends are not in the log"
    return ids


def test_concurrent_facade_writers_without_a_lease_never_share_a_prev(tmp_path: Path) -> None:
    """The issue's case: 4 processes appending through SchemaLog.open corrupted the log."""
    log = tmp_path / "log.ndjson"
    SchemaLog.open(log, create=True).tag("start")
    procs = [_spawn("facade", log, f"w{i}", 25, tmp_path / f"acks{i}") for i in range(4)]
    _wait(procs)
    acked = [a for i in range(4) for a in _acked(tmp_path / f"acks{i}")]
    assert len(acked) == 100
    ids = _check(log, acked)
    assert len(ids) == 101
    reopened = SchemaLog.open(log)  # replays without a stop
    assert reopened.position == 101 and reopened.view.stopped is None


@pytest.mark.parametrize("mode", ["store", "lease"])
def test_many_store_writers(tmp_path: Path, mode: str) -> None:
    """Without a lease: expected-head checks under the lock; with: the same plus fencing.

    (One log takes one kind: once a fenced writer appended, unfenced ones are FencedOut.)
    """
    log = tmp_path / "log.ndjson"
    NdjsonStore.open(log, create=True).close()
    lease = (str(tmp_path / "leases"), "5000") if mode == "lease" else ()
    procs = [_spawn(mode, log, f"w{i}", 40, tmp_path / f"w{i}", *lease) for i in range(5)]
    _wait(procs)
    acked = [a for i in range(5) for a in _acked(tmp_path / f"w{i}")]
    assert len(acked) == 5 * 40
    assert len(_check(log, acked)) == len(acked)


@pytest.mark.parametrize("trial", range(3))
def test_a_lease_holder_paused_past_its_ttl_is_fenced_out(tmp_path: Path, trial: int) -> None:
    """SIGSTOP the holder past its TTL, let another take the lease and write, SIGCONT."""
    log = tmp_path / "log.ndjson"
    NdjsonStore.open(log, create=True).close()
    leases = str(tmp_path / "leases")
    ttl = 400
    a_acks, b_acks = tmp_path / "a", tmp_path / "b"
    a = _spawn("holder", log, "a", 100_000, a_acks, leases, str(ttl))
    deadline = time.monotonic() + 30
    while len(_acked(a_acks)) < 5 + trial * 7:  # let it write a few (a different number each trial)
        assert time.monotonic() < deadline and a.poll() is None, "holder did not start"
        time.sleep(0.005)
    os.kill(a.pid, signal.SIGSTOP)
    try:
        time.sleep(ttl / 1000 + 0.2)  # its lease expires while it sleeps
        b = _spawn("lease", log, "b", 10, b_acks, leases, "60000")
        with contextlib.suppress(subprocess.TimeoutExpired):
            b.wait(timeout=3)  # if a was stopped holding the log's lock, b waits for it
    finally:
        os.kill(a.pid, signal.SIGCONT)
    _wait([b, a])
    a_lines = _acked(a_acks)
    assert a_lines[0] == "ready 1"
    assert a_lines[-1].startswith("fenced 1 "), a_lines[-3:]
    a_ids = a_lines[1:-1]
    b_ids = _acked(b_acks)
    assert len(b_ids) == 10
    ids = _check(log, a_ids + b_ids)
    first_b = min(ids.index(i) for i in b_ids)
    stale = [i for i in ids[first_b:] if i.startswith("a@")]
    assert not stale, f"the paused holder wrote {len(stale)} records after the new holder"
    assert len(ids) == len(a_ids) + len(b_ids)


def test_sigkill_inside_writes_leaves_torn_tails_that_the_next_writer_cuts(tmp_path: Path) -> None:
    """Each record is written in two halves 30 ms apart, so kills land inside writes (and
    inside the lock): the torn bytes must never reach a reader or sit under a later
    record, and the lock must not outlive its killed holder. Fails when open cuts a tail
    without the writers' lock (a live writer's record in progress is cut: an acknowledged
    record lost, or a writer refused), and when the lock is one that survives its holder
    (a lock file made with O_EXCL: the next writer waits forever). It does not catch an
    append that skips cutting a torn tail: the next record's pwrite at the end offset
    overwrites the torn half (shorter than a record) anyway."""
    log = tmp_path / "log.ndjson"
    NdjsonStore.open(log, create=True).close()
    rng = random.Random(1718)
    acks: list[Path] = []
    for round_ in range(6):
        procs = []
        for i in range(2):
            acks.append(tmp_path / f"t{round_}-{i}")
            procs.append(_spawn("torn", log, f"t{round_}x{i}", 30, acks[-1]))
        deadline = time.monotonic() + 60
        while not _acked(acks[-2]):  # it started writing
            assert time.monotonic() < deadline and procs[0].poll() is None, "writer did not start"
            time.sleep(0.005)
        time.sleep(rng.random() * 0.1)
        procs[0].kill()  # dies at a random point, mostly inside a write (the 30 ms halves)
        _wait(procs)
        _check(log, [a for f in acks for a in _acked(f)])
    quarantine = tmp_path / "log.quarantine.ndjson"
    torn = quarantine.read_text().count("\n") if quarantine.exists() else 0
    assert torn >= 1, "no kill landed inside a write: the test did not test anything"
    acked = [a for f in acks for a in _acked(f)]
    assert len(_check(log, acked)) >= len(acked)


@pytest.mark.parametrize("mode", ["store", "lease"])
def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path: Path, mode: str) -> None:
    log = tmp_path / "log.ndjson"
    NdjsonStore.open(log, create=True).close()
    rng = random.Random(f"1717{mode}")
    # a killed holder's lease expires by itself after the TTL
    lease = (str(tmp_path / "leases"), "300") if mode == "lease" else ()
    killed = 0
    acks: list[Path] = []
    for round_ in range(5):
        procs = []
        for i in range(3):
            acks.append(tmp_path / f"k{round_}-{i}")
            count = 400 if mode == "store" else 40  # a survivor runs to the end
            procs.append(_spawn(mode, log, f"k{round_}x{i}", count, acks[-1], *lease))
        time.sleep(0.3 + rng.random() * 0.5)  # start-up, then some appends
        for p in procs:
            if rng.random() < 0.8:
                time.sleep(rng.random() * 0.05)
                p.kill()
                killed += 1
        _wait(procs)
        # after each round: opens (quarantining a torn tail, if any) and verifies
        _check(log, [a for f in acks for a in _acked(f)])
    assert killed >= 5
    acked = [a for f in acks for a in _acked(f)]
    assert len(acked) > 20
    assert len(_check(log, acked)) >= len(acked)
