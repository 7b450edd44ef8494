"""`schemalog verify LOG`: the one strict reader, run alone.

Checks every record (framing, canonical form, checksum, event), hash link,
record format, known parents and one record per id; with ``--expect-head``,
that the log holds that anchored history, and with ``--expect-log COPY`` every
record of the copy at its position (naming the first where they part). Prints
the anchor to keep, ``N:CHECKSUM`` (pass it as ``--expect-head`` to any reader
later). Exit 0 when intact, 1 at the first problem, 2 for a path that is no
log or an anchor that is no anchor.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schemalog.cli.output import Progress, UsageError, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("verify", help="verify a log (exit 1 at the first bad record)")
    p.add_argument(
        "log",
        metavar="LOG",
        help="an .ndjson file, a directory of segments, postgresql://...?log=NAME or "
        "http://host:port/logs/NAME",
    )
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.log.store.errors import StoreMissing
    from schemalog.log.store.locate import is_url
    from schemalog.log.store.verify import BadAnchor, verify_log

    try:
        if is_url(args.log):  # PostgreSQL or a served log: the same reader over its records
            report = _verify_url(args.log, args.expect_head, args.expect_log)
        else:
            progress = Progress("verify", enabled=not args.json)
            report = verify_log(
                args.log,
                expected_head=args.expect_head,
                expected_log=args.expect_log,
                allow_torn_tail=args.allow_torn_tail,
                progress=progress.update,
            )
            progress.close()
    except BadAnchor as exc:
        raise UsageError(str(exc)) from None
    except StoreMissing as exc:
        if args.expect_log is not None and exc.path == args.expect_log:
            raise UsageError(f"{args.expect_log}: no such log") from None
        raise
    if args.json:
        print_json(report.to_obj())
    elif report.problem is None:
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        fmt = f", record format v{report.format}" if report.format else ""
        print(f"{args.log}: ok, {report.records:,} records{fmt}")
        if report.head is not None:
            print(f"head {report.head}")
            print(f"anchor {report.anchor}  (keep it: --expect-head {report.anchor})")
    else:
        print(f"{args.log}: NOT intact after {report.records:,} good records", file=sys.stderr)
        print(str(report.problem), file=sys.stderr)
    return 0 if report.ok else 1


def _verify_url(url: str, expected_head: str | None, expected_log: str | None) -> Any:
    from schemalog.log.store.errors import StoreMissing
    from schemalog.log.store.locate import open_store
    from schemalog.log.store.verify import verify_store

    try:
        store = open_store(url, readonly=True)
    except StoreMissing:
        raise UsageError(f"{url}: no such log") from None
    try:
        return verify_store(store, expected_head=expected_head, expected_log=expected_log)
    finally:
        store.close()
