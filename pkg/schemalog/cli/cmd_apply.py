"""`schemalog apply LOG --db PATH [--engine kuzu|ladybug] [--dry-run] [--allow-destructive]
[--repair] [--json]`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from schemalog.cli._logread import add_engine_option
from schemalog.cli.output import check_output_path, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "apply", help="bring a Kuzu database to the log's head schema (prints the DDL)"
    )
    p.add_argument(
        "log",
        metavar="LOG",
        help="a log: .ndjson file, segment folder, postgresql://...?log=NAME or http://HOST/logs/NAME",
    )
    p.add_argument("--db", required=True, metavar="PATH", help="the Kuzu database (created)")
    p.add_argument("--dry-run", action="store_true", help="print the DDL, send nothing")
    p.add_argument(
        "--allow-destructive", action="store_true", help="allow drops (tables, properties, pairs)"
    )
    p.add_argument(
        "--repair", action="store_true", help="start from the live catalog if it drifted"
    )
    add_engine_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.cli._logread import open_db, replay_log
    from schemalog.kuzu.apply import DriftDetected, PlanRejected, apply_log

    if not os.path.exists(args.db):
        check_output_path(args.db, "database")  # before the replay, not after it
    report = replay_log(args.log)
    backend = open_db(args.db, must_exist=False, engine=args.engine)
    try:
        try:
            result = apply_log(
                backend,
                report,
                dry_run=args.dry_run,
                allow_destructive=args.allow_destructive,
                repair=args.repair,
            )
        except PlanRejected as rejected:
            # e.g. SET SORTED BY (LadybugDB only) applied to Kuzu: nothing was sent
            if args.json:
                print_json({"status": "rejected", "rule": rejected.rule, "message": str(rejected)})
            else:
                print(f"schemalog apply: {rejected}", file=sys.stderr)
            return 1
        except DriftDetected as drifted:
            if args.json:
                print_json({"status": "drift", "drift": drifted.report.to_obj()})
            else:
                print(f"schemalog apply: {drifted}", file=sys.stderr)
                print("run `schemalog drift` to see the repair, or apply --repair", file=sys.stderr)
            return 1
    finally:
        backend.close()
    if args.json:
        print_json(result.to_obj())
    else:
        for statement in result.statements:
            print(statement + ";")
        if result.status == "withheld":
            print("-- withheld (destructive; pass --allow-destructive):", file=sys.stderr)
            for step in result.plan.withheld:
                print(f"--   {step.statement};", file=sys.stderr)
        verb = {"dry-run": "would apply", "applied": "applied"}.get(result.status, result.status)
        print(
            f"-- {verb}: {len(result.statements)} statements, position "
            f"{result.from_position} -> {result.position}",
            file=sys.stderr,
        )
    return 1 if result.status == "withheld" else 0
