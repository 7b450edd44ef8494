"""``replay``: the four stages composed, and ``resume`` from a report's checkpoint.

read (``read``) -> decode and verify (``decode``) -> resolve (``resolve``) ->
apply in transactional batches (``batches``). Each stage is a function over
an iterator and knows none of the others; this module plugs the rest in
between them: the duplicate scan's warm-up before the start (a snapshot's
scan replaces it), the tracer's chunk spans and the byte and chunk counts.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from schemalog.encoding.codec import state_hash
from schemalog.history.duplicates import DuplicateScanner
from schemalog.history.holders import Holders
from schemalog.log.collector import rare_collections
from schemalog.log.effective import EffectivePlan, lines_of_chunks, plan_of_chunks
from schemalog.log.replay.batches import ANY, UNKNOWN, Batches, Crash, Stop, record_id
from schemalog.log.replay.decode import Window, decode_windows
from schemalog.log.replay.fused import Fused, fused_possible
from schemalog.log.replay.read import Lines, RawSource, read_lines, rereader
from schemalog.log.replay.report import Failure, Policy, Quarantine, ReplayGap, ReplayReport
from schemalog.log.replay.resolve import LazyScan, Resolver, effective_stream
from schemalog.log.replay.strict import StrictWatch
from schemalog.log.store.errors import RecordTooLarge
from schemalog.log.store.port import DEFAULT_CHUNK_BYTES, RawChunk
from schemalog.log.trace import Tracer
from schemalog.model.schema import SchemaState, empty_state, persistent

__all__ = ["DEFAULT_BATCH_EVENTS", "replay", "resume"]

DEFAULT_BATCH_EVENTS = 1024
_GC_YOUNG = 20_000  # a replay's young generation (log/collector.py)


class _Counted:
    """Between read and decode: counts chunks and bytes, and gives the tracer its chunk spans."""

    def __init__(self, tracer: Tracer | None) -> None:
        self.tracer = tracer
        self.chunks = 0
        self.nbytes = 0

    def __call__(self, chunks: Iterable[Lines]) -> Iterator[Lines]:
        tracer = self.tracer
        for chunk in chunks:
            self.chunks += 1
            self.nbytes += chunk.nbytes
            if tracer is not None:
                tracer.chunk(chunk.position - chunk.offset, len(chunk.lines), chunk.nbytes)
            yield chunk


def _staged(
    run: Batches, windows: Iterator[Window], resolve: Resolver
) -> Generator[None, None, None]:
    """The staged path: each decoded window through the apply stage, resolved per record."""
    try:
        for window in windows:
            run.run_window(window, resolve)
            del window
            yield
    finally:
        close = getattr(windows, "close", None)
        if close is not None:
            close()


@rare_collections(_GC_YOUNG)  # see log/collector.py
def replay(
    source: RawSource | Iterable[RawChunk],
    *,
    start_state: SchemaState | None = None,
    start_position: int = 0,
    expected_prev: str | None = None,
    start_heads: Iterable[str] = (),
    skipped_ids: Iterable[str] = (),
    on_corrupt: Policy = "stop",
    batch_events: int = DEFAULT_BATCH_EVENTS,
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    tracer: Tracer | None = None,
    quarantine: Quarantine | None = None,
    plan: EffectivePlan | None = None,
    start_scanner: DuplicateScanner | None = None,
    strict: StrictWatch | None = None,
    start_holders: Holders | None = None,
) -> ReplayReport:
    """Replay ``source`` from ``start_position`` onto ``start_state``; see the package doc.

    ``source`` is a store (its ``iter_raw(start_position, max_chunk_bytes)`` is
    read) or an iterable of ``RawChunk``s; chunk lines before ``start_position``
    are passed over, a gap raises ``ReplayGap``. ``expected_prev`` is the
    checksum of record ``start_position - 1`` (None at 0); if it is None at a
    later start, the first link is taken as given and the report warns.
    ``start_heads`` and ``skipped_ids`` carry a checkpoint's DAG heads and
    skipped ids (``resume`` passes them from a report). ``plan`` is the log's
    effective-stream plan; None computes it by a pre-pass over the log from
    position 0 when ``source`` can be read twice (a store, a list of chunks),
    else replays without one (package doc: merged logs). A plan from a store's
    pre-pass names where the pre-pass ended (``EffectivePlan.end``): the replay
    reads no further, so records appended meanwhile (a resolution the plan did
    not see) are left to the next replay. ``start_scanner``: the
    duplicate scan of records ``[0, start_position)`` (a snapshot's), so that
    they are not read again. ``strict``: watches the decoded records for the
    strict reader's remaining rules (``strict.py``: the CLI's one read).
    ``start_holders``: a checkpoint's copies of creations that took a left-out one's
    place, and the creations left out (``resume`` passes ``report.holders``;
    history/holders.py).
    """
    if on_corrupt not in ("stop", "skip"):
        raise ValueError(f"on_corrupt must be 'stop' or 'skip', not {on_corrupt!r}")
    if batch_events < 1:
        raise ValueError("batch_events must be at least 1")
    if start_position < 0:
        raise ValueError("start_position must be >= 0")
    warnings: list[str] = []
    head: object = expected_prev
    if start_position > 0 and expected_prev is None:
        head = ANY
        warnings.append(
            f"no expected_prev for start position {start_position}: "
            "the hash link into it was not verified"
        )
    state = start_state if start_state is not None else empty_state()
    reread = rereader(source, max_chunk_bytes)
    if plan is None and reread is not None:
        plan = plan_of_chunks(reread)
    end = plan.end if plan is not None else None
    if end is not None:  # the records its pre-pass read, no more (EffectivePlan.end)
        reread = rereader(source, max_chunk_bytes, end)
    stream = effective_stream(reread, plan, start_scanner, start_holders)

    # The duplicate scan needs the records before the start: read them again
    # when the source allows, else take them from the chunks as they pass.
    warming = False
    n_warmed = 0

    def warm(chunk_start: int, lines: list[bytes]) -> bool:
        nonlocal n_warmed, warming
        if chunk_start > n_warmed:
            stream.lost_history()  # the source starts after position 0
        else:
            stream.warm(lines[n_warmed - chunk_start : max(0, start_position - chunk_start)])
        n_warmed = min(start_position, chunk_start + len(lines))
        warming = n_warmed < start_position
        return warming

    if start_position > 0 and stream.scanner is not None and not stream.warmed:
        if reread is not None:
            stream.warm(itertools.islice(lines_of_chunks(reread), start_position))
        else:
            warming = True
    if tracer is not None:
        tracer.begin()
    run = Batches(
        state,
        start_position,
        head,
        set(start_heads),
        set(skipped_ids),
        on_corrupt,
        batch_events,
        tracer,
        quarantine,
        stream,
    )
    counted = _Counted(tracer)
    chunks = read_lines(source, start_position, max_chunk_bytes, warm if warming else None, end)
    # one chain so far needs no duplicate scan (resolve.py); losers need it for goes_with
    lazy = None
    if start_position == 0 and reread is not None and stream.scanner is not None:
        lazy = LazyScan(stream, reread) if not (stream.warmed or stream.losers) else None
    steps: Generator[None, None, None]
    if fused_possible(tracer):
        steps = Fused(run, stream, lazy, strict).steps(counted(chunks))
    else:
        decoded = decode_windows(counted(chunks), tracer.clock if tracer is not None else None)
        if strict is not None:
            decoded = strict.windows(decoded)
        steps = _staged(run, decoded, Resolver(stream, lazy))
    stopped: Failure | None = None
    error: BaseException | None = None
    try:
        while True:
            try:
                next(steps)
            except StopIteration:
                break
            except RecordTooLarge as exc:
                run.rollback()
                stopped = Failure(exc.position, None, "too-large", str(exc))
                break
    except Stop as stop:
        run.rollback()
        stopped = stop.failure
    except Crash as crash:
        run.rollback()
        eid = record_id(crash.line) if crash.line is not None else None
        cause = crash.exc
        stopped = Failure(crash.position, eid, "crash", f"{type(cause).__name__}: {cause}")
        error = cause
    except ReplayGap:
        steps.close()
        raise  # the caller's chunks do not cover the log: a bug, not a bad log
    except Exception as exc:  # a tracer hook between the stages
        run.rollback()
        stopped = Failure(run.position, None, "crash", f"{type(exc).__name__}: {exc}")
        error = exc
    if stopped is None and run.position != run.c_position:
        try:
            run.commit()
        except Exception as last:  # a tracer hook at the last commit
            run.rollback()
            stopped = Failure(run.position, None, "crash", f"{type(last).__name__}: {last}")
            error = last
    steps.close()  # closes every stage down to the store's reader
    if tracer is not None:
        tracer.end()
    head_out = run.c_head if isinstance(run.c_head, str) or run.c_head is None else None
    if run.c_head is UNKNOWN:
        warnings.append(
            f"the log ends with skipped corrupt record(s) at {run.c_position - 1}: "
            "the chain head after them is unknown"
        )
    if run.c_head is ANY:
        head_out = expected_prev
    final = persistent(run.c_state)
    return ReplayReport(
        state=final,
        state_hash=state_hash(final),
        start_position=start_position,
        position=run.c_position,
        head=head_out,
        applied=run.c_applied,
        skipped=tuple(run.skipped[: run.c_skipped]),
        skipped_ids=frozenset(run.skipped_ids),
        breaks=tuple(run.breaks[: run.c_breaks]),
        stopped=stopped,
        heads=tuple(sorted(run.c_heads)),
        batches=run.batches,
        chunks=counted.chunks,
        bytes_read=counted.nbytes,
        warnings=tuple(warnings),
        error=error,
        holders=run.c_holders,
        scanner=(
            (lazy.scanner() if lazy is not None and lazy.pending else stream.scanner)
            if stopped is None and not stream.losers and not warming
            else None
        ),
    )


def resume(
    source: RawSource | Iterable[RawChunk], report: ReplayReport, **options: Any
) -> ReplayReport:
    """Replay on from a report's checkpoint (same policy options as ``replay``)."""
    return replay(
        source,
        start_state=report.state,
        start_position=report.position,
        expected_prev=report.head,
        start_heads=report.heads,
        skipped_ids=report.skipped_ids,
        start_holders=report.holders,
        **options,
    )
