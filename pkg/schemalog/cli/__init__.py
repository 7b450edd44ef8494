"""The `schemalog` command line (also `python -m schemalog`).

Each subcommand lives in its own module of `schemalog.cli` that defines
`register(subparsers)`; it adds its parser with `set_defaults(run=...)`.
`run(args) -> int` returns the exit code: 0 success, 1 a finding (a log
that does not verify, a conflict left unresolved, drift, incompatibility),
2 usage errors and unreadable input. Expected failures print a message that
names what was wrong and where, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from schemalog._version import __version__
from schemalog.cli.output import UsageError, print_json
from schemalog.errors import SchemalogError

EXIT_OK, EXIT_FINDING, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own exit code for usage errors is 2 as well; keep its message short.
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# Commands that read LOG arguments: each runs the one strict reader
# (store.verify.check_log) over every LOG before its own work, so each accepts
# exactly what `verify` accepts, and takes the same two options.
READERS = ("apply", "compat", "drift", "log", "merge", "metrics", "replay", "schema", "upgrade")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="schemalog", description="Event-sourced schema history for KuzuDB.")
    parser.add_argument("--version", action="version", version=f"schemalog {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(subparsers)
    for name in (*READERS, "verify"):
        sub = subparsers.choices[name]
        sub.add_argument(
            "--expect-head",
            metavar="ANCHOR",
            default=None,
            help="refuse a log that does not hold this history: N:CHECKSUM as `verify` "
            "prints it (record N-1 must have CHECKSUM: names a truncation's position), or a "
            "bare record checksum; detects truncation, rewrites and another log",
        )
        sub.add_argument(
            "--expect-log",
            metavar="COPY",
            default=None,
            help="refuse a log that does not hold every record of COPY (an earlier copy: a "
            "path or a log URL) at the same position, naming the first record where they part",
        )
        sub.add_argument(
            "--allow-torn-tail",
            action="store_true",
            help="a torn last line (a crashed append) is a warning, its bytes ignored "
            "(default: a finding, exit 1)",
        )
    return parser


def _log_paths(args: argparse.Namespace) -> list[str]:
    if args.command not in READERS:
        return []
    if args.command == "replay" and args.on_corrupt == "skip":
        return []  # skip reads past what verify refuses, on purpose (replay checks each record)
    paths = getattr(args, "logs", None) or [getattr(args, "log", None)]
    return [p for p in paths if p is not None]


# Commands whose own replay watches the strict reader's rules (log/replay/strict.py):
# they read a LOG once; the strict reader runs only when the watch cannot vouch for it.
FOLDED = ("apply", "drift", "replay", "schema")


def _folded(args: argparse.Namespace) -> bool:
    if args.command not in FOLDED:
        return False
    # a copy to compare with is the strict reader's to judge (the watch knows a bare
    # anchor checksum only; an N:CHECKSUM anchor it cannot vouch for, so the gate runs)
    if getattr(args, "expect_log", None):
        return False
    # a replay from a snapshot does not see the records before it
    return not (args.command == "replay" and getattr(args, "snapshots", None))


def _gate(args: argparse.Namespace) -> int | None:
    """Run the strict reader over every LOG; the exit code when one is refused.

    A folded command's LOGs are left to ``settle`` (after its replay), or to
    ``_gate_pending`` if the command fails before it.
    """
    args.log_reports = {}
    paths = _log_paths(args)
    if _folded(args):
        args.gate_pending = list(paths)
        return None
    args.gate_pending = []
    for path in paths:
        code = _gate_one(args, path)
        if code is not None:
            return code
    return None


def _gate_one(args: argparse.Namespace, path: str) -> int | None:
    """The strict reader over one LOG: prints its finding or warnings as the gate does."""
    from schemalog.log.store.errors import StoreMissing
    from schemalog.log.store.locate import is_url, open_store
    from schemalog.log.store.verify import BadAnchor, verify_log, verify_store

    try:
        if is_url(path):  # PostgreSQL or a served log: the same reader over the store
            store = open_store(path, readonly=True)
            try:
                report = verify_store(
                    store, expected_head=args.expect_head, expected_log=args.expect_log
                )
            finally:
                store.close()
        else:
            report = verify_log(
                path,
                expected_head=args.expect_head,
                expected_log=args.expect_log,
                allow_torn_tail=args.allow_torn_tail,
            )
    except StoreMissing as exc:
        missing = args.expect_log if exc.path == args.expect_log else path
        raise UsageError(f"{missing}: no such log") from None
    except BadAnchor as exc:
        raise UsageError(str(exc)) from None
    args.log_reports[path] = report
    if report.problem is not None:
        if getattr(args, "json", False):
            obj = report.to_obj()
            obj["error"] = f"{path}: does not verify: {report.problem}"
            obj["exit"] = EXIT_FINDING
            obj["command"] = args.command
            print_json(obj)
        else:
            print(
                f"schemalog {args.command}: {path}: NOT intact after "
                f"{report.records:,} good records (see `schemalog verify`)",
                file=sys.stderr,
            )
            print(str(report.problem), file=sys.stderr)
        return EXIT_FINDING
    _print_warnings(args, path, report.warnings)
    return None


def _print_warnings(args: argparse.Namespace, path: str, warnings: Sequence[str]) -> None:
    if not getattr(args, "json", False):
        for warning in warnings:
            print(f"schemalog {args.command}: {path}: warning: {warning}", file=sys.stderr)


class GateRefused(Exception):
    """A folded command's LOG does not verify: the strict reader has said why."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def strict_watch(args: argparse.Namespace, path: str) -> Any:
    """The watch to replay ``path`` with when its strict reading is pending, else None."""
    if path not in getattr(args, "gate_pending", ()):
        return None
    from schemalog.log.replay.strict import StrictWatch

    return StrictWatch(args.expect_head)


