"""Snapshots: a replayed state saved with the log position it covers, for incremental replay.

A ``Snapshot`` holds the state (``schema.state_to_obj``), ``position`` (it
covers records ``[0, position)``), ``checksum_at_position`` (the checksum of
record ``position - 1`` as the codec reads it: the chain tip it was built on;
None at 0), the DAG heads and skipped event ids of that replay (so a replay
resumed from it goes on exactly as one uninterrupted replay would) and
``state_hash``.

Sealed and bound. A snapshot file is its body plus ``seal``:
``hmac-sha256:`` + HMAC-SHA256 over the canonical bytes of the body, under a
key kept OUTSIDE the snapshot folder (``SnapshotKey``: given by the caller, or
the file named by ``$SCHEMALOG_SNAPSHOT_KEY``, else
``$XDG_CONFIG_HOME/schemalog/snapshot.key`` or ``~/.config/schemalog/
snapshot.key``, created on first use with 32 random bytes, mode 0600). Whoever
can write the snapshot folder but not read the key cannot make a snapshot we
use: an edited state, a relabelled position, a copied ``checksum_at_position``,
heads or scan, an id added to ``skipped_ids`` -- each breaks the seal. The
body also names the chain checksum at its position, and a snapshot is used
only when the log's record ``position - 1`` has exactly that checksum
(``checksum_at``, through ``codec.decode_record``): once the record checksum
is the cumulative chain (v2), that commits to the log's whole prefix, so a
snapshot of another log, or of a log rewritten or truncated since, is refused.

Bounded reads. A snapshot file is opened without following a symlink and
without blocking (``O_NOFOLLOW | O_NONBLOCK``: a FIFO opens at once), and
refused unless it is a regular file of at most ``max_bytes``
(``DEFAULT_MAX_SNAPSHOT_BYTES``) whose JSON nests at most ``max_depth`` deep
(checked before parsing: no RecursionError). The key file is read the same way.

``SnapshotDir`` keeps them as ``snapshot-<position>.json`` files, written
atomically (temp file in the same directory, flush + fsync, ``os.replace``).
``latest_valid(checksum_at)`` walks them newest first and returns the first
one that is valid: read within bounds, sealed under our key, its fields of
the right types, its state rebuilds (``state_from_obj`` re-checks every
invariant) to its ``state_hash``, and it covers this log. Every snapshot
passed over leaves a warning; a key that cannot be read or created leaves a
warning too, and the replay runs whole without saving (a snapshot is a
shortcut, never a reason to fail).

A snapshot may also carry ``scan``: the streaming duplicate scan
(duplicates.py) of its records, saved when the replay completed on a log with
no resolution. The effective stream of the records after it depends on that
scan, not on the records themselves, so they are not read again.

``replay_with_snapshots(store, directory)`` starts from the newest valid
snapshot, applies only the records after it, adds the warnings to the report
and (by default) saves a snapshot of the result: creating snapshot n+1 from
snapshot n costs the delta (plus writing the state and the scan, whose size is
bounded by the scan's pruning, not by the log), never the whole log. (A
snapshot without a scan makes the replay read the records before it once
more, for their ids only.) A log with resolutions is replayed whole: a
resolution can make an event before the snapshot a loser.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemalog.encoding.codec import DecodeFailure, canonical_bytes, decode_record, state_hash
from schemalog.errors import InvalidState, SchemalogError
from schemalog.history.duplicate_state import StaleScan
from schemalog.history.duplicates import DuplicateScanner
from schemalog.log.effective import plan_of_chunks, raw_reader
from schemalog.log.replay import RawSource, ReplayReport, replay
from schemalog.log.store.errors import RecordTooLarge
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES
from schemalog.model.schema import SchemaState
from schemalog.model.state_json import state_from_obj, state_to_obj

__all__ = [
    "DEFAULT_MAX_SNAPSHOT_BYTES",
    "DEFAULT_MAX_SNAPSHOT_DEPTH",
    "SNAPSHOT_FORMAT",
    "Choice",
    "Snapshot",
    "SnapshotDir",
    "SnapshotKey",
    "SnapshotKeyError",
    "checksum_at",
    "default_key_path",
    "replay_with_snapshots",
]

SNAPSHOT_FORMAT = 2  # 1: unkeyed snapshot_hash (ignored now, with a warning)
DEFAULT_MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_SNAPSHOT_DEPTH = 64
SEAL_PREFIX = "hmac-sha256:"
KEY_ENV = "SCHEMALOG_SNAPSHOT_KEY"
_NAME_RE = re.compile(r"snapshot-(0|[1-9][0-9]*)\.json\Z")
_BODY_KEYS = frozenset(
    ["checksum_at_position", "format", "heads", "position", "skipped_ids", "state", "state_hash"]
)
_KEY_RE = re.compile(rb"([0-9a-f]{64})\n?\Z")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the brackets


# ---------------------------------------------------------------- bounded reads


def _read_regular(path: str, max_bytes: int, what: str) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes``: never follows a
    symlink, never blocks on a FIFO; raises InvalidState(what, ...) otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InvalidState(what, f"cannot be opened: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidState(what, "is not a regular file")
        if info.st_size > max_bytes:
            raise InvalidState(what, f"holds {info.st_size} bytes, more than {max_bytes}")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:  # it grew while being read
            raise InvalidState(what, f"holds more than {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _nesting(data: bytes) -> int:
    """How deep the JSON text ``data`` nests (strings ignored), without parsing it."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, _BRACKETS)
    depth = deepest = 0
    for b in brackets:
        if b in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


