"""`schemalog synth OUT --events N`: write a synthetic, hash-chained event log."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from schemalog.cli.output import Progress, UsageError, print_json, print_table


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("synth", help="write a synthetic event log (NDJSON)")
    p.add_argument("out", metavar="OUT", help="the .ndjson file to write")
    p.add_argument("--events", type=int, required=True, metavar="N")
    p.add_argument("--origins", type=int, default=1, metavar="K")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.synth import write_log

    if args.events < 0:
        raise UsageError("--events must be 0 or more")
    if not 1 <= args.origins <= 256:
        raise UsageError("--origins must be within 1..256")
    if os.path.isdir(args.out):
        raise UsageError(f"{args.out} is a directory")
    if os.path.exists(args.out) and not args.force:
        raise UsageError(f"{args.out} exists (use --force to overwrite)")
    progress = Progress("synth", args.events, enabled=not args.json)
    started = time.perf_counter()
    summary = write_log(
        args.out,
        args.events,
        args.origins,
        args.seed,
        overwrite=args.force,
        progress=progress.update,
    )
    progress.close()
    seconds = time.perf_counter() - started
    obj = summary.to_obj()
    obj["path"] = args.out
    obj["seconds"] = round(seconds, 3)
    obj["events_per_second"] = round(summary.events / seconds) if seconds > 0 else None
    if args.json:
        print_json(obj)
        return 0
    print(
        f"wrote {summary.events:,} events ({summary.bytes:,} bytes) to {args.out} "
        f"in {seconds:.2f} s; {summary.node_tables} node and {summary.rel_tables} rel tables "
        f"at the end; {len(summary.heads)} head(s)"
    )
    rows = [(kind, count) for kind, count in summary.counts.items() if count]
    print_table(("kind", "events"), rows, sys.stdout)
    return 0
