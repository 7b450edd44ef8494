"""`schemalog drift LOG --db PATH [--engine kuzu|ladybug] [--allow-destructive] [--json]`:
exit 1 on drift.

The verdict is apply's (``kuzu.verdict.assess``): a missing or unreadable
record is RecordMissing / RecordCorrupt naming the field (exit 2, as apply),
except a database with no record table at all (never applied to, e.g. made by
hand or to be migrated): it is compared with the log's head, the missing
record named on stderr (and in ``record``), the plan ``apply --repair`` would
send shown;
otherwise the differences between the database and the log's head are listed,
with what changed behind the log's back (against the record), and the plan is
exactly what ``apply`` (``apply --repair`` when something changed behind the
log's back) would send, with the rows each destructive step deletes.
"""

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
    from schemalog.kuzu.apply import apply_log
    from schemalog.kuzu.drift import BOOKKEEPING_TABLE, DriftReport, drift
    from schemalog.kuzu.record import RecordMissing, RecordProblem
    from schemalog.kuzu.verdict import Verdict, assess

    report = replay_log(args.log, args)
    backend = open_db(args.db, must_exist=True, engine=args.engine)
    never: RecordMissing | None = None  # tables, and no record table at all
    try:
        try:
            verdict = assess(backend)
        except RecordProblem as problem:
            if not isinstance(problem, RecordMissing) or problem.field != BOOKKEEPING_TABLE:
                return _record_problem(args, problem)
            # never applied to (a hand-made database): compared with the head, which is
            # no guess about what was applied; apply says RecordMissing until --repair
            never, catalog = problem, backend.catalog()
            verdict = Verdict(None, catalog, DriftReport((), {}, {}))
        record = verdict.record
        found = drift(report.state, verdict.catalog, applied=record.state if record else None)
        result = apply_log(
            backend,
            report,
            dry_run=True,
            allow_destructive=args.allow_destructive,
            repair=never is not None or not verdict.clean,
        )
    finally:
        backend.close()
    applied_at = record.position if record is not None else None
    if args.json:
        print_json(
            {
                **found.to_obj(),
                "changed": verdict.changed.to_obj(),
                "applied_position": applied_at,
                "record": never.to_obj() if never is not None else None,
                "log_position": report.position,
                "repair": result.plan.to_obj(),
                "losses": [loss.to_obj() for loss in result.losses],
            }
        )
        return 0 if found.clean else 1
    if never is not None:
        print(f"-- {never}", file=sys.stderr)
    if found.clean:
        print(f"no drift (log position {report.position}, applied {applied_at})")
        return 0
    print(f"-- drift: {len(found.differences)} differences", file=sys.stderr)
    for d in found.differences:
        print(f"--   {d}", file=sys.stderr)
    if not verdict.clean:
        print("-- changed behind the log's back (against the record):", file=sys.stderr)
        for d in verdict.changed.differences:
            print(f"--   {d}", file=sys.stderr)
    if applied_at is not None and applied_at < report.position:
        print(
            f"-- (the database applied {applied_at} of {report.position} records)", file=sys.stderr
        )
    for statement in result.plan.statements:
        print(statement + ";")
    for step in result.plan.withheld:
        print(f"-- withheld (pass --allow-destructive): {step.statement};")
    for loss in result.losses:
        print(f"-- {loss}")
    return 1


def _record_problem(args: argparse.Namespace, problem: Any) -> int:
    if args.json:
        print_json(problem.to_obj())
    else:
        print(f"schemalog drift: {problem}", file=sys.stderr)
    return 2
