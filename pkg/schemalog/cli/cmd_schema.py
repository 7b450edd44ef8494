"""`schemalog schema LOG [--json | --format cypher]`: the schema at the log's head.

``--format cypher`` prints only DDL (a ``//`` comment and the statements),
which ``schemalog record`` reads back to the same schema."""

from __future__ import annotations

import argparse
from typing import Any

from schemalog.cli.output import print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("schema", help="print the schema at the head of a log")
    p.add_argument(
        "log",
        metavar="LOG",
        help="a log: .ndjson file, segment folder, postgresql://...?log=NAME or http://HOST/logs/NAME",
    )
    p.add_argument("--json", action="store_true", help="the state as JSON, with its DDL")
    p.add_argument(
        "--format",
        choices=("text", "json", "cypher"),
        default="text",
        help="text (default), json (as --json), or cypher: DDL that `record` reads back",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.cli._logread import replay_log
    from schemalog.kuzu.ddl import ddl_for_state
    from schemalog.model.state_json import state_to_obj

    report = replay_log(args.log, args)
    ddl = ddl_for_state(report.state)
    if args.format == "cypher":
        print(f"// position {report.position}, {len(report.state.tables)} tables")
        for statement in ddl:
            print(statement + ";")
        return 0
    if args.json or args.format == "json":
        print_json(
            {
                "position": report.position,
                "head": report.head,
                "state_hash": report.state_hash,
                "state": state_to_obj(report.state),
                "ddl": ddl,
            }
        )
        return 0
    tables = len(report.state.tables)
    print(f"-- position {report.position}, {tables} tables, {report.state_hash}")
    for statement in ddl:
        print(statement + ";")
    return 0
