"""`schemalog verify LOG`: check every record, checksum, canonical form and hash link."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schemalog.cli.output import Progress, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("verify", help="verify a log (exit 1 at the first bad record)")
    p.add_argument("log", metavar="LOG", help="an .ndjson file or a directory of segments")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.log.store.verify import verify_log

    progress = Progress("verify", enabled=not args.json)
    report = verify_log(args.log, progress=progress.update)
    progress.close()
    if args.json:
        print_json(report.to_obj())
    elif report.problem is None:
        print(f"{args.log}: ok, {report.records:,} records, head {report.head}")
    else:
        print(f"{args.log}: NOT intact after {report.records:,} good records", file=sys.stderr)
        print(str(report.problem), file=sys.stderr)
    return 0 if report.ok else 1