# ---------------------------------------------------------------- the key


class SnapshotKeyError(SchemalogError):
    """The snapshot key at ``path`` cannot be used (``reason``)."""

    def __init__(self, path: str | None, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"snapshot key {path or '(given)'}: {reason}")


def default_key_path() -> str:
    """``$SCHEMALOG_SNAPSHOT_KEY``, else the user's config folder (module doc)."""
    given = os.environ.get(KEY_ENV)
    if given:
        return given
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "schemalog", "snapshot.key")


class SnapshotKey:
    """The HMAC-SHA256 key snapshots are sealed with (at least 16 bytes)."""

    def __init__(self, secret: bytes, path: str | None = None) -> None:
        if type(secret) is not bytes or len(secret) < 16:
            raise SnapshotKeyError(path, "a key is at least 16 bytes")
        self._secret = secret
        self.path = path

    def __repr__(self) -> str:
        return f"SnapshotKey(path={self.path!r})"  # never the secret

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> SnapshotKey:
        """The key in file ``path`` (64 hex digits), created (mode 0600) if absent."""
        where = os.fspath(path)
        try:
            data = _read_regular(where, 66, "key")
        except InvalidState as exc:
            if not os.path.lexists(where):
                return cls._create(where)
            raise SnapshotKeyError(where, exc.reason) from None
        m = _KEY_RE.match(data)
        if m is None:
            raise SnapshotKeyError(where, "is not 64 lower-case hex digits")
        return cls(bytes.fromhex(m.group(1).decode("ascii")), where)

    @classmethod
    def _create(cls, where: str) -> SnapshotKey:
        secret = os.urandom(32)
        try:
            os.makedirs(os.path.dirname(where) or ".", mode=0o700, exist_ok=True)
            fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return cls.load_or_create(where)
        except OSError as exc:
            raise SnapshotKeyError(where, f"cannot be created: {exc.strerror or exc}") from None
        try:
            os.write(fd, secret.hex().encode("ascii") + b"\n")
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            os.close(fd)
        return cls(secret, where)

    def seal(self, body: dict[str, Any]) -> str:
        mac = hmac.new(self._secret, canonical_bytes(body), "sha256").hexdigest()
        return SEAL_PREFIX + mac

    def verifies(self, body: dict[str, Any], seal: object) -> bool:
        return type(seal) is str and hmac.compare_digest(self.seal(body), seal)


# ---------------------------------------------------------------- the snapshot


