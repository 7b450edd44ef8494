"""`schemalog merge LOG... -o OUT`: merge instance logs, report conflicts and resolutions.

The written log is a function of the set of input events (any input order,
or a result merged with its own inputs again, writes the same bytes). Exit 0
when every conflict is resolved, 1 when some remain unresolved, 2 for
unreadable or inconsistent input (a broken chain, a forked event id).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from schemalog.cli.output import (
    UsageError,
    check_not_an_input,
    check_output_path,
    print_json,
    print_table,
)
from schemalog.errors import SchemalogError
from schemalog.history.merge import STRATEGIES
from schemalog.history.merge_records import merge_files


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "merge", help="merge instance logs into one, resolving conflicts"
    )
    parser.add_argument(
        "logs",
        nargs="+",
        metavar="LOG",
        help="logs to merge: NDJSON files, postgresql://...?log=NAME, http://host:port/logs/NAME",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="the merged log: a path, or a new (empty) log URL",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="reject",
        help="how to resolve conflicts (default: reject = report, record no winner)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace OUT when it is a file that is not empty (never one of the LOGs)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.log.store.locate import is_url

    for path in args.logs:  # each verified already by the strict reader (cli.READERS)
        if not is_url(path) and Path(path).is_dir():
            raise UsageError(f"{path}: merge reads single-file logs, not segment folders")
    with tempfile.TemporaryDirectory(prefix="schemalog-merge-") as scratch:
        if is_url(args.output):
            _check_empty_target(args.output)
            out = Path(scratch) / "merged.ndjson"
        else:
            check_output_path(args.output)
            _check_file_target(args)
            out = Path(args.output)
        # a log behind a URL is copied as it is (raw lines, in chunks) and merged as a file
        inputs = [
            _download(path, Path(scratch) / f"in-{i}.ndjson") if is_url(path) else path
            for i, path in enumerate(args.logs)
        ]
        # record level: inputs are streamed and verified, the output written as it comes
        try:
            result = merge_files(inputs, out, args.strategy, drop_torn_tail=args.allow_torn_tail)
        except SchemalogError as exc:
            where = f"{args.logs[exc.log_index]}: " if exc.log_index is not None else ""
            raise UsageError(f"{where}{exc}") from exc
        except OSError as exc:
            if exc.filename is not None and str(exc.filename) != str(out):
                raise  # reading an input: named by its path
            # writing (a full disk, a file size limit): merge_files writes OUT.tmp, then
            # renames it; what it wrote is removed, OUT is as it was
            Path(str(out) + ".tmp").unlink(missing_ok=True)
            raise UsageError(
                f"{args.output}: the merged log could not be written ({exc.strerror or exc}); "
                f"{args.output} is as it was"
            ) from None
        if is_url(args.output):
            _upload(out, args.output)
        return _report(args, out, result)


def _check_file_target(args: argparse.Namespace) -> None:
    """OUT is written whole (to a temporary name, then renamed over it): an OUT that holds
    a log (or anything) would lose what it holds, and records a writer appends to it
    meanwhile. So OUT must be new or empty (as a URL's), or replaced with --force, and
    is never one of the LOGs."""
    out = args.output
    check_not_an_input(out, args.logs)
    if os.path.isdir(out):
        raise UsageError(f"{out}: a folder (merge writes one file)")
    if os.path.exists(out) and os.path.getsize(out) and not args.force:
        raise UsageError(f"{out}: exists and is not empty (not replaced; --force replaces it)")


def _download(url: str, path: Path) -> str:
    from schemalog.log.store.locate import open_store

    store = open_store(url, readonly=True)
    try:
        with open(path, "wb") as fh:
            for chunk in store.iter_raw(0):
                fh.writelines(line + b"\n" for line in chunk.lines)
                del chunk  # before the next chunk is fetched: one in memory, not two
    finally:
        store.close()
    return str(path)


def _check_empty_target(url: str) -> None:
    from schemalog.log.store.locate import open_store

    store = open_store(url, create=True)
    try:
        if store.head().position:
            raise UsageError(f"{url}: the output log exists and is not empty")
    finally:
        store.close()


def _upload(path: Path, url: str) -> None:
    """The merged log's events appended to the new log at ``url``, same order, same chain."""
    from schemalog.encoding.codec import decode_record_or_raise
    from schemalog.log.store.locate import open_store

    store = open_store(url, create=True)
    try:
        head = store.head()
        if head.position:
            raise UsageError(f"{url}: the output log exists and is not empty")
        batch = []
        with open(path, "rb") as fh:
            for i, line in enumerate(fh):
                batch.append(decode_record_or_raise(line, i).event)
                if len(batch) == 1000:
                    head = store.append(batch, expected=head.checksum)
                    batch = []
        if batch:
            store.append(batch, expected=head.checksum)
    finally:
        store.close()


def _report(args: argparse.Namespace, out: Path, result: Any) -> int:
    unresolved = result.unresolved
    # open conflicts: both sides in words, by the names of that moment in the merged log
    sides = _sides(out, [r.conflict for r in unresolved]) if unresolved else {}
    if args.json:
        print_json(
            {
                "output": str(args.output),
                "events": result.events,
                "strategy": args.strategy,
                "added": [e.id for e in result.added],
                "conflicts": [
                    r.to_obj(sides if r.winner is None else None) for r in result.conflicts
                ],
                "unresolved": len(unresolved),
            }
        )
    else:
        print(
            f"merged {len(args.logs)} logs into {args.output}: {result.events} events, "
            f"{len(result.conflicts)} conflicts, {len(result.added)} new resolutions, "
            f"{len(unresolved)} unresolved"
        )
        if result.conflicts:
            rows = [
                (r.conflict.kind, r.conflict.element, " vs ".join(r.conflict.ids), r.winner or "-")
                for r in result.conflicts
            ]
            print_table(("kind", "element", "events", "winner"), rows)
        if unresolved:
            print("open conflicts (resolve each: schemalog's resolve, or merge with a strategy):")
            for r in unresolved:
                first, second = sides.get(r.conflict.key, r.conflict.ids)
                print(f"  {r.conflict.key}\n    {first}\n    vs {second}")
    return 1 if unresolved else 0


def _sides(path: Path, conflicts: list[Any]) -> dict[str, tuple[str, str]]:
    from schemalog.encoding.codec import decode_record_or_raise
    from schemalog.history.sides import describe_sides

    with open(path, "rb") as fh:
        events = [decode_record_or_raise(line, i).event for i, line in enumerate(fh)]
    return describe_sides(events, conflicts)
