"""Snapshots: hash and coverage checks, atomic files, incremental replay costs the delta."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import schemalog.log.replay.batches as replay_batches
from schemalog.errors import InvalidState
from schemalog.log.replay import replay
from schemalog.log.snapshot import (
    Snapshot,
    SnapshotDir,
    SnapshotKey,
    checksum_at,
    replay_with_snapshots,
)
from schemalog.log.store import MemoryStore
from schemalog.model.schema import apply
from schemalog.synth.generator import generate

EVENTS = list(generate(300, origins=2, seed=3))
KEY = SnapshotKey(b"k" * 32)


pytestmark = pytest.mark.usefixtures("snapshot_key_outside_home")


def store_with(n: int) -> MemoryStore:
    store = MemoryStore()
    store.append(EVENTS[:n], expected=None)
    return store


def counting_apply(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def counted(state, event):  # type: ignore[no-untyped-def]
        calls.append(1)
        return apply(state, event)

    monkeypatch.setattr(replay_batches, "apply", counted)
    return calls


def test_incremental_snapshots_apply_only_the_delta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_apply(monkeypatch)
    store = store_with(100)
    first = replay_with_snapshots(store, tmp_path, key=KEY)
    assert first.applied == 100 and len(calls) == 100
    assert SnapshotDir(tmp_path, key=KEY).positions() == [100]
    store.append(EVENTS[100:130], expected=store.head().checksum)
    calls.clear()
    second = replay_with_snapshots(store, tmp_path, key=KEY)
    assert second.start_position == 100 and second.applied == 30 and len(calls) == 30
    assert any("started from snapshot" in w for w in second.warnings)
    assert SnapshotDir(tmp_path, key=KEY).positions() == [130, 100]
    calls.clear()
    again = replay_with_snapshots(store, tmp_path, key=KEY)  # nothing new: nothing applied or saved
    assert again.applied == 0 and not calls and again.state_hash == second.state_hash
    monkeypatch.undo()
    assert second.state_hash == replay(store).state_hash
    assert second.heads == replay(store).heads


def test_a_tampered_snapshot_is_ignored_with_a_warning(tmp_path: Path) -> None:
    store = store_with(120)
    snaps = SnapshotDir(tmp_path, key=KEY)
    good = replay(store_with(60))
    snaps.save(Snapshot.from_report(good))
    newer = Snapshot.from_report(replay(store_with(90)))
    path = snaps.save(newer)
    obj = json.loads(Path(path).read_bytes())
    obj["state"]["tables"][0]["name"] = "Tampered"
    Path(path).write_text(json.dumps(obj))
    report = replay_with_snapshots(store, snaps, save=False)
    assert report.start_position == 60 and report.applied == 60
    assert any("snapshot-90.json ignored" in w and "seal" in w for w in report.warnings)
    assert report.state_hash == replay(store).state_hash


def test_a_snapshot_of_another_log_or_beyond_it_is_ignored(tmp_path: Path) -> None:
    other = list(generate(80, origins=2, seed=99))
    foreign = MemoryStore()
    foreign.append(other, expected=None)
    snaps = SnapshotDir(tmp_path, key=KEY)
    snaps.save(Snapshot.from_report(replay(foreign)))  # covers 80 records of another log
    store = store_with(100)
    report = replay_with_snapshots(store, snaps, save=False)
    assert report.start_position == 0 and report.applied == 100
    assert any(
        "snapshot-80.json ignored" in w and "built on record 79" in w for w in report.warnings
    )
    short = store_with(50)
    report = replay_with_snapshots(short, snaps, save=False)
    assert report.start_position == 0
    assert any("the log is shorter" in w for w in report.warnings)


def test_a_snapshot_whose_state_breaks_an_invariant_is_ignored(tmp_path: Path) -> None:
    store = store_with(50)
    snap = Snapshot.from_report(replay(store))
    obj = snap.to_obj()
    obj["state_hash"] = "sha256-v1:" + "0" * 64  # sealed with the key, but the state hash lies
    from schemalog.encoding.codec import canonical_bytes

    with pytest.raises(InvalidState):
        Snapshot.from_obj(obj).state()
    sealed = {**obj, "seal": KEY.seal(obj)}
    Path(SnapshotDir(tmp_path, key=KEY).file(50)).write_bytes(canonical_bytes(sealed))
    report = replay_with_snapshots(store, tmp_path, save=False, key=KEY)
    assert report.start_position == 0 and any("state_hash" in w for w in report.warnings)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    snaps = SnapshotDir(tmp_path / "s", key=KEY)
    snap = Snapshot.from_report(replay(store_with(40)))
    snaps.save(snap)
    snaps.save(snap)  # overwrite in place
    assert sorted(os.listdir(tmp_path / "s")) == ["snapshot-40.json"]
    assert snaps.load(40) == snap
    (tmp_path / "s" / "snapshot-7.json").write_text("{not json")
    (tmp_path / "s" / "notes.txt").write_text("ignored")
    assert snaps.positions() == [40, 7]
    choice = snaps.latest_valid(checksum_at(store_with(40)))
    assert choice.snapshot == snap and not choice.warnings


def test_snapshot_at_zero_and_checksum_at() -> None:
    store = store_with(10)
    at = checksum_at(store)
    assert at(0) is None
    assert at(10) == store.head().checksum
    empty = Snapshot.from_report(replay([]))
    assert empty.position == 0 and empty.checksum_at_position is None


def test_a_resolution_appended_after_a_snapshot_is_not_missed(tmp_path: Path) -> None:
    """Losers of a resolution that arrives later lie before the snapshot: it must not be used."""
    from schemalog.encoding.codec import state_hash
    from schemalog.history.merge import replay_merged
    from test_replay_appends import open_then_resolved

    open_log, resolution, whole = open_then_resolved()
    store = MemoryStore()
    store.append(open_log, expected=None)
    replay_with_snapshots(store, tmp_path, key=KEY)  # a snapshot after both renames
    store.append(resolution, expected=store.head().checksum)  # a's Town wins
    report = replay_with_snapshots(store, tmp_path, key=KEY)
    assert report.state_hash == state_hash(replay_merged(whole).state)
    assert [t.name for t in report.state.tables.values()] == ["Town"]
    assert any("snapshots not used" in w for w in report.warnings)


class ReadCounter:
    """A store whose iter_raw counts the records it hands out before ``mark``."""

    def __init__(self, store: MemoryStore, mark: int) -> None:
        self.store, self.mark, self.before = store, mark, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def iter_raw(self, start: int = 0, max_chunk_bytes: int = 1 << 25):  # type: ignore[no-untyped-def]
        for chunk in self.store.iter_raw(start=start, max_chunk_bytes=max_chunk_bytes):
            self.before += max(0, min(self.mark, chunk.start + len(chunk.lines)) - chunk.start)
            yield chunk


def test_incremental_replay_reads_only_the_delta_with_duplicates(tmp_path: Path) -> None:
    """A log with concurrent duplicate creations and no resolution (merged by "reject"):
    the snapshot carries the duplicate scan, so the records before it are not read again
    (only record position-1, for the coverage check) and the result is a whole replay's."""
    from schemalog.history.merge import merge_events
    from schemalog.synth.replicas import synth_replicas

    events = []
    for seed in range(40):
        merged = merge_events(synth_replicas(3, 10, 30, seed, conflict_rate=0.5), "reject")
        whole = MemoryStore()
        whole.append(list(merged.events), expected=None)
        if replay(whole).skipped and any(s.kind == "duplicate" for s in replay(whole).skipped):
            events = list(merged.events)
            break
    assert events, "no seed gave a log with duplicates"
    half = len(events) // 2
    store = MemoryStore()
    store.append(events[:half], expected=None)
    first = replay_with_snapshots(store, tmp_path, key=KEY)
    assert SnapshotDir(tmp_path, key=KEY).load(half).scan is not None
    store.append(events[half:], expected=store.head().checksum)
    counted = ReadCounter(store, half - 1)
    second = replay_with_snapshots(counted, tmp_path, key=KEY)  # type: ignore[arg-type]
    assert second.start_position == half and counted.before == 0
    full = replay(store)
    assert second.state_hash == full.state_hash and first.position == half
    assert {s.event_id for s in second.skipped} | {s.event_id for s in first.skipped} == {
        s.event_id for s in full.skipped
    }


