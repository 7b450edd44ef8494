"""`schemalog synth OUT --events N`: write a synthetic, hash-chained event log."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Any

from schemalog.cli.output import Progress, UsageError, check_output_path, print_json, print_table


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("synth", help="write a synthetic event log (NDJSON)")
    p.add_argument("out", metavar="OUT", help="the .ndjson file to write")
    p.add_argument("--events", type=int, required=True, metavar="N")
    p.add_argument("--origins", type=int, default=1, metavar="K")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument(
        "--replicas",
        type=int,
        metavar="R",
        help="write R diverged replica logs r1..rR.ndjson into the directory OUT instead",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.synth.generator import write_log

    if args.events < 0:
        raise UsageError("--events must be 0 or more")
    if not 1 <= args.origins <= 256:
        raise UsageError("--origins must be within 1..256")
    if args.replicas is not None:
        return _replicas(args)
    if os.path.isdir(args.out):
        raise UsageError(f"{args.out} is a directory")
    if os.path.exists(args.out) and not args.force:
        raise UsageError(f"{args.out} exists (use --force to overwrite)")
    check_output_path(args.out)
    progress = Progress("synth", args.events, enabled=not args.json)
    started = time.perf_counter()
    try:
        summary = write_log(
            args.out,
            args.events,
            args.origins,
            args.seed,
            overwrite=args.force,
            progress=progress.update,
        )
    except OSError as exc:  # a full disk, a file size limit: no partial log is left
        with contextlib.suppress(OSError):
            os.unlink(args.out)
        raise UsageError(
            f"{args.out}: could not be written ({exc.strerror or exc}); removed"
        ) from None
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


def _replicas(args: argparse.Namespace) -> int:
    """R logs sharing a 10% prefix, then concurrent, partly conflicting branches."""
    from schemalog.synth.replicas import synth_replicas, write_replicas

    if not 1 <= args.replicas <= 64:
        raise UsageError("--replicas must be within 1..64")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"{args.out} exists and is not a directory")
    check_output_path(args.out)
    prefix = args.events // 10
    logs = synth_replicas(args.replicas, prefix, args.events - prefix, args.seed)
    paths = write_replicas(args.out, logs)
    if args.json:
        print_json({"paths": [str(p) for p in paths], "events": [len(x) for x in logs]})
    else:
        print(f"wrote {len(paths)} replica logs of {args.events:,} events each to {args.out}")
    return 0
