"""Reading a LOG argument into its head state (shared by apply, drift, schema)."""

from __future__ import annotations

import os
from typing import Any

from schemalog.cli.output import UsageError


def replay_log(path: str) -> Any:
    """The ``ReplayReport`` of the whole log at ``path``; a log that does not replay
    cleanly (corrupt record, broken chain, rejected event) is a usage error (exit 2)."""
    from schemalog.log.replay import replay
    from schemalog.log.store.ndjson import NdjsonStore

    if not os.path.exists(path):
        raise UsageError(f"{path}: no such log")
    store = NdjsonStore.open(path, readonly=True)
    try:
        report = replay(store)
    finally:
        store.close()
    if not report.ok:
        problem = report.stopped or (report.skipped[0] if report.skipped else report.breaks[0])
        raise UsageError(f"{path}: the log does not replay cleanly: {problem}")
    return report


def open_db(path: str, *, must_exist: bool) -> Any:
    from schemalog.kuzu.native import NativeKuzuBackend

    if must_exist and not os.path.exists(path):
        raise UsageError(f"{path}: no such database")
    return NativeKuzuBackend(path)
