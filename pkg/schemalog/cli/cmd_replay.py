"""`schemalog replay LOG`: stream a log into the schema state and report what happened.

Exit 0 when every record applied; 1 when records were skipped, the hash
chain broke (under ``--on-corrupt skip``) or the replay stopped on a bad
record; 2 for usage errors and unreadable input.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

from schemalog.cli.output import (
    Progress,
    UsageError,
    check_not_an_input,
    check_output_path,
    print_json,
    print_table,
)

_SIZE_RE = re.compile(r"([0-9]+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)\Z", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def byte_size(text: str) -> int:
    """``33554432``, ``32M``, ``32MiB``, ``512k``: binary units."""
    m = _SIZE_RE.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 33554432, 32M, 8MiB)")
    value = int(m.group(1)) * _UNITS[m.group(2)[:1].lower()]
    if value < 1:
        raise argparse.ArgumentTypeError("the chunk budget must be at least 1 byte")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("replay", help="replay a log into the schema state")
    p.add_argument(
        "log",
        metavar="LOG",
        help="a log: .ndjson file, segment folder, postgresql://...?log=NAME or http://HOST/logs/NAME",
    )
    p.add_argument(
        "--chunk-bytes",
        type=byte_size,
        default=32 * 1024 * 1024,
        metavar="B",
        help="read budget per chunk (default 32MiB; suffixes k, M, G)",
    )
    p.add_argument(
        "--on-corrupt",
        choices=("stop", "skip"),
        default="stop",
        help="stop at a bad record (default) or skip it and go on (later events still "
        "apply; one that then fails for want of a skipped one is a dependent)",
    )
    p.add_argument(
        "--batch-events", type=_positive, default=None, metavar="N", help="events per transaction"
    )
    p.add_argument(
        "--snapshots",
        metavar="DIR",
        help="start from the newest valid snapshot in DIR and save one of the result",
    )
    p.add_argument(
        "--snapshot-key",
        metavar="FILE",
        help="the key file sealing snapshots, outside DIR (default: $SCHEMALOG_SNAPSHOT_KEY, "
        "else ~/.config/schemalog/snapshot.key; created on first use)",
    )
    p.add_argument("--trace", metavar="FILE", help="write a Trace Event Format JSON file")
    p.add_argument(
        "--trace-memory",
        action="store_true",
        help="with --trace: sample the memory high-water mark (tracemalloc slows CPython)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


class _Watched:
    """A store whose ``iter_raw`` also moves a progress line."""

    def __init__(self, store: Any, progress: Progress) -> None:
        self.store = store
        self.progress = progress

    def iter_raw(self, start: int = 0, max_chunk_bytes: int = 32 << 20) -> Iterator[Any]:
        for chunk in self.store.iter_raw(start=start, max_chunk_bytes=max_chunk_bytes):
            end = chunk.start + len(chunk.lines)
            yield chunk
            del chunk  # before the next chunk is read: one chunk in memory, not two
            self.progress.update(end)


def run(args: argparse.Namespace) -> int:
    from schemalog.cli import settle, strict_watch
    from schemalog.log.replay import DEFAULT_BATCH_EVENTS, replay
    from schemalog.log.snapshot import replay_with_snapshots
    from schemalog.log.store.locate import is_url, open_store
    from schemalog.log.trace import Tracer

    if not is_url(args.log) and not os.path.exists(args.log):
        raise UsageError(f"{args.log}: no such log")
    if args.trace_memory and not args.trace:
        raise UsageError("--trace-memory needs --trace FILE")
    if args.snapshot_key and not args.snapshots:
        raise UsageError("--snapshot-key needs --snapshots DIR")
    # output paths are checked before the work, not after a long replay
    if args.trace:
        check_output_path(args.trace, "trace")
        check_not_an_input(args.trace, [args.log], "trace")
    if args.snapshots and not os.path.isdir(args.snapshots):
        check_output_path(args.snapshots, "snapshot folder")
        check_not_an_input(args.snapshots, [args.log], "snapshot folder")
    if args.on_corrupt == "skip" and (args.expect_head or args.expect_log):
        missing = _anchor_missing(args.log, args.expect_head, args.expect_log)
        if missing is not None:
            return _finding(args, missing, missing)
    # verify=False: the replay checks every record itself, and under --on-corrupt
    # skip a damaged line must reach it instead of failing the open.
    store = open_store(args.log, readonly=True, verify=False)
    tracer = Tracer(memory=args.trace_memory) if args.trace else None
    try:
        progress = Progress("replay", total=len(store), enabled=not args.json)
        options: dict[str, Any] = {
            "on_corrupt": args.on_corrupt,
            "max_chunk_bytes": args.chunk_bytes,
            "batch_events": args.batch_events or DEFAULT_BATCH_EVENTS,
            "tracer": tracer,
        }
        source = _Watched(store, progress)
        # the strict reader's rules are watched in this replay (cli.settle), except
        # from a snapshot (gated before: the replay does not see the records before it)
        watch = None if args.snapshots else strict_watch(args, args.log)
        # under skip nothing gates the log: a log every record of which replays can
        # still be one that does not verify (a record removed and the chain re-hashed:
        # a parent in no earlier record); watched here too, and said (exit 1)
        skip_watch = None
        if watch is None and args.on_corrupt == "skip" and not args.snapshots:
            from schemalog.log.replay.strict import StrictWatch

            watch = skip_watch = StrictWatch()
        if args.snapshots:
            try:
                report = replay_with_snapshots(
                    source, args.snapshots, key=args.snapshot_key, **options
                )
            except OSError as exc:  # saving the snapshot (a full disk, a size limit)
                what = exc.filename or args.snapshots
                raise UsageError(
                    f"{what}: the snapshot could not be saved ({exc.strerror or exc})"
                ) from None
        else:
            report = replay(source, strict=watch, **options)
        progress.close()
        settle(args, args.log, watch, report, store)
        unsound = None
        if skip_watch is not None and report.ok and not skip_watch.clean(report, store):
            unsound = _strict_problem(args.log)
    finally:
        store.close()
    # under skip the strict reader does not gate the log, and its read-only open hides a
    # torn last line (or a file that is no log at all, as one "torn line"): said here
    torn = getattr(store, "recovered", None) if args.on_corrupt == "skip" else None
    torn_note = None
    if torn is not None:
        torn_note = (
            f"torn last line: {torn.nbytes:,} bytes without a trailing newline at record "
            f"{torn.position} ({torn.path}), not replayed"
        )
    refused = torn_note is not None and not args.allow_torn_tail
    if unsound is not None:
        return _finding(args, unsound, f"{args.log}: replayed, but {unsound}")
    if tracer is not None:
        try:
            tracer.write_json(args.trace)
        except OSError as exc:
            raise UsageError(f"{args.trace}: cannot write the trace: {exc.strerror}") from None
    if args.json:
        obj = report.to_obj()
        obj["log"] = args.log
        if tracer is not None:
            obj["trace"] = args.trace
        if torn is not None:
            obj["torn_tail"] = {"position": torn.position, "nbytes": torn.nbytes, "note": torn_note}
            obj["ok"] = obj["ok"] and not refused
        print_json(obj)
    else:
        _print_text(args.log, report, tracer)
        if torn_note is not None:
            allowed = " (--allow-torn-tail)" if not refused else ""
            print(f"warning: {args.log}: {torn_note}{allowed}", file=sys.stderr)
    return 0 if report.ok and not refused else 1


def _anchor_missing(path: str, head: str | None, copy: str | None) -> str | None:
    """Under --on-corrupt skip the strict reader does not gate the log (it would refuse the
    damage skip is asked to pass): the anchor and the copy are held to the records'
    checksum fields."""
    from schemalog.log.store.errors import StoreMissing
    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.log.store.verify import BadAnchor, anchor_problem

    store = NdjsonStore.open(path, readonly=True, verify=False)
    try:
        parted = anchor_problem(_record_lines(store), expected_head=head, expected_log=copy)
    except BadAnchor as exc:
        raise UsageError(str(exc)) from None
    except StoreMissing as exc:
        raise UsageError(f"{exc.path}: no such log") from None
    finally:
        store.close()
    return None if parted is None else f"{path}: {parted}"


def _strict_problem(path: str) -> str | None:
    """What the strict reader finds wrong with the log at ``path`` (None: nothing)."""
    from schemalog.log.store.locate import is_url, open_store
    from schemalog.log.store.verify import verify_log, verify_store

    if is_url(path):
        store = open_store(path, readonly=True)
        try:
            report = verify_store(store)
        finally:
            store.close()
    else:
        report = verify_log(path, allow_torn_tail=True)  # (a torn tail is said apart)
    if report.problem is None:
        return None
    return f"it does not verify (see `schemalog verify`): {report.problem}"


def _record_lines(store: Any) -> Iterator[bytes]:
    """The log's lines, 8 MiB chunks, one chunk alive (tests/test_reader_memory.py)."""
    for chunk in store.iter_raw(0, 8 << 20):
        yield from chunk.lines
        del chunk  # before the next chunk is read: one chunk in memory, not two


