"""`schemalog migrate --from-db OLD --to-db NEW [--to-engine ladybug] [--log LOG]`.

Moves a schema between engines by replay (Kuzu and LadybugDB files do not
open across the two). The schema comes from, in order:

1. ``--log LOG``: the log OLD was applied from; its head must be the position
   and checksum OLD's record holds (a log ahead of or beside OLD is refused:
   apply it to OLD first, or migrate what OLD has without ``--log``);
2. OLD's record (``_schemalog_applied``): the state, position and head it
   holds -- the log's schema at the point OLD applied;
3. neither: OLD's catalog becomes the first events of a new log, written to
   ``--new-log`` (default ``NEW.schemalog.ndjson``), which is then replayed.

OLD must not have drifted from that schema (checked first: nothing is
created otherwise). NEW is built with ``apply_log`` (one transaction, with
the same record), then both catalogs are compared with the schema by drift:
exit 0 only when neither side differs. OLD is only read.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from schemalog.cli.output import UsageError, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "migrate", help="build a database of another engine (LadybugDB) from a database's log"
    )
    p.add_argument("--from-db", required=True, metavar="OLD", help="the database to move from")
    p.add_argument("--to-db", required=True, metavar="NEW", help="the database to build")
    p.add_argument(
        "--from-engine",
        choices=("kuzu", "ladybug"),
        default=None,
        help="OLD's engine (default: detected from its file)",
    )
    p.add_argument(
        "--to-engine", choices=("kuzu", "ladybug"), default="ladybug", help="NEW's engine"
    )
    p.add_argument("--log", metavar="LOG", help="the log OLD was applied from (checked)")
    p.add_argument(
        "--new-log",
        metavar="PATH",
        help="where OLD's catalog is written as a log when OLD has no record "
        "(default: NEW.schemalog.ndjson)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run)


def _adopt(old: Any, path: str) -> tuple[Any, list[str]]:
    """OLD's catalog as a new log at ``path`` (a baseline, as ``init --from-db`` records
    it, without writing our record into OLD); its replay report and the assumptions."""
    import uuid

    from schemalog.api import SchemaLog
    from schemalog.cli._logread import replay_log
    from schemalog.log.store.ndjson import NdjsonStore
    from schemalog.model.events import CreateRelTable

    if os.path.exists(path):
        raise UsageError(f"{path}: exists; OLD has no record, its catalog needs a new log")
    # recorded in memory first: a catalog that cannot be recorded leaves no file behind
    log = SchemaLog.in_memory(origin=f"adopt{uuid.uuid4().hex[:12]}")
    baseline = log.record_baseline(old, adopt=False)
    store = NdjsonStore.open(path, create=True)
    try:
        if baseline.events:
            store.append(list(baseline.events), expected=None)
    finally:
        store.close()
    # what a catalog cannot show (kuzu/baseline.py): the rel tables' multiplicity
    assumed = [
        f"rel table {e.change.name!r}: multiplicity not shown, MANY_MANY assumed"
        for e in baseline.events
        if isinstance(e.change, CreateRelTable)
    ]
    return replay_log(path), assumed


def run(args: argparse.Namespace) -> int:
    from schemalog.cli._logread import open_db, replay_log
    from schemalog.kuzu.apply import (
        BOOKKEEPING_TABLE,
        DriftDetected,
        PlanRejected,
        RecordMissing,
        apply_log,
        read_record,
    )
    from schemalog.kuzu.drift import drift

    if os.path.abspath(args.from_db) == os.path.abspath(args.to_db) or (
        os.path.exists(args.from_db)
        and os.path.exists(args.to_db)
        and os.path.samefile(args.from_db, args.to_db)  # a link to it: NEW would be OLD
    ):
        raise UsageError("--from-db and --to-db are the same path")
    old = open_db(args.from_db, must_exist=True, engine=args.from_engine)
    new = None
    try:
        try:
            record = read_record(old)
        except RecordMissing as missing:
            if missing.field != BOOKKEEPING_TABLE:
                raise  # a record table without its row: the record was lost, not absent
            record = None  # never applied to: its catalog becomes the log below
        old_catalog = old.catalog()
        assumed: list[str] = []
        new_log = None
        if args.log is not None:
            report = replay_log(args.log)
            if record is not None and (record.position, record.head_checksum) != (
                report.position,
                report.head,
            ):
                raise UsageError(
                    f"{args.log}: its head (position {report.position}) is not what "
                    f"{args.from_db} applied (position {record.position}): apply the log to "
                    "it first, or migrate without --log"
                )
            state, position, head = report.state, report.position, report.head
        elif record is not None:
            state, position, head = record.state, record.position, record.head_checksum
        else:
            new_log = args.new_log or args.to_db.rstrip(os.sep) + ".schemalog.ndjson"
            report, assumed = _adopt(old, new_log)
            state, position, head = report.state, report.position, report.head
        before = drift(state, old_catalog, applied=record.state if record else None)
        if not before.clean:
            if args.json:
                print_json({"status": "drift", "side": "from", "drift": before.to_obj()})
            else:
                print(
                    f"schemalog migrate: {args.from_db} differs from its schema:", file=sys.stderr
                )
                for d in before.differences:
                    print(f"--   {d}", file=sys.stderr)
            return 1
        new = open_db(args.to_db, must_exist=False, engine=args.to_engine)
        try:
            result = apply_log(new, state, position=position, head_checksum=head)
        except (DriftDetected, PlanRejected) as exc:
            print(f"schemalog migrate: {args.to_db}: {exc}", file=sys.stderr)
            return 1
        new_record = read_record(new)
        after = drift(state, new.catalog(), applied=new_record.state if new_record else None)
    finally:
        old.close()
        if new is not None:
            new.close()
    clean = before.clean and after.clean
    if args.json:
        print_json(
            {
                "status": "migrated" if clean else "drift",
                "from": {"db": args.from_db, "engine": old.engine.name, "drift": before.to_obj()},
                "to": {"db": args.to_db, "engine": args.to_engine, "drift": after.to_obj()},
                "source": "log" if args.log else "record" if record else "catalog",
                "new_log": new_log,
                "assumed": assumed,
                "position": position,
                "statements": list(result.statements),
            }
        )
    else:
        for line in assumed:
            print(f"-- assumed: {line}", file=sys.stderr)
        if new_log is not None:
            print(f"-- {args.from_db} had no record: its catalog is now the log {new_log}")
        print(
            f"-- {args.from_db} ({old.engine.name}) -> {args.to_db} ({args.to_engine}): "
            f"{len(result.statements)} statements, position {position}; "
            + ("no drift on either side" if clean else "DRIFT after apply:")
        )
        for d in after.differences:
            print(f"--   {d}", file=sys.stderr)
    return 0 if clean else 1
