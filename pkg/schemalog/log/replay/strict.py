"""The strict reader's checks, watched in replay's decode stage: one read for the CLI.

Every CLI command that reads a log accepts exactly what ``verify`` accepts
(``log.store.verify``, the one strict reader, the one source of its
findings). Before, ``replay``, ``schema``, ``apply`` and ``drift`` ran that
reader as a full pass of its own and then replayed: every record decoded
twice. Replay already decodes every record (framing, canonical form,
checksum, the event's rules: a blank or CR line does not decode) and checks
every hash link; ``StrictWatch`` adds, on the decoded windows as they pass,
what remains of the strict reader's rules:

* one record per id (the 8-byte digests of ``history.known_ids``);
* every parent an earlier record (a parent among the last ids seen is known
  without its digest: a log's parents are mostly its newest events);
* ``expected_head``: some record's checksum is the anchor.

It proves a log sound, never refuses one: ``clean(report, store)`` is True
only when the replay went through the whole log with no stop, every record
passed, no torn tail was hidden by the store and the anchor was seen. On
anything else the caller runs the strict reader itself, which finds the
problem and words it exactly as before (the error path pays the second pass,
a sound log does not). tests/test_strict_fold.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from schemalog.encoding.codec import Record, record_version
from schemalog.history.known_ids import KnownIds, id_digest
from schemalog.log.replay.decode import Window
from schemalog.log.replay.report import ReplayReport

__all__ = ["StrictWatch"]

_RECENT = 4096  # ids kept as strings, two generations: a parent among them is known


class StrictWatch:
    """Watches one replay from position 0 (see the module doc)."""

    def __init__(self, expected_head: str | None = None) -> None:
        self.expected_head = expected_head
        self.anchored = expected_head is None
        self.known = KnownIds()
        self.position = 0  # records watched and found sound
        self.doubt = False  # a record the strict reader may refuse (it will say why)
        self.format: int | None = None
        self._recent: set[str] = set()
        self._older: set[str] = set()

    def windows(self, windows: Iterable[Window]) -> Iterator[Window]:
        """Pass ``windows`` on, watching their records in log order."""
        for window in windows:
            if not self.doubt:
                self._watch(window)
            yield window

    def watch(self, window: Window) -> None:
        """Watch one window (the next in log order)."""
        if not self.doubt:
            self._watch(window)

    def one(self, position: int, eid: str, parents: list[str], checksum: str) -> None:
        """Watch one sound record at ``position`` given as its fields (replay's fused path)."""
        if self.doubt:
            return
        if position != self.position:
            self.doubt = True
            return
        recent, older, known = self._recent, self._older, self.known
        digest = id_digest(eid)
        if eid in recent or eid in older or digest in known:
            self.doubt = True
            return
        for parent in parents:
            if parent not in recent and parent not in older and id_digest(parent) not in known:
                self.doubt = True
                return
        known.add(digest)
        recent.add(eid)
        if len(recent) >= _RECENT:
            self._older, self._recent = recent, set()
        if self.format is None:
            self.format = record_version(checksum)
        if not self.anchored and checksum == self.expected_head:
            self.anchored = True
        self.position += 1

    def _watch(self, window: Window) -> None:
        if window.position != self.position:
            self.doubt = True  # not a replay from 0 without a gap: no claim
            return
        known = self.known
        recent, older = self._recent, self._older
        head = self.expected_head
        digest_of = id_digest
        record_t = Record
        n = 0
        for rec in window.records:
            if type(rec) is not record_t:
                self.doubt = True
                break
            event = rec.event
            eid = event.id
            digest = digest_of(eid)
            if eid in recent or eid in older or digest in known:
                self.doubt = True  # a repeat (or a digest collision: verify tells)
                break
            for parent in event.parents:
                if parent not in recent and parent not in older and digest_of(parent) not in known:
                    self.doubt = True
                    break
            if self.doubt:
                break
            known.add(digest)
            recent.add(eid)
            if len(recent) >= _RECENT:
                self._older, older = recent, recent
                self._recent = recent = set()
            if self.format is None:
                self.format = record_version(rec.checksum)
            if not self.anchored and rec.checksum == head:
                self.anchored = True
            n += 1
        self.position += n
        if window.crash is not None:
            self.doubt = True

    def clean(self, report: ReplayReport, store: object) -> bool:
        """The strict reader would accept the whole log ``report`` replayed from ``store``."""
        return (
            not self.doubt
            and self.anchored
            and report.start_position == 0
            and report.stopped is None
            and not report.breaks
            and report.position == self.position
            and getattr(store, "recovered", None) is None
            and report.position == len(store)  # type: ignore[arg-type]
        )