def _print_text(log: str, report: Any, tracer: Any) -> None:
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    done = report.position - report.start_position
    print(
        f"{log}: {done:,} records from position {report.start_position:,}: "
        f"{report.applied:,} applied, {len(report.skipped):,} skipped; "
        f"{len(report.state.tables):,} tables, state {report.state_hash}"
    )
    if report.skipped:
        causes = ", ".join(f"{n:,} {kind}" for kind, n in report.skipped_by_kind.items())
        print(f"skipped by cause: {causes}")
        rows = [
            (s.position, s.event_id or "?", s.kind, s.because_of or s.reason)
            for s in report.skipped[:50]
        ]
        print_table(["position", "event", "kind", "reason"], rows)
        if len(report.skipped) > 50:
            print(f"... and {len(report.skipped) - 50:,} more (--json lists all)")
    for b in report.breaks:
        print(
            f"hash chain broken at record {b.position} (event {b.event_id}): prev {b.actual}, "
            f"expected {b.expected}; re-anchored there",
            file=sys.stderr,
        )
    if report.stopped is not None:
        s = report.stopped
        print(
            f"stopped at record {s.position} (event {s.event_id or '?'}, {s.kind}): {s.reason}; "
            f"state is that of the {report.position:,} records before its batch",
            file=sys.stderr,
        )
    if tracer is not None:
        print(tracer.summary(), file=sys.stderr)


def _finding(args: argparse.Namespace, error: str, text: str) -> int:
    """Exit 1 with a finding about the log (``error`` in JSON, ``text`` on stderr)."""
    if args.json:
        print_json({"command": "replay", "error": error, "exit": 1, "ok": False})
    else:
        print(f"schemalog replay: {text}", file=sys.stderr)
    return 1
