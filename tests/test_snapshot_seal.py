"""Snapshots an attacker cannot forge: keyed seal, bound to the log, bounded reads.

Each case is one the issue found used (or crashing, or hanging) on the
unkeyed format: an edited state re-hashed, a 100-record state relabelled as
250 with the real ``checksum_at_position``, heads and scan copied in, an id
added to ``skipped_ids``, deeply nested JSON, a FIFO in the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemalog.cli import main
from schemalog.encoding.codec import canonical_bytes, checksum
from schemalog.log.replay import ReplayReport, replay
from schemalog.log.snapshot import (
    Snapshot,
    SnapshotDir,
    SnapshotKey,
    checksum_at,
    default_key_path,
    replay_with_snapshots,
)
from schemalog.log.store import MemoryStore
from schemalog.synth.generator import generate, write_log

EVENTS = list(generate(300, origins=1, seed=5))
KEY = SnapshotKey(b"s" * 32)


pytestmark = pytest.mark.usefixtures("snapshot_key_outside_home")


@contextlib.contextmanager
def no_hang(seconds: int = 20) -> Iterator[None]:
    """Fail instead of hanging the suite (a read blocking on a FIFO)."""

    def hung(*_: object) -> None:
        raise AssertionError(f"blocked for {seconds} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def store_with(n: int) -> MemoryStore:
    store = MemoryStore()
    store.append(EVENTS[:n], expected=None)
    return store


def saved(tmp_path: Path, n: int) -> tuple[SnapshotDir, Snapshot, dict[str, object]]:
    snaps = SnapshotDir(tmp_path / "snaps", key=KEY)
    snap = Snapshot.from_report(replay(store_with(n)))
    path = snaps.save(snap)
    return snaps, snap, json.loads(Path(path).read_bytes())


def used(report: ReplayReport) -> int:
    return report.start_position


def ignored(report: ReplayReport, name: str, why: str) -> bool:
    return any(name in w and "ignored" in w and why in w for w in report.warnings)


def test_a_saved_snapshot_is_sealed_and_used(tmp_path: Path) -> None:
    snaps, snap, obj = saved(tmp_path, 100)
    assert str(obj["seal"]).startswith("hmac-sha256:") and "snapshot_hash" not in obj
    assert snaps.load(100) == snap
    report = replay_with_snapshots(store_with(300), snaps, save=False)
    assert used(report) == 100 and report.state_hash == replay(store_with(300)).state_hash


def _write(snaps: SnapshotDir, position: int, obj: dict[str, object]) -> None:
    Path(snaps.file(position)).write_bytes(canonical_bytes(obj))


def test_an_edited_state_resealed_without_the_key_is_ignored(tmp_path: Path) -> None:
    snaps, _, obj = saved(tmp_path, 100)
    body = {k: v for k, v in obj.items() if k != "seal"}
    body["state"]["tables"][0]["name"] = "Forged"  # type: ignore[index]
    # the attacker recomputes everything computable: the state hash, and seals with
    # a key of their own (or re-hashes, as the unkeyed format allowed)
    from schemalog.encoding.codec import state_hash
    from schemalog.model.state_json import state_from_obj

    body["state_hash"] = state_hash(state_from_obj(body["state"]))
    for seal in (SnapshotKey(b"x" * 32).seal(body), checksum(canonical_bytes(body))):
        _write(snaps, 100, {**body, "seal": seal})
        report = replay_with_snapshots(store_with(300), snaps, save=False)
        assert used(report) == 0 and ignored(report, "snapshot-100.json", "seal")
        assert report.state_hash == replay(store_with(300)).state_hash


def test_a_relabelled_snapshot_is_ignored(tmp_path: Path) -> None:
    """The 100-record state under position 250, with the real checksum, heads and scan."""
    snaps, _, obj = saved(tmp_path, 100)
    real = Snapshot.from_report(replay(store_with(250))).to_obj()
    body = {k: v for k, v in obj.items() if k != "seal"}
    body.update(
        position=250,
        checksum_at_position=checksum_at(store_with(300))(250),
        heads=real["heads"],
    )
    if "scan" in real:
        body["scan"] = real["scan"]
    os.unlink(snaps.file(100))
    for seal in (obj["seal"], KEY.seal({"other": 1}), checksum(canonical_bytes(body))):
        _write(snaps, 250, {**body, "seal": seal})
        report = replay_with_snapshots(store_with(300), snaps, save=False)
        assert used(report) == 0 and ignored(report, "snapshot-250.json", "seal")
        assert report.state_hash == replay(store_with(300)).state_hash
    # a genuine sealed snapshot renamed to another position is refused too
    os.unlink(snaps.file(250))
    snaps.save(Snapshot.from_report(replay(store_with(100))))
    os.rename(snaps.file(100), snaps.file(250))
    report = replay_with_snapshots(store_with(300), snaps, save=False)
    assert used(report) == 0 and ignored(report, "snapshot-250.json", "file name says 250")


def test_an_id_added_to_skipped_ids_is_ignored(tmp_path: Path) -> None:
    snaps, _, obj = saved(tmp_path, 100)
    obj["skipped_ids"] = [EVENTS[150].id]  # would make the replay skip a good event
    _write(snaps, 100, obj)
    report = replay_with_snapshots(store_with(300), snaps, save=False)
    assert used(report) == 0 and ignored(report, "snapshot-100.json", "seal")
    assert report.state_hash == replay(store_with(300)).state_hash and not report.skipped


def test_a_sealed_snapshot_of_another_log_is_refused_by_the_chain_checksum(
    tmp_path: Path,
) -> None:
    snaps = SnapshotDir(tmp_path / "snaps", key=KEY)
    other = MemoryStore()
    other.append(list(generate(120, origins=1, seed=77)), expected=None)
    snaps.save(Snapshot.from_report(replay(other)))  # genuinely sealed, another log
    report = replay_with_snapshots(store_with(300), snaps, save=False)
    assert used(report) == 0 and ignored(report, "snapshot-120.json", "built on record 119")


def test_the_binding_is_the_checksum_the_codec_verifies(tmp_path: Path) -> None:
    """checksum_at reads record position-1 through the codec: a record whose checksum
    field was kept but whose event changed matches no snapshot."""
    log = tmp_path / "log.ndjson"
    write_log(log, 60, seed=1)
    from schemalog.log.store.ndjson import NdjsonStore

    with contextlib.closing(NdjsonStore.open(log, readonly=True, verify=False)) as store:
        at = checksum_at(store)
        assert at(60) == replay(store).head and at(0) is None
    lines = log.read_bytes().splitlines(keepends=True)
    assert b'"workspace":"' in lines[59]
    lines[59] = lines[59].replace(b'"workspace":"', b'"workspace":"x', 1)  # checksum field kept
    log.write_bytes(b"".join(lines))
    with contextlib.closing(NdjsonStore.open(log, readonly=True, verify=False)) as store:
        assert checksum_at(store)(60) is None


def test_deep_nesting_and_an_oversized_file_are_ignored(tmp_path: Path) -> None:
    snaps, _, _ = saved(tmp_path, 100)
    Path(snaps.file(200)).write_bytes(b"[" * 200_000 + b"]" * 200_000)
    Path(snaps.file(150)).write_bytes(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    report = replay_with_snapshots(store_with(300), snaps, save=False)
    assert ignored(report, "snapshot-200.json", "nests 200000 deep")
    assert ignored(report, "snapshot-150.json", "nests 100000 deep")
    assert used(report) == 100  # the good one below them is still used
    small = SnapshotDir(snaps.path, key=KEY, max_bytes=1000)
    report = replay_with_snapshots(store_with(300), small, save=False)
    assert used(report) == 0 and ignored(report, "snapshot-100.json", "more than 1000")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_a_directory_or_a_symlink_in_the_folder_is_ignored_without_blocking(
    tmp_path: Path,
) -> None:
    snaps, _, _ = saved(tmp_path, 100)
    os.mkfifo(snaps.file(250))
    os.mkdir(snaps.file(200))
    genuine = SnapshotDir(tmp_path / "elsewhere", key=KEY)
    os.symlink(genuine.save(Snapshot.from_report(replay(store_with(150)))), snaps.file(150))
    with no_hang():
        report = replay_with_snapshots(store_with(300), snaps, save=False)
    assert ignored(report, "snapshot-250.json", "not a regular file")
    assert ignored(report, "snapshot-200.json", "not a regular file")
    assert ignored(report, "snapshot-150.json", "cannot be opened")
    assert used(report) == 100


def test_an_unkeyed_format_1_snapshot_is_ignored(tmp_path: Path) -> None:
    snaps, _, obj = saved(tmp_path, 100)
    body = {k: v for k, v in obj.items() if k != "seal"}
    body["format"] = 1
    _write(snaps, 100, {**body, "snapshot_hash": checksum(canonical_bytes(body))})
    report = replay_with_snapshots(store_with(300), snaps, save=False)
    assert used(report) == 0 and ignored(report, "snapshot-100.json", "unkeyed format-1")


# -- the key ---------------------------------------------------------------------


def test_the_key_is_created_on_first_use_outside_the_folder_and_reused(tmp_path: Path) -> None:
    key_file = Path(default_key_path())
    assert not key_file.exists()
    first = replay_with_snapshots(store_with(100), tmp_path / "snaps")
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes().strip()) == 64
    assert os.listdir(tmp_path / "snaps") == ["snapshot-100.json"]
    again = replay_with_snapshots(store_with(300), tmp_path / "snaps", save=False)
    assert used(again) == 100 and again.state_hash == replay(store_with(300)).state_hash
    # under another key the same snapshot is ignored
    other = replay_with_snapshots(store_with(300), tmp_path / "snaps", save=False, key=KEY)
    assert used(other) == 0 and ignored(other, "snapshot-100.json", "seal")
    assert first.state_hash == replay(store_with(100)).state_hash


@pytest.mark.parametrize("bad", ["inside", "garbage", "short", "directory", "fifo", "symlink"])
def test_a_key_that_cannot_be_used_is_a_warning_and_no_snapshot(tmp_path: Path, bad: str) -> None:
    folder = tmp_path / "snaps"
    saved(tmp_path, 100)
    key = tmp_path / "key"
    if bad == "inside":
        key = folder / "snapshot.key"
    elif bad == "garbage":
        key.write_bytes(b"not a key at all" * 4)
    elif bad == "short":
        key.write_bytes(b"ab" * 8 + b"\n")
    elif bad == "directory":
        key.mkdir()
    elif bad == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs FIFOs")
        os.mkfifo(key)
    else:
        target = tmp_path / "real.key"
        target.write_bytes(b"ab" * 32 + b"\n")
        key.symlink_to(target)
    before = sorted(os.listdir(folder))
    with no_hang():
        report = replay_with_snapshots(store_with(300), folder, key=str(key))
    assert used(report) == 0 and report.state_hash == replay(store_with(300)).state_hash
    assert any(w.startswith("snapshots not used: snapshot key") for w in report.warnings)
    assert sorted(os.listdir(folder)) == before  # nothing saved either


def test_cli_replay_takes_a_key_file_and_warns_on_a_forged_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, snaps, key = tmp_path / "log.ndjson", tmp_path / "snaps", tmp_path / "my.key"
    write_log(log, 150, seed=2)
    argv = ["replay", str(log), "--snapshots", str(snaps), "--snapshot-key", str(key)]
    assert main(argv) == 0 and key.exists()
    path = snaps / "snapshot-150.json"
    obj = json.loads(path.read_bytes())
    obj["state"]["tables"][0]["name"] = "Forged"
    path.write_bytes(canonical_bytes(obj))
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["start_position"] == 0 and "Forged" not in out
    assert any("seal" in w for w in report["warnings"]) and "Traceback" not in err
    assert main(["replay", str(log), "--snapshot-key", str(key)]) == 2  # needs --snapshots
