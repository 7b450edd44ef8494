"""`schemalog log LOG [--after CURSOR] [--limit N]`: one page of a log and the next cursor."""

from __future__ import annotations

import argparse
from typing import Any

from schemalog.cli.output import UsageError, print_json, print_table


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("log", help="print a page of events and the cursor after it")
    p.add_argument(
        "log",
        metavar="LOG",
        help="a log: .ndjson file, segment folder, postgresql://...?log=NAME or http://HOST/logs/NAME",
    )
    p.add_argument("--after", metavar="CURSOR", default=None, help="cursor from a previous page")
    p.add_argument("--limit", type=int, default=20, metavar="N")
    p.add_argument("--json", action="store_true", help="machine-readable page")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from schemalog.log.store.locate import open_store

    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    # Read-only and without the open-time checks: a log is shown as far as it reads.
    store = open_store(args.log, readonly=True, verify=False)
    try:
        page = store.read(args.after, args.limit)
        total = len(store)
    finally:
        store.close()
    if args.json:
        print_json(
            {
                "cursor": page.cursor,
                "records": [
                    {"checksum": r.checksum, "event": r.event.to_obj(), "position": p}
                    for p, r in zip(page.positions, page.records, strict=True)
                ],
                "total": total,
            }
        )
        return 0
    rows = [
        (p, r.event.id, r.event.kind, _describe(r.event.to_obj()["change"]))
        for p, r in zip(page.positions, page.records, strict=True)
    ]
    print_table(("position", "id", "kind", "change"), rows)
    shown = f"{page.positions[0]}..{page.positions[-1]}" if page.positions else "none"
    print(f"records {shown} of {total}; next cursor: {page.cursor or '(start)'}")
    return 0


def _describe(change: dict[str, Any]) -> str:
    parts = []
    for key in ("name", "new_name", "table_id", "property_id", "comment"):
        if key in change:
            parts.append(f"{key}={change[key]!r}")
    if "property" in change:
        parts.append(f"property={change['property']['name']!r}")
    text = " ".join(parts)
    return text if len(text) <= 80 else text[:77] + "..."
