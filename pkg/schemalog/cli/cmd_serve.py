"""`schemalog serve`: the HTTP + SSE sync service over a folder of logs or PostgreSQL."""

from __future__ import annotations

import argparse
import os
from typing import Any

from schemalog.cli.output import UsageError

DEFAULT_STORE = "schemalog-logs"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve", help="serve logs over HTTP (append, read, stream, lease) for a team"
    )
    p.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="URL",
        help=f"a folder of NDJSON logs (default ./{DEFAULT_STORE}) or postgresql://...",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser pages from ORIGIN (repeat; '*' for any)",
    )
    p.add_argument(
        "--write-token",
        action="append",
        default=[],
        metavar="LOG=TOKEN",
        help="writes to LOG need 'Authorization: Bearer TOKEN' (LOG '*': every log; repeat)",
    )
    p.add_argument(
        "--poll",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often streams look for records written around the service",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from schemalog.server import serve
    except ImportError as exc:
        raise UsageError(
            f"the sync service needs the server extra (pip install 'kuzu-schemalog[server]'): {exc}"
        ) from None
    tokens: dict[str, str] = {}
    for item in args.write_token:
        log, sep, token = item.partition("=")
        if not sep or not log or not token:
            raise UsageError(f"--write-token {item!r}: expected LOG=TOKEN")
        tokens[log] = token
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a TCP port")
    if not args.poll > 0:
        raise UsageError(f"--poll {args.poll}: must be > 0")
    store = args.store
    if "://" not in store and os.path.exists(store) and not os.path.isdir(store):
        raise UsageError(
            f"--store {store}: not a folder (a folder of NDJSON logs, or postgresql://...)"
        )
    serve(
        args.store,
        args.host,
        args.port,
        write_tokens=tokens,
        cors_origins=args.cors,
        poll_s=args.poll,
    )
    return 0
