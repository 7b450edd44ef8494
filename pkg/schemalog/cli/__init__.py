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

from schemalog._version import __version__
from schemalog.cli.output import UsageError
from schemalog.errors import SchemalogError

EXIT_OK, EXIT_FINDING, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own exit code for usage errors is 2 as well; keep its message short.
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="schemalog", description="Event-sourced schema history for KuzuDB.")
    parser.add_argument("--version", action="version", version=f"schemalog {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except UsageError as exc:
        print(f"schemalog {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(
            f"schemalog {args.command}: {exc.filename or ''}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except SchemalogError as exc:
        print(f"schemalog {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code
