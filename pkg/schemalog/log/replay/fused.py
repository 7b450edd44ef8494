"""Replay's fused hot path: records from their lines onto the state.

The staged path (decode -> resolve -> apply, the package doc) builds a
``Record``, an ``Event``, its ``Timestamp`` and its change for every record,
and the strict watch, the duplicate scan and ``apply`` read them back; and
``apply`` derives a new table for every change. For the nine flat kinds,
merges and table creations (every change but SORTED BY, which the bench log
does not hold) this path proves a window of lines by their grammar (``encoding.proved_line``:
one regex per line proves the envelope and most fields; the checksum and hash
link, parents and the rare checks in Python). Then, record by record, the
strict watch (``StrictWatch.one``), the duplicate scan
(``EffectiveStream.visit_fields``) and the schema's rule on tables changed in
place (``model.schema_drafts``): no object per record but one tuple of its
facts and the state's own.

What it does not prove goes through the staged path, record by record
(``Fused.staged``), and the staged path is the one source of every error and
every decision: a rare kind or shape, a line that is not canonical or whose
checksum is wrong, a trailing newline, an oversized event. After the scan has
seen a record, the rest of the staged path takes it (``Fused.after_visit``)
when its link is broken, it follows a skipped record, it descends from a
skipped or tainted event, it is a loser or a duplicate, it names an aliased
id, or the schema refuses it. So this path can only make a sound record
cheaper, never change what replay decides; tests/test_replay_fused.py holds
the two paths equal on generated, merged and damaged logs.

It runs when nothing observes single stages: no tracer (a tracer times each
record's decode), and the stages' ``decode_record`` and ``apply`` not
replaced (tests replace them to inject crashes into the staged path).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

from schemalog.encoding import codec
from schemalog.encoding.proved_line import PROVED_KINDS, prove_line
from schemalog.log.effective import EffectiveStream
from schemalog.log.replay import batches as batches_stage
from schemalog.log.replay import decode as decode_stage
from schemalog.log.replay.batches import UNKNOWN, Batches, Crash, Stop
from schemalog.log.replay.decode import WINDOW, Window
from schemalog.log.replay.read import Lines
from schemalog.log.replay.resolve import LazyScan, Resolver
from schemalog.log.replay.strict import StrictWatch
from schemalog.model import schema
from schemalog.model.schema import Refusal
from schemalog.model.schema_drafts import DRAFT_HANDLERS, with_drafts

__all__ = ["FUSED_KINDS", "Fused", "fused_possible"]

FUSED_KINDS = PROVED_KINDS  # the kinds this path proves and applies


def fused_possible(tracer: object) -> bool:
    """Whether replay may take the fused path (module doc)."""
    return (
        tracer is None
        and batches_stage.apply is schema.apply  # type: ignore[attr-defined]
        and decode_stage.decode_record is codec.decode_record  # type: ignore[attr-defined]
    )


class Fused:
    """One replay's fused loop over ``Batches`` (its state, head, heads and commits)."""

    def __init__(
        self,
        run: Batches,
        stream: EffectiveStream,
        lazy: LazyScan | None,
        strict: StrictWatch | None,
    ) -> None:
        self.run = run
        self.stream = stream
        self.lazy = lazy
        self.strict = strict
        self.resolve = Resolver(stream, lazy)

    def steps(self, chunks: Iterable[Lines]) -> Generator[None, None, None]:
        """Replay ``chunks``, yielding after each one."""
        for chunk in chunks:
            self.chunk(chunk)
            yield

    def staged(self, lines: list[bytes], i: int, pos: int) -> None:
        """The record ``lines[i]`` at ``pos`` through the staged path, every stage."""
        crash: Exception | None = None
        records: list[codec.Record | codec.DecodeFailure] = []
        try:
            records.append(decode_stage.decode_record(lines[i], pos))  # type: ignore[attr-defined]
        except Exception as exc:
            crash = exc
        window = Window(pos, lines, i, records, crash, 0.0)
        if self.strict is not None:
            self.strict.watch(window)
        self.run.run_window(window, self.resolve)

    def after_visit(self, lines: list[bytes], i: int, pos: int) -> None:
        """The record ``lines[i]``, already watched and scanned, through the apply stage."""
        rec = codec.decode_record(lines[i], pos)  # proved by the fused path: a Record
        self.run.run_window(Window(pos, lines, i, [rec], None, 0.0))

    def chunk(self, chunk: Lines) -> None:
        """One chunk, a window of lines at a time: prove the window, then apply it.

        Proving a window ahead of applying it keeps the two loops' code and data
        apart in the CPU's caches (decode.py: one loop over both ran about 15 %
        slower); a proved record is one tuple of its fields until it is applied.
        """
        lines, pos, i = chunk.lines, chunk.position, chunk.offset
        n = len(lines)
        while i < n:
            j = min(i + WINDOW, n)
            try:
                proved = list(map(prove_line, lines[i:j]))
            except Exception:  # (a bug) the line that raised is left to the staged path
                proved = [_proved_or_none(line) for line in lines[i:j]]
            self.apply_window(lines, i, pos, proved)
            pos += j - i
            i = j

    def apply_window(self, lines: list[bytes], i: int, pos: int, proved: list[Any]) -> None:
        """Watch, scan and apply the window's records (``proved[k]``: ``lines[i + k]``)."""
        run, stream, lazy, strict = self.run, self.stream, self.lazy, self.strict
        handlers = DRAFT_HANDLERS
        run.state = with_drafts(run.state)  # (once: commits keep the working state's maps)
        losers, duplicates = stream.losers, stream.duplicates  # live dicts
        table_alias, prop_alias = stream.table_alias, stream.prop_alias
        skipped_ids, tainted = run.skipped_ids, run.tainted
        state, head, applied, heads = run.state, run.head, run.applied, run.heads
        line = b""
        try:
            for facts in proved:
                line = lines[i]
                if facts is None or run.alt is not UNKNOWN:
                    run.state, run.head, run.applied = state, head, applied
                    self.staged(lines, i, pos)
                    state, head, applied, heads = run.state, run.head, run.applied, run.heads
                else:
                    kind, fields, eid, origin, clock, parents, sum_, prev = facts
                    if strict is not None:
                        strict.one(pos, eid, parents, sum_)
                    if lazy is None or not lazy.pending or not lazy.follows(pos, eid, parents):
                        if lazy is not None and lazy.pending:
                            lazy.start()
                        if stream.scanner is not None:
                            stream.visit_fields(eid, origin, parents, clock, kind, fields, line)
                    try:
                        if (
                            prev != head
                            or (skipped_ids and not skipped_ids.isdisjoint(parents))
                            or (tainted.count and run._descends_from_skipped(parents))
                            or (losers and eid in losers)
                            or (duplicates and eid in duplicates)
                            or ((table_alias or prop_alias) and _aliased(kind, fields, stream))
                        ):
                            raise Refusal("", "")  # the apply stage decides
                        state = handlers[kind](state, *fields)
                    except Refusal:
                        run.state, run.head, run.applied = state, head, applied
                        self.after_visit(lines, i, pos)
                        state, head, applied, heads = run.state, run.head, run.applied, run.heads
                    else:
                        head = sum_
                        applied += 1
                        if parents:
                            heads.difference_update(parents)
                        heads.add(eid)
                        if pos + 1 == run.batch_end:
                            run.state, run.head, run.applied = state, head, applied
                            run.position = pos + 1
                            run.commit()
                            heads = run.heads
                i += 1
                pos += 1
                run.position = pos
        except (Stop, Crash):
            raise
        except Exception as exc:
            raise Crash(pos, line, exc) from exc
        run.state, run.head, run.applied = state, head, applied


def _proved_or_none(line: bytes) -> tuple[Any, ...] | None:
    try:
        return prove_line(line)
    except Exception:
        return None


def _aliased(kind: str, fields: tuple[object, ...], stream: EffectiveStream) -> bool:
    """Whether a change names an id the stream aliases (the apply stage aliases it)."""
    t, p = stream.table_alias, stream.prop_alias
    if fields and fields[0] in t:
        return True
    if kind == "drop_property" or kind == "rename_property":
        return fields[1] in p
    if kind == "add_connection" or kind == "drop_connection":
        x = fields[1]
        return x.from_table_id in t or x.to_table_id in t  # type: ignore[attr-defined]
    if kind == "create_rel_table":  # (merge.effective_event aliases its FROM/TO ids)
        return any(x.from_table_id in t or x.to_table_id in t for x in fields[2])  # type: ignore[attr-defined]
    return False