def settle(args: argparse.Namespace, path: str, watch: Any, report: Any, store: Any) -> None:
    """After a folded command's replay of ``path`` (with ``watch``, from ``strict_watch``):
    the gate's warnings when the watch vouches for the log, else the strict reader
    itself; raises GateRefused (its finding printed) when the log does not verify."""
    if watch is None or path not in args.gate_pending:
        return
    args.gate_pending.remove(path)
    if watch.clean(report, store):
        from schemalog.log.store.verify import V1_WARNING

        _print_warnings(args, path, [V1_WARNING] if watch.format == 1 else [])
        return
    code = _gate_one(args, path)
    if code is not None:
        raise GateRefused(code)


def _gate_pending(args: argparse.Namespace) -> int | None:
    """A folded command failed before its replay vouched for its LOGs: the gate, as before."""
    pending = getattr(args, "gate_pending", [])
    while pending:
        code = _gate_one(args, pending.pop(0))
        if code is not None:
            return code
    return None


def _run(args: argparse.Namespace) -> int:
    """The command, with its LOGs read strictly first or (folded) by its replay."""
    gated = _gate(args)
    if gated is not None:
        return gated
    try:
        code: int = args.run(args)
    except GateRefused as refused:
        return refused.code
    except BrokenPipeError:
        raise
    except Exception:
        # the gate would have run first: its finding wins over the command's error
        gated = _gate_pending(args)
        if gated is not None:
            return gated
        raise
    gated = _gate_pending(args)  # (a folded command that never replayed its LOG)
    return code if gated is None else gated


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """An error as one line on stderr, or with --json one object on stdout; same exit code."""
    if getattr(args, "json", False):
        print_json({"command": args.command, "error": message, "exit": code, "ok": False})
    else:
        print(f"schemalog {args.command}: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        try:
            code = _run(args)
        except UsageError as exc:
            return _fail(args, str(exc), EXIT_USAGE)
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            return _fail(args, f"{exc.filename or ''}: {exc.strerror or exc}", EXIT_USAGE)
        except SchemalogError as exc:
            return _fail(args, str(exc), EXIT_USAGE)
        except KeyboardInterrupt:
            return 130
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly; no more output can reach it
        _silence_stdout()
        return EXIT_OK
    return code


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no file descriptor (tests capture it)
        pass
