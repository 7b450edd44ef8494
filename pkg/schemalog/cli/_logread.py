"""Reading a LOG argument into its head state (shared by apply, drift, schema)."""

from __future__ import annotations

import os
import stat
from typing import Any

from schemalog.cli.output import UsageError, check_output_path


def replay_log(path: str, args: Any = None) -> Any:
    """The ``ReplayReport`` of the whole log at ``path``; a log that does not replay
    cleanly (corrupt record, broken chain, rejected event) is a usage error (exit 2).

    ``args``: the command's, when its strict reading is folded into this replay
    (``cli.settle``: a log that does not verify raises GateRefused first)."""
    from schemalog.cli import settle, strict_watch
    from schemalog.log.replay import replay
    from schemalog.log.store.locate import is_url, open_store

    if not is_url(path) and not os.path.exists(path):
        raise UsageError(f"{path}: no such log")
    watch = strict_watch(args, path) if args is not None else None
    # a folded read opens without the store's own framing check: the replay sees
    # every line, and the strict reader words any problem
    store = open_store(path, readonly=True, verify=watch is None)
    try:
        report = replay(store, strict=watch)
        if watch is not None:
            settle(args, path, watch, report, store)
    finally:
        store.close()
    if not report.ok:
        raise UsageError(f"{path}: the log does not replay cleanly: {first_problem(report)}")
    return report


def first_problem(report: Any) -> str:
    """The first thing that makes ``report`` not ok, in words: a stop, else the first skip
    that is not part of a merged log's effective stream (a loser, a duplicate, an event
    going with a loser are not problems), else the first chain break."""
    from schemalog.log.replay.report import MERGE_SKIPS

    if report.stopped is not None:
        s = report.stopped
        return f"record {s.position} ({s.event_id}) {s.kind}: {s.reason}"
    for s in report.skipped:
        if s.kind not in MERGE_SKIPS:
            return f"record {s.position} ({s.event_id}) {s.kind}: {s.reason}"
    b = report.breaks[0]
    return (
        f"record {b.position} ({b.event_id}): hash link broken "
        f"(prev {b.actual}, expected {b.expected})"
    )


def add_engine_option(parser: Any) -> None:
    parser.add_argument(
        "--engine",
        choices=("kuzu", "ladybug"),
        default=None,
        help="the database engine (default: the engine of an existing database file, else kuzu)",
    )


def open_db(path: str, *, must_exist: bool, engine: str | None = None) -> Any:
    """The database at ``path`` with ``engine`` (None: detected from its file, else Kuzu).

    A file of the other engine, or of none, is a usage error naming both.
    """
    from schemalog.kuzu.engines import open_backend
    from schemalog.kuzu.profile import UnknownEngine

    if must_exist and not os.path.exists(path):
        raise UsageError(f"{path}: no such database")
    if os.path.exists(path):
        mode = os.stat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            # reading a FIFO's (or a terminal's) first bytes to tell the engine blocks forever
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device or special file"
            raise UsageError(f"{path}: {kind}, not a database file")
    if not os.path.exists(path):
        check_output_path(path, "database")  # created: its folder must exist
    try:
        return open_backend(path, engine)
    except UnknownEngine as exc:
        raise UsageError(str(exc)) from None
