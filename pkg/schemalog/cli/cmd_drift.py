"""`schemalog drift LOG --db PATH [--engine kuzu|ladybug] [--allow-destructive] [--json]`:
exit 1 on drift."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schemalog.cli._logread import add_engine_option
from schemalog.cli.output import print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "drift", help="compare a Kuzu database with the log's head schema; print the repair"
    )
    p.add_argument(
        "log",
        metavar="LOG",
        help="a log: .ndjson file, segment folder, postgresql://...?log=NAME or http://HOST/logs/NAME",
    )
    p.add_argument("--db", required=True, metavar="PATH", help="the Kuzu database")
    p.add_argument(
        "--allow-destructive", action="store_true", help="include drops in the repair DDL"
    )
    add_engine_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.cli._logread import open_db, replay_log
    from schemalog.kuzu.apply import read_record
    from schemalog.kuzu.drift import drift, repair_ddl

    report = replay_log(args.log)
    backend = open_db(args.db, must_exist=True, engine=args.engine)
    try:
        record = read_record(backend)
        found = drift(report.state, backend.catalog(), applied=record.state if record else None)
    finally:
        backend.close()
    plan = repair_ddl(found, allow_destructive=args.allow_destructive)
    applied_at = record.position if record is not None else None
    if args.json:
        print_json(
            {
                **found.to_obj(),
                "applied_position": applied_at,
                "log_position": report.position,
                "repair": plan.to_obj(),
            }
        )
        return 0 if found.clean else 1
    if found.clean:
        print(f"no drift (log position {report.position}, applied {applied_at})")
        return 0
    print(f"-- drift: {len(found.differences)} differences", file=sys.stderr)
    for d in found.differences:
        print(f"--   {d}", file=sys.stderr)
    if applied_at is not None and applied_at < report.position:
        print(
            f"-- (the database applied {applied_at} of {report.position} records)", file=sys.stderr
        )
    for statement in plan.statements:
        print(statement + ";")
    for step in plan.withheld:
        print(f"-- withheld (pass --allow-destructive): {step.statement};")
    return 1
