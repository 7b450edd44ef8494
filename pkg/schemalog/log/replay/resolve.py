"""Stage 3, resolve: the effective stream of a merged log (``log.effective``).

The streaming duplicate scan visits every decoded event once, in log order,
as the windows pass; the apply stage then asks the stream, per record,
whether it is a loser or a duplicate and which ids it aliases. Visiting a
window ahead of its apply decides nothing differently: the scan marks only
the creation it visits (``history.duplicates``; tests/test_duplicates.py
holds it equal to merge's analysis over the whole log).

The plan (losers, and whether the log has resolutions) comes from a
pre-pass over the log from position 0 when the source can be read twice.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable

from schemalog.encoding.codec import Record
from schemalog.history.duplicates import DuplicateScanner
from schemalog.log.effective import (
    EMPTY_PLAN,
    EffectivePlan,
    EffectiveStream,
    events_of_chunks,
    plan_of_chunks,
)
from schemalog.log.replay.decode import Window
from schemalog.log.store.port import RawChunk

__all__ = ["effective_stream", "resolve_windows"]


def effective_stream(
    reread: Callable[[], Iterable[RawChunk]] | None,
    plan: EffectivePlan | None,
    start_scanner: DuplicateScanner | None,
) -> EffectiveStream:
    """The stream for one pass; ``plan`` None computes it when the log can be read again."""
    if plan is None:
        plan = plan_of_chunks(reread) if reread is not None else EMPTY_PLAN
    return plan.stream(events_of_chunks(reread) if reread is not None else None, start_scanner)


def resolve_windows(
    windows: Iterable[Window], stream: EffectiveStream
) -> Generator[Window, None, None]:
    record_t = Record
    for window in windows:
        if stream.scanner is not None:  # None once the stream fell back to the whole log
            visit = stream.visit
            for rec in window.records:
                if type(rec) is record_t:
                    visit(rec.event)
        yield window
