"""`schemalog metrics LOG [--window W] [--json]`: schema evolution metrics, per window."""

from __future__ import annotations

import argparse
from typing import Any

from schemalog.cli.output import UsageError, print_json, print_table


def register(subparsers: Any) -> None:
    from schemalog.analysis.compat import LEVELS, MODES

    p = subparsers.add_parser("metrics", help="schema evolution metrics over time windows")
    p.add_argument(
        "log",
        metavar="LOG",
        help="a log: .ndjson file, segment folder, postgresql://...?log=NAME or http://HOST/logs/NAME",
    )
    p.add_argument(
        "--window",
        metavar="W",
        default=None,
        help="window: N with ms/s/m/h/d/w (HLC wall time) or e (records); default one window",
    )
    p.add_argument("--mode", choices=MODES, default="FULL", help="for breaking changes")
    p.add_argument("--level", choices=tuple(LEVELS), default="DATA")
    p.add_argument("--top", type=int, default=10, metavar="N", help="churn list length")
    p.add_argument("--json", action="store_true", help="JSON with a plot-ready 'series'")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.analysis.metrics import Metrics, compute_metrics, parse_window
    from schemalog.cli._events import read_events

    if args.top < 0:
        raise UsageError("--top must be 0 or more")
    window = parse_window(args.window)
    metrics = compute_metrics(
        read_events(args.log), window, mode=args.mode, level=args.level, top=args.top
    )
    if args.json:
        print_json(metrics.to_obj())
        return 0
    totals = metrics.totals()
    size = metrics.size
    print(f"{metrics.events} records; windows of {window.text}: {len(metrics.windows)}")
    print(
        f"renames: {totals['table_renames']} table, {totals['property_renames']} property; "
        f"breaking changes ({metrics.mode}, {metrics.level}): {totals['breaking']}; "
        f"merges: {totals['merges']} ({totals['merges_with_conflicts']} with conflicts, "
        f"{totals['resolutions']} resolutions); rejected: {totals['rejected']}"
    )
    print(
        f"schema now: {size.node_tables} node + {size.rel_tables} rel tables, "
        f"{size.properties} properties, {size.connections} connections, max fan-out "
        f"{size.max_fanout}, deepest rename chain {size.max_rename_depth}; "
        f"complexity {size.complexity} (T + E + P/4 + F_max + D_max)"
    )
    print("records by kind: " + ", ".join(f"{k} {v}" for k, v in totals["kinds"].items()))
    print()
    print_table(Metrics.TABLE_HEADERS, metrics.table_rows())
    for title, top in (("tables", metrics.top_tables), ("properties", metrics.top_properties)):
        if top:
            print(f"\nchurn, {title}:")
            print_table(
                ("churn", "name", "id", "live"),
                [(t["churn"], t["name"], t["id"], t["live"]) for t in top],
            )
    return 0
