"""`schemalog apply LOG --db PATH [--engine kuzu|ladybug] [--dry-run] [--allow-destructive]
[--repair] [--allow-drop-nonempty] [--json]`.

Exit 0 applied (or nothing to do); 1 drift (without --repair) or a plan withheld
(destructive steps without --allow-destructive; a repair dropping a table that
holds rows without --allow-drop-nonempty) or rejected (a step the engine lacks);
2 a missing or corrupt record (RecordMissing / RecordCorrupt, naming the field),
usage errors, unreadable input.
"""

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
        "--repair",
        action="store_true",
        help="start from the live catalog (drifted, or record missing/corrupt): tables "
        "matching the log by name and structure are kept with their data",
    )
    p.add_argument(
        "--allow-drop-nonempty",
        action="store_true",
        help="with --repair: also drop tables that hold rows",
    )
    add_engine_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.cli._logread import open_db, replay_log
    from schemalog.kuzu.apply import DriftDetected, PlanRejected, apply_log
    from schemalog.kuzu.record import RecordProblem

    if not os.path.exists(args.db):
        check_output_path(args.db, "database")  # before the replay, not after it
    report = replay_log(args.log, args)
    backend = open_db(args.db, must_exist=False, engine=args.engine)
    try:
        try:
            result = apply_log(
                backend,
                report,
                dry_run=args.dry_run,
                allow_destructive=args.allow_destructive,
                repair=args.repair,
                allow_drop_nonempty=args.allow_drop_nonempty,
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
        except RecordProblem as problem:
            if args.json:
                print_json(problem.to_obj())
            else:
                print(f"schemalog apply: {problem}", file=sys.stderr)
                print("see the repair with `schemalog apply --repair --dry-run`", file=sys.stderr)
            return 2
    finally:
        backend.close()
    if args.json:
        print_json(result.to_obj())
    else:
        _print_text(result)
    return 1 if result.status == "withheld" else 0


def _print_text(result: Any) -> None:
    for statement in result.statements:
        print(statement + ";")
    for loss in result.losses:
        print(f"-- {loss}", file=sys.stderr)
    if result.status == "withheld" and result.plan.withheld:
        print("-- withheld (destructive; pass --allow-destructive):", file=sys.stderr)
        for step in result.plan.withheld:
            print(f"--   {step.statement};", file=sys.stderr)
    elif result.status == "withheld":
        print(
            "-- withheld: the repair would drop tables holding rows "
            "(pass --allow-drop-nonempty to drop them):",
            file=sys.stderr,
        )
        for loss in result.blocked:
            print(f"--   {loss}", file=sys.stderr)
    verb = {"dry-run": "would apply", "applied": "applied"}.get(result.status, result.status)
    print(
        f"-- {verb}: {len(result.statements)} statements, position "
        f"{result.from_position} -> {result.position}",
        file=sys.stderr,
    )