def _strs(obj: dict[str, Any], name: str) -> tuple[str, ...]:
    value = obj[name]
    if type(value) is not list or any(type(x) is not str for x in value):
        raise InvalidState(name, "must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class Snapshot:
    state_obj: dict[str, Any]
    position: int
    checksum_at_position: str | None
    heads: tuple[str, ...]
    skipped_ids: tuple[str, ...]
    state_hash: str
    scan: dict[str, Any] | None = None  # duplicates.DuplicateScanner.to_obj(), if any

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
        return cls(
            state_to_obj(state), position, checksum_at_position, tuple(sorted(heads)),
            tuple(sorted(skipped_ids)), state_hash(state), scan,
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
        """The body (what the seal covers)."""
        body = {
            "checksum_at_position": self.checksum_at_position,
            "format": SNAPSHOT_FORMAT,
            "heads": list(self.heads),
            "position": self.position,
            "skipped_ids": list(self.skipped_ids),
            "state": self.state_obj,
            "state_hash": self.state_hash,
        }
        if self.scan is not None:
            body["scan"] = self.scan
        return body

    @classmethod
    def from_obj(cls, obj: object) -> Snapshot:
        """Parse a body, every field's type checked (not the state: see ``state``)."""
        if type(obj) is not dict or set(obj) - {"scan"} != _BODY_KEYS:
            raise InvalidState("snapshot", "not a snapshot body")
        if obj["format"] != SNAPSHOT_FORMAT or type(obj["format"]) is not int:
            raise InvalidState("format", f"unknown snapshot format {obj['format']!r}")
        position = obj["position"]
        if type(position) is not int or position < 0:
            raise InvalidState("position", f"must be an int >= 0, got {position!r}")
        at = obj["checksum_at_position"]
        if not (at is None if position == 0 else type(at) is str):
            raise InvalidState("checksum_at_position", "must be a string (null at position 0)")
        for name in ("state", "scan"):
            if name in obj and type(obj[name]) is not dict:
                raise InvalidState(name, "must be an object")
        if type(obj["state_hash"]) is not str:
            raise InvalidState("state_hash", "must be a string")
        return cls(
            obj["state"], position, at, _strs(obj, "heads"), _strs(obj, "skipped_ids"),
            obj["state_hash"], obj.get("scan"),
        )  # fmt: skip

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


KeySpec = SnapshotKey | bytes | str | os.PathLike[str] | None


class SnapshotDir:
    """Sealed snapshots as ``snapshot-<position>.json`` files in one directory.

    ``key``: a ``SnapshotKey``, its secret bytes, the path of a key file, or None
    for ``default_key_path()``; a key file is read (or created) at first use and
    must lie outside this directory.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        key: KeySpec = None,
        max_bytes: int = DEFAULT_MAX_SNAPSHOT_BYTES,
        max_depth: int = DEFAULT_MAX_SNAPSHOT_DEPTH,
    ) -> None:
        self.path = os.fspath(path)
        self.max_bytes, self.max_depth = max_bytes, max_depth
        self._key_spec = key
        self._key: SnapshotKey | None = None
        if create:
            # the folder itself, never its parents (a missing parent is the caller's error)
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.path)

    @property
    def key(self) -> SnapshotKey:
        """The sealing key (loaded or created now); raises SnapshotKeyError."""
        if self._key is None:
            spec = self._key_spec
            if isinstance(spec, SnapshotKey):
                self._key = spec
            elif isinstance(spec, bytes):
                self._key = SnapshotKey(spec)
            else:
                where = default_key_path() if spec is None else os.fspath(spec)
                inside = os.path.realpath(where)
                folder = os.path.realpath(self.path)
                if os.path.commonpath([inside, folder]) == folder:
                    raise SnapshotKeyError(where, f"lies inside the snapshot folder {self.path}")
                self._key = SnapshotKey.load_or_create(where)
        return self._key

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
        """Seal and write atomically: a reader sees the old file or the whole new one."""
        target = self.file(snapshot.position)
        tmp = os.path.join(self.path, f".snapshot-{snapshot.position}.{os.getpid()}.tmp")
        body = snapshot.to_obj()
        data = canonical_bytes({**body, "seal": self.key.seal(body)})
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
        """Read (bounded), check the seal, parse one snapshot; raises InvalidState."""
        data = _read_regular(self.file(position), self.max_bytes, "file")
        depth = _nesting(data)
        if depth > self.max_depth:
            raise InvalidState("file", f"nests {depth} deep, more than {self.max_depth}")
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise InvalidState("file", f"is not JSON: {exc}") from None
        if type(obj) is not dict or "seal" not in obj:
            old = type(obj) is dict and obj.get("format") == 1
            raise InvalidState("seal", "missing" + (" (an unkeyed format-1 snapshot)" * old))
        body = {k: v for k, v in obj.items() if k != "seal"}
        if not self.key.verifies(body, obj["seal"]):
            raise InvalidState("seal", "does not verify under this snapshot key")
        snap = Snapshot.from_obj(body)
        if snap.position != position:
            raise InvalidState("position", f"file name says {position}, content {snap.position}")
        return snap

    def latest_valid(self, checksum_at: Callable[[int], str | None]) -> Choice:
        """Newest snapshot that is intact, sealed and covers this log (module doc)."""
        warnings: list[str] = []
        for position in self.positions():
            where = self.file(position)
            try:
                snap = self.load(position)
                state = snap.state()
            except (OSError, ValueError, RecursionError, SchemalogError) as exc:
                if isinstance(exc, SnapshotKeyError):
                    raise
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
    """For a store: position -> the checksum of its record ``position - 1`` as the codec
    verifies it (None at 0, and for a record that does not decode: it matches nothing)."""

    def at(position: int) -> str | None:
        if position == 0:
            return None
        try:
            for chunk in source.iter_raw(start=position - 1, max_chunk_bytes=1 << 20):
                if chunk.start == position - 1 and chunk.lines:
                    record = decode_record(chunk.lines[0], position - 1)
                    return None if isinstance(record, DecodeFailure) else record.checksum
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
    key: KeySpec = None,
    **options: Any,
) -> ReplayReport:
    """Replay from the newest valid snapshot; save one of the result (see module doc).

    ``key`` as for ``SnapshotDir`` (when ``directory`` is a path). A snapshot is
    saved only when the replay moved past the one it started from and did not
    stop: a stopped replay saves nothing, so the next run starts from the same
    snapshot and meets the same failure. A key that cannot be read or created
    is a warning: no snapshot is used or saved.
    """
    snaps = directory if isinstance(directory, SnapshotDir) else SnapshotDir(directory, key=key)
    budget = options.get("max_chunk_bytes", DEFAULT_CHUNK_BYTES)
    given_plan = options.pop("plan", None)
    try:
        snaps.key  # noqa: B018 -- load (or create) it now: without it, no snapshot at all
        choice = snaps.latest_valid(checksum_at(source))
    except SnapshotKeyError as exc:
        choice, save = Choice(None, None, (f"snapshots not used: {exc}",)), False
    notes = list(choice.warnings)
    snap = choice.snapshot
    scanner = _scanner_of(snap, notes) if snap is not None and given_plan is None else None
    if snap is not None and scanner is not None:
        # Its scan says records [0, position) hold no resolution (a scan is saved only
        # then, module doc): the delta is all that is left to look at.
        plan = plan_of_chunks(raw_reader(source, snap.position, budget))
    else:
        plan = given_plan or plan_of_chunks(raw_reader(source, 0, budget))
    if plan.merged:
        # A resolution appended after a snapshot can make an event before it a
        # loser: the snapshot's state would still hold the loser's effect. A
        # snapshot records no losers, so a merged log is always replayed whole.
        if scanner is not None:  # the plan above saw the delta only
            plan = plan_of_chunks(raw_reader(source, 0, budget))
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
    except StaleScan as exc:  # (a ValueError)
        notes.append(f"snapshot at {snap.position}: its duplicate scan is not used ({exc}); "
                     "the records before it are read again")  # fmt: skip
        return None
    except (KeyError, TypeError, ValueError, AttributeError, SchemalogError) as exc:
        notes.append(f"snapshot at {snap.position}: its duplicate scan is unreadable ({exc}); "
                     "the records before it are read again")  # fmt: skip
        return None
