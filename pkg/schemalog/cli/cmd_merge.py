"""`schemalog merge LOG... -o OUT`: merge instance logs, report conflicts and resolutions.

The written log is a function of the set of input events (any input order,
or a result merged with its own inputs again, writes the same bytes). Exit 0
when every conflict is resolved, 1 when some remain unresolved, 2 for
unreadable or inconsistent input (a broken chain, a forked event id).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from schemalog.cli.output import UsageError, check_output_path, print_json, print_table
from schemalog.errors import SchemalogError
from schemalog.history.merge import STRATEGIES
from schemalog.history.merge_records import merge_files


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "merge", help="merge instance logs into one, resolving conflicts"
    )
    parser.add_argument("logs", nargs="+", metavar="LOG", help="NDJSON logs to merge")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="merged log path")
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="reject",
        help="how to resolve conflicts (default: reject = report, record no winner)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for path in args.logs:  # each verified already by the strict reader (cli.READERS)
        if Path(path).is_dir():
            raise UsageError(f"{path}: merge reads single-file logs, not segment folders")
    check_output_path(args.output)
    out = Path(args.output)
    # record level: inputs are streamed and verified, the output written as it comes
    try:
        result = merge_files(args.logs, out, args.strategy, drop_torn_tail=args.allow_torn_tail)
    except SchemalogError as exc:
        where = f"{args.logs[exc.log_index]}: " if exc.log_index is not None else ""
        raise UsageError(f"{where}{exc}") from exc
    unresolved = result.unresolved
    # open conflicts: both sides in words, by the names of that moment in the merged log
    sides = _sides(out, [r.conflict for r in unresolved]) if unresolved else {}
    if args.json:
        print_json(
            {
                "output": str(out),
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
            f"merged {len(args.logs)} logs into {out}: {result.events} events, "
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
