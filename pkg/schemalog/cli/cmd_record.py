"""`schemalog record LOG (-f FILE | -e STATEMENTS) [--dry-run] [--skip-non-ddl] [--json]`.

Records Cypher DDL as events (``SchemaLog.record_cypher``): every statement of
the text, or none. Exit 0 when recorded (or shown with ``--dry-run``), 1 when
the schema refuses a statement, 2 when the text does not parse or holds a
statement we do not record; the message names line, column and statement.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from schemalog.cli.output import UsageError, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("record", help="record Cypher DDL (a file or statements) as events")
    p.add_argument(
        "log",
        metavar="LOG",
        help="a log: .ndjson file, segment folder, postgresql://...?log=NAME or "
        "http://HOST/logs/NAME (made if not there)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-f", "--file", metavar="FILE", help="a file of DDL statements ('-': stdin)")
    src.add_argument("-e", "--execute", metavar="STATEMENTS", help="DDL statements")
    p.add_argument("--dry-run", action="store_true", help="show the events, write nothing")
    p.add_argument(
        "--skip-non-ddl",
        action="store_true",
        help="skip statements that are not schema DDL (MATCH, COPY...) and list them",
    )
    p.add_argument("--origin", help="the writer's origin (default: a random one)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run)


def _text(args: argparse.Namespace) -> str:
    if args.execute is not None:
        return str(args.execute)
    if args.file == "-":
        return sys.stdin.read()
    try:
        with open(args.file, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{args.file}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def run(args: argparse.Namespace) -> int:
    from schemalog.api import SchemaLog
    from schemalog.kuzu.ddl import ddl_for_event
    from schemalog.kuzu.ddl_lex import DdlError
    from schemalog.log.store import MemoryStore, StoreMissing
    from schemalog.log.store.locate import is_url, open_store
    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.model.names import validate_token
    from schemalog.model.schema import Applied, apply

    if args.origin is not None:
        validate_token(args.origin, "origin")  # before the log is made: a refusal makes nothing
    text = _text(args)
    source = "-e" if args.execute is not None else args.file
    if is_url(args.log):  # a shared log: the store's appends guard it (expected head)
        try:
            store = open_store(args.log, create=not args.dry_run, readonly=args.dry_run)
        except StoreMissing:  # (a dry run on a log not made yet)
            store = MemoryStore()
        log = SchemaLog(store, origin=args.origin)
    elif args.dry_run and not os.path.exists(args.log):
        log = SchemaLog.in_memory(origin=args.origin)
    elif args.dry_run:  # read only: a dry run writes nothing, not even a torn tail's cut
        log = SchemaLog(NdjsonStore.open(args.log, readonly=True), origin=args.origin)
    else:
        log = SchemaLog.open(args.log, create=True, origin=args.origin)
    try:
        start = log.schema
        result = log.record_cypher(text, skip_non_ddl=args.skip_non_ddl, dry_run=args.dry_run)
    finally:
        log.store.close()
    if isinstance(result, DdlError):
        code = 1 if result.kind == "rejected" else 2
        if args.json:
            print_json({"status": "refused", "error": result.to_obj()})
        else:
            print(f"schemalog record: {source}: {result}", file=sys.stderr)
            print("nothing was recorded", file=sys.stderr)
        return code
    status = "dry-run" if args.dry_run else "recorded"
    if args.json:
        print_json({"status": status, "position": log.position, **result.to_obj()})
        return 0
    state = start
    for event in result.events:
        print(f"// {event.id} {event.kind}")
        for statement in ddl_for_event(state, event):
            print(statement + ";")
        outcome = apply(state, event)
        assert isinstance(outcome, Applied)
        state = outcome.state
    for w in result.unchanged:
        print(f"-- unchanged (IF [NOT] EXISTS), line {w.line}: {w.text}", file=sys.stderr)
    for s in result.skipped:
        print(f"-- skipped {s.what}, line {s.at.line}: {s.at.text}", file=sys.stderr)
    verb = "would record" if args.dry_run else "recorded"
    print(f"-- {verb} {len(result.events)} events", file=sys.stderr)
    return 0
