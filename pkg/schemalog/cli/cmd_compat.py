"""`schemalog compat LOG --mode MODE [--from V] [--to V] ...`: breaking changes between versions.

Versions: a position (records applied, 0 = empty), ``head``, a tag name (or
``tag:NAME``), or an event id. Non-transitive modes with ``--from`` compare the
two versions directly; without ``--from`` they check every version up to
``--to`` against the one before it. Transitive modes check every version in
``--from``..``--to`` against every earlier one in that range. ``--versions
tag`` makes only tagged records versions. Exit 1 when anything breaks.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schemalog.cli.output import UsageError, print_json, print_table


def register(subparsers: Any) -> None:
    from schemalog.analysis.compat import LEVELS, MODES, RULES

    p = subparsers.add_parser(
        "compat",
        help="check compatibility between schema versions (exit 1 on a breaking change)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument(
        "log",
        metavar="LOG",
        nargs="?",
        help="a log: .ndjson file, segment folder, postgresql://...?log=NAME or http://HOST/logs/NAME",
    )
    p.add_argument("--mode", choices=MODES, default="BACKWARD")
    p.add_argument("--from", dest="from_", metavar="V", default=None, help="older version")
    p.add_argument("--to", metavar="V", default="head", help="newer version (default head)")
    p.add_argument(
        "--versions",
        choices=("event", "tag"),
        default="event",
        help="what counts as a version along the history (default every record)",
    )
    p.add_argument(
        "--level",
        choices=tuple(LEVELS),
        default="DATA",
        help="rule categories checked: QUERY, DATA (= QUERY+DATA), STRICT (all)",
    )
    p.add_argument(
        "--ignore",
        metavar="RULE",
        action="append",
        default=[],
        choices=sorted(RULES),
        help="skip one rule (repeatable)",
    )
    p.add_argument("--limit", type=int, default=1000, metavar="N", help="findings listed")
    p.add_argument("--rules", action="store_true", help="list the rules and exit")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(run=run)


def _positions(path: str, specs: list[str]) -> list[Any]:
    """Versions for the specs; ``head`` stays None unless something else needs a pass."""
    from schemalog.analysis.versions import Version, parse_spec, resolve
    from schemalog.cli._events import read_events

    parsed = [parse_spec(s) for s in specs]
    if all(s.kind in ("position", "head") for s in parsed):
        return [Version(int(s.value)) if s.kind == "position" else None for s in parsed]
    return list(resolve(parsed, read_events(path)))


def run(args: argparse.Namespace) -> int:
    from schemalog.analysis.compat import RULES, check_history, check_pair, is_transitive
    from schemalog.cli._events import read_events

    if args.rules:
        rows = [(r.id, r.category, "+".join(sorted(r.breaks)), r.summary) for r in RULES.values()]
        if args.json:
            print_json(
                [dict(zip(("id", "category", "breaks", "summary"), r, strict=True)) for r in rows]
            )
        else:
            print_table(("rule", "category", "breaks", "summary"), rows)
        return 0
    if args.log is None:
        raise UsageError("LOG is required (or --rules)")
    if args.limit < 0:
        raise UsageError("--limit must be 0 or more")
    specs = [args.to] if args.from_ is None else [args.from_, args.to]
    versions = _positions(args.log, specs)
    new = versions[-1]
    old = versions[0] if args.from_ is not None else None
    if old is not None and new is not None and old.position > new.position:
        raise UsageError(
            f"--from {args.from_} (position {old.position}) is after --to {args.to} "
            f"(position {new.position})"
        )
    events = read_events(args.log)
    if old is not None and not is_transitive(args.mode):
        report = check_pair(
            events,
            old.position,
            new.position if new else None,
            args.mode,
            args.level,
            args.ignore,
            limit=args.limit,
        )
    else:
        report = check_history(
            events,
            args.mode,
            args.level,
            args.ignore,
            start=old.position if old else 0,
            stop=new.position if new else None,
            every=args.versions,
            limit=args.limit,
        )
    if args.json:
        print_json(report.to_obj())
    else:
        _print_text(report)
    return 0 if report.compatible else 1


def _print_text(report: Any) -> None:
    span = f"{report.old.label} -> {report.new.label}" if report.old and report.new else "-"
    verdict = "compatible" if report.compatible else f"{report.total} breaking change(s)"
    ignored = f", ignoring {', '.join(report.ignored)}" if report.ignored else ""
    print(
        f"{report.mode} at level {report.level}{ignored}: versions {span} "
        f"({report.versions} versions, {report.records} records): {verdict}"
    )
    if report.rejected:
        print(f"note: {report.rejected} record(s) were rejected by the schema and skipped")
    for finding in report.findings:
        print(f"  {finding.message()}")
    if report.total > len(report.findings):
        print(f"  ... and {report.total - len(report.findings)} more (--limit)")
    if report.by_rule and report.total > 1:
        print("by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_rule.items())))
    sys.stdout.flush()
