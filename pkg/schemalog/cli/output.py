"""Output helpers shared by the subcommands: JSON, tables, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2 with this message."""


def print_json(obj: Any, out: TextIO | None = None) -> None:
    json.dump(obj, out or sys.stdout, ensure_ascii=False, sort_keys=True)
    (out or sys.stdout).write("\n")


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO | None = None
) -> None:
    stream = out or sys.stdout
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        stream.write(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )
        if n == 0:
            stream.write("  ".join("-" * w for w in widths) + "\n")


class Progress:
    """A one-line progress counter on a terminal; silent otherwise or with --json."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        every: int = 50_000,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.label, self.total, self.every = label, total, every
        self._next = every

    def update(self, done: int) -> None:
        if not self.enabled or done < self._next:
            return
        self._next = done + self.every
        of = f"/{self.total:,}" if self.total else ""
        self.stream.write(f"\r{self.label}: {done:,}{of}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


def check_output_path(path: str, what: str = "output") -> None:
    """Refuse, before any work, an output path whose folder is missing or unwritable.

    Output paths are never created beyond the file (or folder) itself: every
    command treats a missing parent folder alike, as a usage error naming it.
    """
    import os

    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{path}: folder {parent} does not exist (it is not created)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: folder {parent} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{path}: not writable")


def check_not_an_input(path: str, logs: Sequence[str], what: str = "output") -> None:
    """Refuse an output path that is a LOG being read (or a segment of one, a symlink to
    one): writing it would change or lose stored records. Checked before any work."""
    import os

    if not os.path.exists(path):
        return
    for log in logs:
        if "://" in log or not os.path.exists(log):
            continue
        files = [log]
        if os.path.isdir(log):
            files += [os.path.join(log, n) for n in os.listdir(log)]
        for file in files:
            try:
                same = os.path.samefile(path, file)
            except OSError:
                continue
            if same:
                shown = log if file == log else f"{file} (of the log {log})"
                raise UsageError(f"{path}: the {what} would overwrite {shown}, which is read")