@pytest.mark.parametrize("saved_by", ["these rules", "older rules"])
def test_a_scan_saved_under_older_duplicate_rules_is_not_resumed(
    tmp_path: Path, saved_by: str
) -> None:
    """A snapshot's duplicate scan made under older rules (session 8's: no twins, no
    pruned adds) would decide the rest of the log otherwise: it is refused and the
    records before it are read again, so the replay is a whole one's. The log: two
    writers drop a FROM/TO pair, one adds it back and drops it again
    (test_merge_twins); the snapshot is cut just before that second drop, with its
    scan pruned there (as a long log's would be), where only the pruned adds tell
    that the second drop is no duplicate."""
    from schemalog.history.duplicate_state import RULES, StaleScan
    from schemalog.history.duplicates import DuplicateScanner
    from schemalog.history.merge import merge_events
    from test_merge_twins import _a_pair_dropped_again

    events, e = _a_pair_dropped_again()
    log = list(merge_events([events], "reject").events)
    cut = log.index(e["b_again"])
    store = MemoryStore()
    store.append(log[:cut], expected=None)
    snaps = SnapshotDir(tmp_path, key=KEY)
    replay_with_snapshots(store, snaps)
    snap = snaps.load(cut)
    scan = DuplicateScanner.from_obj(snap.scan)
    scan._prune()
    saved = scan.to_obj()
    assert saved["rules"] == RULES and saved["pruned_adds"]
    if saved_by == "older rules":  # what session 8 saved: no rules, twins or pruned adds
        for key in ("rules", "twins", "pruned_adds"):
            del saved[key]
    os.remove(snaps.file(cut))
    state = replay(store).state
    snaps.save(Snapshot.of(state, cut, snap.checksum_at_position, snap.heads, (), saved))
    store.append(log[cut:], expected=store.head().checksum)

    resumed = replay_with_snapshots(store, snaps, save=False)
    whole = replay(store)
    assert resumed.start_position == cut
    assert [s.event_id for s in whole.skipped] == [e["b_drop"].id]  # before the cut
    assert (resumed.state_hash, resumed.skipped) == (whole.state_hash, ())
    not_used = [w for w in resumed.warnings if "duplicate scan is not used" in w]
    if saved_by == "older rules":
        assert not_used == [
            f"snapshot at {cut}: its duplicate scan is not used (saved before rules were "
            f"versioned, these are rules {RULES}); the records before it are read again"
        ]
    else:
        assert not_used == []
    stale = {**saved, "rules": RULES - 1}
    with pytest.raises(StaleScan, match=f"saved under rules {RULES - 1}, these are rules {RULES}"):
        DuplicateScanner.from_obj(stale)
