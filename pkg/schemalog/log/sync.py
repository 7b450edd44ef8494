"""A local log kept in step with a served one: pull, push, offline writes merged on reconnect.

A browser tab (or a notebook) writes to its LOCAL log first (IndexedDB: the
page works offline) and shares a REMOTE one (``HttpStore`` to ``schemalog
serve``). ``LogSync`` holds the two store ports and, one ``round()`` at a
time, brings them to the same bytes:

* The two logs share a prefix: the first ``agreed.position`` records are
  byte-identical (the hash chain is cumulative, so equal checksums at one
  position mean equal logs up to it). Each round re-reads both logs after
  that prefix: the local tail ``L`` (this side's writes the remote lacks) and
  the remote tail ``R`` (records of others this side lacks).
* ``R`` empty: push ``L`` with ``expected`` = the agreed head (one append, the
  fencing token with it). The remote then holds exactly our bytes.
* ``L`` empty: pull ``R``: append its events to the local log, which then
  holds exactly the remote's bytes (same events, same chain).
* Both non-empty (writes made while offline, or a race with another pusher):
  the local events the remote does not have are pushed as concurrent writes
  (``concurrent_writes.append_merged``: merge's analysis over the remote log
  plus them, the conflicts resolved with the tab's ``strategy`` and the Merge
  events appended in the same batch, as a tab's stale-view write does). Then
  the local log is REPLACED by a copy of the remote one (``replace_local``
  gives a fresh empty store; the copy is appended into it). Why replace and
  not append what is missing: replay applies records in log order, and two
  concurrent changes to one table (two added properties) give a different
  property order -- a different state hash and Kuzu catalog -- in a different
  order. Only one order can be the truth; the served log's is. Nothing is
  lost by the replacement: every local event is in the remote (checked) and
  the local head is checked unchanged just before.

A round meeting an unreachable remote is a value (``online=False`` with the
reason), not an error: the local log goes on taking writes and the next round
pushes them. An append that loses a race (``AppendConflict``) starts the
round again, at most ``attempts`` times.

What the caller (the workspace driver) does with a round: ``pulled`` records
are picked up by ``Workspace.sync()``; after ``replaced`` the workspace adopts
``sync.local`` and replays it whole (``Workspace.adopt_store``).

Limits, said plainly: the replacement is two steps (delete, copy); a crash in
between leaves a local log that is a prefix of the remote (the next round
completes it). Two tabs of one profile sharing the local log must not replace
it at the same time (the driver runs rounds in one tab's queue).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from schemalog.encoding.codec import decode_record_or_raise
from schemalog.errors import SchemalogError
from schemalog.history.merge import Strategy
from schemalog.log.concurrent_writes import ATTEMPTS, Written, append_merged, check_strategy
from schemalog.log.store.base import line_checksum, line_id
from schemalog.log.store.errors import AppendConflict, StoreUnavailable
from schemalog.log.store.port import EventStore, Head
from schemalog.model.events import Event

__all__ = ["LogSync", "RemoteRewritten", "SyncFailed", "SyncRound"]

BATCH = 500  # events per append when copying


class RemoteRewritten(SchemalogError):
    """The served log no longer holds the record both sides agreed on at ``position``."""

    def __init__(self, remote: str, position: int, expected: str, actual: str | None) -> None:
        self.remote = remote
        self.position = position
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{remote}: record {position} was {expected} when both logs agreed, now "
            f"{actual or 'missing'}: the served log was rewritten"
        )


class SyncFailed(SchemalogError):
    """A round could not finish (the logs kept moving, or the stores disagree on bytes)."""


@dataclass(frozen=True, slots=True)
class SyncRound:
    """One round: what moved, and where the two logs stand."""

    online: bool
    pulled: int  # remote records appended to the local log
    pushed: int  # local events the remote took (offline writes included)
    written: Written | None  # the push of writes that met others' records (conflicts, Merges)
    replaced: bool  # the local log was replaced by a copy of the remote's
    agreed: Head  # the prefix both logs hold byte for byte
    pending: int  # local records the remote does not have yet
    error: str | None = None  # why the remote was unreachable

    def to_obj(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "pulled": self.pulled,
            "pushed": self.pushed,
            "written": None if self.written is None else self.written.to_obj(),
            "replaced": self.replaced,
            "agreed": self.agreed.position,
            "pending": self.pending,
            "error": self.error,
        }


def _lines(store: EventStore, start: int) -> list[bytes]:
    out: list[bytes] = []
    for chunk in store.iter_raw(start):
        out.extend(chunk.lines)
    return out


def _events(lines: Sequence[bytes], start: int) -> list[Event]:
    return [decode_record_or_raise(line, start + i).event for i, line in enumerate(lines)]


def _checksum_at(store: EventStore, position: int) -> str | None:
    for chunk in store.iter_raw(position, 1 << 20):
        return line_checksum(chunk.lines[0]) if chunk.lines else None
    return None


class LogSync:
    """``local`` and ``remote`` store ports; ``replace_local()`` gives a fresh, empty
    local log under the same name (the old one's events are all in the remote when
    it is called). ``strategy`` resolves conflicts of offline writes;
    ``fencing_token`` goes with every append to the remote."""

    def __init__(
        self,
        local: EventStore,
        remote: EventStore,
        *,
        replace_local: Callable[[], EventStore],
        strategy: Strategy = "reject",
        fencing_token: int | None = None,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.local = local
        self.remote = remote
        self.strategy = check_strategy(strategy)
        self.fencing_token = fencing_token
        self.attempts = attempts
        self._replace_local = replace_local
        self.agreed = Head(0, None)
        self.last: SyncRound | None = None

    @property
    def remote_name(self) -> str:
        return str(getattr(self.remote, "name", type(self.remote).__name__))

    def round(self) -> SyncRound:
        """Pull, push, merge: afterwards both logs hold the same bytes (or the remote
        was unreachable and ``online`` is False)."""
        try:
            for _ in range(self.attempts):
                try:
                    done = self._attempt()
                except AppendConflict:
                    continue  # someone appended between our read and our write
                self.last = done
                return done
        except StoreUnavailable as exc:
            pending = max(0, len(self.local) - self.agreed.position)
            self.last = SyncRound(False, 0, 0, None, False, self.agreed, pending, str(exc))
            return self.last
        raise SyncFailed(
            f"{self.remote_name}: the logs kept moving under {self.attempts} sync attempts"
        )

    # ------------------------------------------------ one attempt

    def _check_agreed(self) -> None:
        """The agreed prefix still holds: the remote's is append-only (else refuse);
        the local one may have been replaced by another tab (then start over)."""
        pos, want = self.agreed.position, self.agreed.checksum
        if pos == 0 or want is None:
            return
        actual = _checksum_at(self.remote, pos - 1)
        if actual != want:
            raise RemoteRewritten(self.remote_name, pos - 1, want, actual)
        if _checksum_at(self.local, pos - 1) != want:
            self.agreed = Head(0, None)

    def _attempt(self) -> SyncRound:
        self._check_agreed()
        start = self.agreed.position
        remote_lines = _lines(self.remote, start)
        local_lines = _lines(self.local, start)
        common = 0
        for here, there in zip(local_lines, remote_lines, strict=False):
            if line_checksum(here) != line_checksum(there):
                break
            common += 1
        if common:
            self.agreed = Head(start + common, line_checksum(local_lines[common - 1]))
        start += common
        ours, theirs = local_lines[common:], remote_lines[common:]
        if not ours and not theirs:
            return SyncRound(True, 0, 0, None, False, self.agreed, 0)
        if not theirs:
            return self._push(ours, start)
        if not ours:
            return self._pull(theirs, start)
        return self._merge(ours, theirs, start)

    def _push(self, ours: list[bytes], start: int) -> SyncRound:
        head = self.remote.append(
            _events(ours, start), expected=self.agreed.checksum, fencing_token=self.fencing_token
        )
        self._agree(head, line_checksum(ours[-1]), "pushed")
        return SyncRound(True, 0, len(ours), None, False, self.agreed, 0)

    def _pull(self, theirs: list[bytes], start: int) -> SyncRound:
        events = _events(theirs, start)
        head = self.agreed
        for i in range(0, len(events), BATCH):
            head = self.local.append(events[i : i + BATCH], expected=head.checksum)
        self._agree(head, line_checksum(theirs[-1]), "pulled")
        return SyncRound(True, len(theirs), 0, None, False, self.agreed, 0)

    def _agree(self, head: Head, want: str, what: str) -> None:
        if head.checksum != want:  # both stores encode records the same way, or sync is moot
            raise SyncFailed(
                f"{self.remote_name}: the {what} records got checksum {head.checksum} on the "
                f"other side, not {want} (the stores chain records differently)"
            )
        self.agreed = head

    def _merge(self, ours: list[bytes], theirs: list[bytes], start: int) -> SyncRound:
        local_head = Head(start + len(ours), line_checksum(ours[-1]))
        remote_ids = {line_id(line) for line in theirs}
        pending = [e for e in _events(ours, start) if e.id.encode("ascii") not in remote_ids]
        written: Written | None = None
        if pending:
            written = append_merged(
                self.remote,
                pending,
                self.strategy,
                seen=start,
                fencing_token=self.fencing_token,
                attempts=self.attempts,
            )
        remote_lines = _lines(self.remote, 0)
        have = {line_id(line) for line in remote_lines}
        missing = [line_id(line) for line in ours if line_id(line) not in have]
        if missing:  # never replace a log whose events the remote lacks
            raise SyncFailed(f"{self.remote_name}: lacks {missing[0]!r} after the push")
        if self.local.head() != local_head:
            raise AppendConflict(local_head.checksum, self.local.head().checksum)  # go again
        fresh = self._replace_local()
        head = Head(0, None)
        events = _events(remote_lines, 0)
        for i in range(0, len(events), BATCH):
            head = fresh.append(events[i : i + BATCH], expected=head.checksum)
        self.local = fresh
        if remote_lines:
            self._agree(head, line_checksum(remote_lines[-1]), "copied")
        pulled = (
            len(remote_lines) - start - len(pending) - (len(written.resolutions) if written else 0)
        )
        return SyncRound(True, max(pulled, 0), len(pending), written, True, self.agreed, 0)
