"""Stage 3, resolve: the effective stream of a merged log (``log.effective``).

The streaming duplicate scan visits every decoded event once, in log order,
right before the apply stage decides it (``Resolver``, called by
``Batches.run_window``; the fused path calls ``EffectiveStream.visit_fields``
at the same point); the apply stage then asks the stream whether it is a
loser or a duplicate and which ids it aliases. Every decision about a record
reads what the scan found up to and including it: the scan marks only the
creation it visits (``history.duplicates``; tests/test_duplicates.py holds it
equal to merge's analysis over the whole log). (Visiting a whole decoded
window ahead, as this stage once did, let a duplicate found later in the
window make an earlier genuine rejection a "concurrent" skip; the fused path,
which visits per record, showed it.)

The plan (losers, and whether the log has resolutions) comes from a
pre-pass over the log from position 0 when the source can be read twice.

A log that is one chain so far (every record decodes and names exactly the
record before it as its only parent; the first names none) cannot hold a
duplicate: no two of its events are concurrent. ``LazyScan`` lets such a
prefix pass unvisited; at the first record that leaves the chain it warms the
scan with the prefix's raw lines read again (``EffectiveStream.warm``: what
visiting them would have left) and visits from there on. Until then the
scan's maps stay empty, as visiting would have left them: in one chain the
scan stays exact and finds nothing, so no decision differs. A replay that
ends still in one chain hands out a scan that warms itself on first use
(``ReplayReport.scanner``). One-writer logs pay nothing for the scan; a
log with concurrent history from its start pays one check per record until
it leaves the chain.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

from schemalog.encoding.codec import Record
from schemalog.history.duplicates import DuplicateScanner
from schemalog.history.holders import Holders
from schemalog.log.effective import (
    EMPTY_PLAN,
    EffectivePlan,
    EffectiveStream,
    events_of_chunks,
    lines_of_chunks,
    plan_of_chunks,
)
from schemalog.log.store.port import RawChunk

__all__ = ["LazyScan", "Resolver", "effective_stream"]


def effective_stream(
    reread: Callable[[], Iterable[RawChunk]] | None,
    plan: EffectivePlan | None,
    start_scanner: DuplicateScanner | None,
    holders: Holders | None = None,
) -> EffectiveStream:
    """The stream for one pass; ``plan`` None computes it when the log can be read again;
    ``holders``: the copies that took creations' places before the start (a resume's)."""
    if plan is None:
        plan = plan_of_chunks(reread) if reread is not None else EMPTY_PLAN
    events = events_of_chunks(reread) if reread is not None else None
    return plan.stream(events, start_scanner, holders)


class LazyScan:
    """The duplicate scan of a replay from 0, left out while the log is one chain (module doc)."""

    def __init__(self, stream: EffectiveStream, reread: Callable[[], Iterable[RawChunk]]) -> None:
        self.stream = stream
        self.reread = reread
        self.pending = True  # the log is one chain up to ``position``: nothing visited yet
        self.position = 0
        self.last_id: str | None = None

    def follows(self, position: int, eid: str, parents: Sequence[str]) -> bool:
        """Whether the record at ``position`` continues the chain (then it is counted)."""
        last = self.last_id
        if position != self.position:
            return False
        if last is None:
            if parents or position != 0:
                return False
        elif len(parents) != 1 or parents[0] != last:
            return False
        self.last_id = eid
        self.position += 1
        return True

    def start(self) -> None:
        """The log left the chain at ``position``: the scan sees the records before it."""
        self.pending = False
        self.stream.warm(itertools.islice(lines_of_chunks(self.reread), self.position))

    def scanner(self) -> DuplicateScanner:
        """The scan of the records replayed, warmed on first use if the replay never needed it."""
        return _Deferred(self) if self.pending else self.stream.scanner  # type: ignore[return-value]

    def warmed(self) -> DuplicateScanner:
        if self.pending:
            self.start()
        scanner = self.stream.scanner
        if scanner is None:  # (the warm fell back to the whole log: hand out an undecided scan)
            scanner = DuplicateScanner()
            scanner.exact = False
        return scanner


class _Deferred(DuplicateScanner):
    """A duplicate scan that is made (``LazyScan.warmed``) when it is first used.

    A replay hands out its scan (``ReplayReport.scanner``) for a snapshot or a
    catch-up to go on from; most callers never use it.
    """

    def __init__(self, lazy: LazyScan) -> None:  # (no scan state until it is used)
        self.__dict__["_lazy"] = lazy

    def __getattr__(self, name: str) -> object:
        # only for the scan's state, which is not there until this first use
        lazy = self.__dict__.pop("_lazy", None)
        if lazy is None:
            raise AttributeError(name)
        self.__dict__.update(lazy.warmed().__dict__)
        return getattr(self, name)


class Resolver:
    """Visits each record right before the apply stage decides it (``Batches.run_window``).

    Decisions about a record read what the scan found up to and including it
    (the stream's duplicates, aliases and ``merged``): visiting records further
    ahead would let a duplicate found later turn an earlier genuine rejection
    into a "concurrent" skip.
    """

    def __init__(self, stream: EffectiveStream, lazy: LazyScan | None) -> None:
        self.stream = stream
        self.lazy = lazy

    def __call__(self, position: int, rec: object) -> None:
        lazy = self.lazy
        if lazy is not None and lazy.pending:
            if type(rec) is Record and lazy.follows(position, rec.event.id, rec.event.parents):
                return
            lazy.start()
        stream = self.stream
        if stream.scanner is not None and type(rec) is Record:
            stream.visit(rec.event)
