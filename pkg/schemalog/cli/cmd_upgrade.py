"""`schemalog upgrade LOG -o OUT`: rewrite a record format v1 log as v2.

Same events, byte for byte; a new, cumulative chain (each checksum covers the
previous one). Refused (exit 1, nothing written) when LOG does not verify or
is already v2; exit 2 for unreadable paths. Prints the new head to keep.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from schemalog.cli.output import Progress, UsageError, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("upgrade", help="rewrite a v1 log as record format v2")
    p.add_argument("log", metavar="LOG", help="a v1 .ndjson file or a directory of segments")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the v2 log to write")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.log.upgrade import UpgradeRefused, upgrade_log

    if not os.path.exists(args.log):
        raise UsageError(f"{args.log}: no such log")
    parent = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(parent):
        raise UsageError(f"{args.output}: folder {parent} does not exist")
    if os.path.exists(args.output):
        raise UsageError(f"{args.output}: already exists (not overwritten)")
    progress = Progress("upgrade", enabled=not args.json)
    try:
        report = upgrade_log(
            args.log, args.output, progress=progress.update, allow_torn_tail=args.allow_torn_tail
        )
    except OSError as exc:
        if exc.filename is not None:
            raise  # reading the log: named by its path
        # writing (a full disk, a file size limit): upgrade_log removed its temporary file
        raise UsageError(
            f"{args.output}: could not be written ({exc.strerror or exc}); nothing was written"
        ) from None
    except UpgradeRefused as exc:
        progress.close()
        if args.json:
            print_json({"ok": False, "error": str(exc), "position": exc.position})
        else:
            print(f"schemalog upgrade: {exc}", file=sys.stderr)
        return 1
    progress.close()
    if args.json:
        print_json(
            {
                "ok": True,
                "records": report.records,
                "old_head": report.old_head,
                "head": report.new_head,
                "output": args.output,
            }
        )
    else:
        print(
            f"{args.output}: {report.records:,} records upgraded to record format v2, "
            f"head {report.new_head}"
        )
    return 0
