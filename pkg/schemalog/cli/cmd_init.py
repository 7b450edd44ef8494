"""`schemalog init LOG --from-db PATH [--json]`: a new log whose first events are the
schema of an existing Kuzu database (its catalog), so that `drift` reports nothing
and later changes are recorded on top and applied. Refused when LOG already has
events or the database is already kept by a log."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schemalog.cli.output import UsageError, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("init", help="start a log from an existing database's schema")
    p.add_argument("log", metavar="LOG", help="an .ndjson file or a directory of segments")
    p.add_argument("--from-db", required=True, metavar="PATH", help="the Kuzu database")
    p.add_argument(
        "--no-adopt",
        action="store_true",
        help="leave the database untouched (by default its _schemalog_applied record says "
        "it holds the baseline, so that `apply` sends only later changes)",
    )
    p.add_argument("--origin", help="the writer's origin (default: a random one)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.api import SchemaLog
    from schemalog.cli._logread import open_db
    from schemalog.model.names import validate_token

    if args.origin is not None:
        validate_token(args.origin, "origin")  # before the log is made: a refusal makes nothing
    backend = open_db(args.from_db, must_exist=True)
    try:
        log = SchemaLog.open(args.log, create=True, origin=args.origin)
        try:
            if log.position:
                raise UsageError(f"{args.log}: already has {log.position} events")
            result = log.record_baseline(backend, adopt=not args.no_adopt)
        finally:
            log.store.close()
    finally:
        backend.close()
    if args.json:
        print_json({"status": "recorded", "position": log.position, **result.to_obj()})
        return 0
    for event in result.events:
        print(f"// {event.id} {event.kind}")
    tables = len(result.state.tables)
    print(f"-- baseline: {len(result.events)} events, {tables} tables", file=sys.stderr)
    return 0
