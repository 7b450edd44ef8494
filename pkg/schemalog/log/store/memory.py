"""In-memory event store: canonical lines in a list, exactly like the file store."""

from __future__ import annotations

from typing import Any

from schemalog.log.store.base import LineStore

__all__ = ["MemoryStore"]


class MemoryStore(LineStore):
    """A log in memory (tests, the browser before persistence, scratch merges)."""

    name = "<memory>"

    def __init__(self, **options: Any) -> None:
        """``options``: the receiver's clock (``now_ms``, ``max_drift_ms``, see LineStore).

        No drift check unless ``max_drift_ms`` is given: a log in memory has no
        other writers to protect, and holds synthetic histories at any time.
        """
        options.setdefault("max_drift_ms", None)
        super().__init__(**options)
        self._store: list[bytes] = []

    def _count(self) -> int:
        return len(self._store)

    def _lines(self, start: int, stop: int) -> list[bytes]:
        return self._store[start:stop]

    def _line(self, position: int) -> bytes:
        return self._store[position]

    def _write(self, lines: list[bytes]) -> None:
        self._store.extend(lines)

    iter_blocks = LineStore._line_blocks  # (port) the lines are in memory: joined per read

    def raw_lines(self) -> list[bytes]:
        """A copy of the stored lines (for tests and export)."""
        return list(self._store)
