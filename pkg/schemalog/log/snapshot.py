"""Snapshots: a replayed state saved with the log position it covers, for incremental replay.

A ``Snapshot`` holds the state (``schema.state_to_obj``), ``position`` (it
covers records ``[0, position)``), ``checksum_at_position`` (the checksum of
record ``position - 1``: the chain tip it was built on; None at 0), the DAG
heads and skipped event ids of that replay (so a replay resumed from it goes
on exactly as one uninterrupted replay would), ``state_hash`` and
``snapshot_hash`` (``sha256-v1:`` over the canonical bytes of all the other
fields).

``SnapshotDir`` keeps them as ``snapshot-<position>.json`` files, written
atomically (temp file in the same directory, flush + fsync, ``os.replace``).
``latest_valid(checksum_at)`` walks them newest first and returns the first
one that is valid: its file parses, its ``snapshot_hash`` matches, its state
rebuilds (``state_from_obj`` re-checks every invariant) to its
``state_hash``, and it covers this log: ``checksum_at(position)`` -- the
checksum of the log's record ``position - 1`` -- equals its
``checksum_at_position`` (a snapshot of another log, or of a log that was
rewritten or truncated since, does not). Every snapshot passed over leaves a
warning.

A snapshot may also carry ``scan``: the streaming duplicate scan
(duplicates.py) of its records, saved when the replay completed on a log with
no resolution. The effective stream of the records after it depends on that
scan, not on the records themselves, so they are not read again.

``replay_with_snapshots(store, directory)`` starts from the newest valid
snapshot, applies only the records after it, adds the warnings to the report
and (by default) saves a snapshot of the result: creating snapshot n+1 from
snapshot n costs the delta (plus writing the state and the scan, whose size is
bounded by the scan's pruning, not by the log), never the whole log. (A
snapshot without a scan -- an older one -- makes the replay read the records
before it once more, for their ids only.) A log with resolutions is replayed
whole: a resolution can make an event before the snapshot a loser.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemalog.encoding.codec import canonical_bytes, checksum, state_hash
from schemalog.errors import InvalidState, SchemalogError
from schemalog.history.duplicates import DuplicateScanner
from schemalog.log.effective import plan_of_chunks
from schemalog.log.replay import RawSource, ReplayReport, replay
from schemalog.log.store.errors import RecordTooLarge
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES
from schemalog.model.schema import SchemaState
from schemalog.model.state_json import state_from_obj, state_to_obj

__all__ = [
    "SNAPSHOT_FORMAT",
    "Choice",
    "Snapshot",
    "SnapshotDir",
    "checksum_at",
    "replay_with_snapshots",
]

SNAPSHOT_FORMAT = 1
_NAME_RE = re.compile(r"snapshot-(0|[1-9][0-9]*)\.json\Z")
_BODY_KEYS = frozenset(
    ["checksum_at_position", "format", "heads", "position", "skipped_ids", "state", "state_hash"]
)


@dataclass(frozen=True)
class Snapshot:
    state_obj: dict[str, Any]
    position: int
    checksum_at_position: str | None
    heads: tuple[str, ...]
    skipped_ids: tuple[str, ...]
    state_hash: str
    snapshot_hash: str
    scan: dict[str, Any] | None = None  # duplicates.DuplicateScanner.to_obj(), if any

    @staticmethod
    def _body(
        state_obj: dict[str, Any],
        position: int,
        checksum_at_position: str | None,
        heads: tuple[str, ...],
        skipped_ids: tuple[str, ...],
        state_hash_: str,
        scan: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {
            "checksum_at_position": checksum_at_position,
            "format": SNAPSHOT_FORMAT,
            "heads": list(heads),
            "position": position,
            "skipped_ids": list(skipped_ids),
            "state": state_obj,
            "state_hash": state_hash_,
        }
        if scan is not None:
            body["scan"] = scan
        return body

    def body(self) -> dict[str, Any]:
        return self._body(
            self.state_obj,
            self.position,
            self.checksum_at_position,
            self.heads,
            self.skipped_ids,
            self.state_hash,
            self.scan,
        )

    @classmethod
    def of(
        cls,
        state: SchemaState,
        position: int,
        checksum_at_position: str | None,
        heads: tuple[str, ...] = (),
        skipped_ids: tuple[str, ...] = (),
        scan: dict[str, Any] | None = None,
    ) -> Snapshot:
        obj = state_to_obj(state)
        sh = state_hash(state)
        heads, skipped_ids = tuple(sorted(heads)), tuple(sorted(skipped_ids))
        body = cls._body(obj, position, checksum_at_position, heads, skipped_ids, sh, scan)
        return cls(
            obj, position, checksum_at_position, heads, skipped_ids, sh,
            checksum(canonical_bytes(body)), scan,
        )  # fmt: skip

    @classmethod
    def from_report(cls, report: ReplayReport) -> Snapshot:
        """The snapshot of what a replay committed (with its duplicate scan, when it has one)."""
        scan = report.scanner.to_obj() if report.scanner is not None else None
        return cls.of(
            report.state,
            report.position,
            report.head,
            report.heads,
            tuple(report.skipped_ids),
            scan,
        )

    def to_obj(self) -> dict[str, Any]:
        return {**self.body(), "snapshot_hash": self.snapshot_hash}

    @classmethod
    def from_obj(cls, obj: object) -> Snapshot:
        """Parse and check the snapshot hash (not the state: see ``state``)."""
        if type(obj) is not dict or set(obj) - {"scan"} != _BODY_KEYS | {"snapshot_hash"}:
            raise InvalidState("snapshot", "not a snapshot object")
        if obj["format"] != SNAPSHOT_FORMAT or type(obj["format"]) is not int:
            raise InvalidState("format", f"unknown snapshot format {obj['format']!r}")
        body = {k: v for k, v in obj.items() if k != "snapshot_hash"}
        actual = checksum(canonical_bytes(body))
        if obj["snapshot_hash"] != actual:
            raise InvalidState(
                "snapshot_hash", f"is {obj['snapshot_hash']!r}, the content hashes to {actual}"
            )
        position = obj["position"]
        if type(position) is not int or position < 0:
            raise InvalidState("position", f"must be an int >= 0, got {position!r}")
        return cls(
            obj["state"],
            position,
            obj["checksum_at_position"],
            tuple(obj["heads"]),
            tuple(obj["skipped_ids"]),
            obj["state_hash"],
            obj["snapshot_hash"],
            obj.get("scan"),
        )

    def state(self) -> SchemaState:
        """Rebuild the state (every invariant re-checked) and check its hash."""
        state = state_from_obj(self.state_obj)
        actual = state_hash(state)
        if actual != self.state_hash:
            raise InvalidState("state_hash", f"is {self.state_hash}, the state hashes to {actual}")
        return state


@dataclass(frozen=True)
class Choice:
    """What ``latest_valid`` found: the snapshot and its rebuilt state, or None; warnings."""

    snapshot: Snapshot | None
    state: SchemaState | None
    warnings: tuple[str, ...]


class SnapshotDir:
    """Snapshots as ``snapshot-<position>.json`` files in one directory."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = os.fspath(path)
        if create:
            # the folder itself, never its parents (a missing parent is the caller's error)
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.path)

    def file(self, position: int) -> str:
        return os.path.join(self.path, f"snapshot-{position}.json")

    def positions(self) -> list[int]:
        """Positions of the snapshot files present, newest (largest) first."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        found = (_NAME_RE.match(n) for n in names)
        return sorted((int(m.group(1)) for m in found if m), reverse=True)

    def save(self, snapshot: Snapshot) -> str:
        """Write atomically: a reader sees the old file or the whole new one."""
        target = self.file(snapshot.position)
        tmp = os.path.join(self.path, f".snapshot-{snapshot.position}.{os.getpid()}.tmp")
        data = canonical_bytes(snapshot.to_obj())
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                with contextlib.suppress(OSError):  # Pyodide's MEMFS has no fsync
                    os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return target

    def load(self, position: int) -> Snapshot:
        """Read and hash-check one snapshot; raises InvalidState / OSError / ValueError."""
        with open(self.file(position), "rb") as f:
            obj = json.loads(f.read())
        snap = Snapshot.from_obj(obj)
        if snap.position != position:
            raise InvalidState("position", f"file name says {position}, content {snap.position}")
        return snap

    def latest_valid(self, checksum_at: Callable[[int], str | None]) -> Choice:
        """Newest snapshot that is intact and covers this log (see the module doc)."""
        warnings: list[str] = []
        for position in self.positions():
            where = self.file(position)
            try:
                snap = self.load(position)
                state = snap.state()
            except (OSError, ValueError, SchemalogError) as exc:
                warnings.append(f"snapshot {where} ignored: {exc}")
                continue
            try:
                actual = checksum_at(position)
            except _Beyond:
                warnings.append(f"snapshot {where} ignored: it covers {position} records, "
                                "the log is shorter")  # fmt: skip
                continue
            if actual != snap.checksum_at_position:
                warnings.append(
                    f"snapshot {where} ignored: it was built on record {position - 1} with "
                    f"checksum {snap.checksum_at_position}, the log's record has {actual}"
                )
                continue
            return Choice(snap, state, tuple(warnings))
        return Choice(None, None, tuple(warnings))


class _Beyond(Exception):
    """checksum_at: the log has fewer records than asked."""


def checksum_at(source: RawSource) -> Callable[[int], str | None]:
    """For a store: position -> checksum of its record ``position - 1`` (None at 0)."""

    def at(position: int) -> str | None:
        if position == 0:
            return None
        try:
            for chunk in source.iter_raw(start=position - 1, max_chunk_bytes=1 << 20):
                if chunk.start == position - 1 and chunk.lines:
                    value = json.loads(chunk.lines[0]).get("checksum")
                    return value if type(value) is str else None
                break
        except (ValueError, AttributeError, RecursionError, RecordTooLarge):
            return None  # unreadable record: matches no snapshot
        raise _Beyond()

    return at


def replay_with_snapshots(
    source: RawSource,
    directory: SnapshotDir | str | os.PathLike[str],
    *,
    save: bool = True,
    **options: Any,
) -> ReplayReport:
    """Replay from the newest valid snapshot; save one of the result (see module doc).

    A snapshot is saved only when the replay moved past the one it started
    from and did not stop: a stopped replay saves nothing, so the next run
    starts from the same snapshot and meets the same failure.
    """
    snaps = directory if isinstance(directory, SnapshotDir) else SnapshotDir(directory)
    budget = options.get("max_chunk_bytes", DEFAULT_CHUNK_BYTES)
    given_plan = options.pop("plan", None)
    choice = snaps.latest_valid(checksum_at(source))
    notes = list(choice.warnings)
    snap = choice.snapshot
    scanner = _scanner_of(snap, notes) if snap is not None and given_plan is None else None
    if snap is not None and scanner is not None:
        # Its scan says records [0, position) hold no resolution (a scan is saved only
        # then, module doc): the delta is all that is left to look at.
        plan = plan_of_chunks(lambda: source.iter_raw(start=snap.position, max_chunk_bytes=budget))
    else:
        plan = given_plan or plan_of_chunks(
            lambda: source.iter_raw(start=0, max_chunk_bytes=budget)
        )
    if plan.merged:
        # A resolution appended after a snapshot can make an event before it a
        # loser: the snapshot's state would still hold the loser's effect. A
        # snapshot records no losers, so a merged log is always replayed whole.
        if scanner is not None:  # the plan above saw the delta only
            plan = plan_of_chunks(lambda: source.iter_raw(start=0, max_chunk_bytes=budget))
        report = replay(source, plan=plan, **options)
        note = "merged log (resolutions): snapshots not used, replayed whole"
        return dataclasses.replace(report, warnings=(note, *report.warnings))
    options["plan"] = plan
    if snap is not None and choice.state is not None:
        notes.append(f"started from snapshot {snaps.file(snap.position)} ({snap.position} records)")
        report = replay(
            source,
            start_state=choice.state,
            start_position=snap.position,
            expected_prev=snap.checksum_at_position,
            start_heads=snap.heads,
            skipped_ids=snap.skipped_ids,
            start_scanner=scanner,
            **options,
        )
        start = snap.position
    else:
        report = replay(source, **options)
        start = 0
    report = dataclasses.replace(report, warnings=(*notes, *report.warnings))
    if save and report.stopped is None and report.position > start:
        snaps.save(Snapshot.from_report(report))
    return report


def _scanner_of(snap: Snapshot, notes: list[str]) -> DuplicateScanner | None:
    """The duplicate scan a snapshot saved, or None (then the replay re-reads its records)."""
    if snap.scan is None:
        return None
    try:
        return DuplicateScanner.from_obj(snap.scan)
    except (KeyError, TypeError, ValueError, AttributeError, SchemalogError) as exc:
        notes.append(f"snapshot at {snap.position}: its duplicate scan is unreadable ({exc}); "
                     "the records before it are read again")  # fmt: skip
        return None
