"""The Kuzu backend port: execute DDL in one transaction, query, introspect the catalog.

What the port promises (facts of Kuzu 0.11.3, pinned by tests/test_kuzu_facts.py):

* DDL is transactional in Kuzu 0.11: CREATE/DROP/ALTER/COMMENT inside
  ``BEGIN TRANSACTION`` ... ``ROLLBACK`` are undone. ``execute(statements)``
  therefore runs all statements in one explicit transaction and either commits
  all of them or none (a failing statement rolls back the earlier ones).
  Statements must not contain transaction control themselves.
* ``catalog()`` is what ``CALL show_tables()``, ``CALL table_info(t)`` and
  ``CALL show_connection(r)`` say, kept neutral: names, type strings and
  default expressions exactly as Kuzu prints them (``BOOL`` not ``BOOLEAN``,
  ``DECIMAL(10, 2)``, ``INT64[][2]``), no mapping into the schema model.
  Kuzu does not show a rel table's multiplicity (MANY_ONE...) anywhere, so
  ``RelTableInfo.multiplicity`` is None for the native adapter; Kuzu shows no
  comment as ``''`` and cannot tell it from an empty comment.
* A table whose name contains ``.`` can be created but not introspected:
  ``table_info('a.b')`` reads it as database ``a``, table ``b`` and no quoting
  helps ("Runtime exception: No database named a."); ``catalog()`` raises
  BackendError for such a table. The name rule should forbid ``.`` in table
  names (property names with ``.`` are fine).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from schemalog.errors import SchemalogError

__all__ = [
    "BackendCrashed",
    "BackendError",
    "BackendFull",
    "Catalog",
    "KnownCrash",
    "KuzuBackend",
    "NodeTableInfo",
    "PropertyInfo",
    "RelTableInfo",
]

_KIND_RE = re.compile(r"([A-Za-z][A-Za-z ]*?) exception: ")


class BackendError(SchemalogError):
    """Kuzu refused a statement.

    ``statement`` is the statement sent (None when the failure is not tied to
    one, e.g. opening the database); ``index`` its position in the batch given
    to ``execute`` (None for ``query``); ``message`` is Kuzu's message
    unchanged; ``kind`` its exception family as Kuzu names it ("Binder",
    "Parser", "Catalog", "Runtime", "Buffer manager", ...) or None.
    """

    def __init__(self, statement: str | None, message: str, index: int | None = None) -> None:
        self.statement = statement
        self.message = message
        self.index = index
        match = _KIND_RE.match(message)
        self.kind: str | None = match.group(1) if match else None
        where = f" (statement {index})" if index is not None else ""
        shown = statement if statement is None or len(statement) <= 300 else statement[:300] + "..."
        tail = "" if statement is None else f"\nstatement: {shown}"  # opening: no statement
        super().__init__(f"Kuzu error{where}: {message}{tail}")


class BackendCrashed(BackendError):
    """The engine itself died (a WebAssembly trap, a dead worker): its database is
    gone. The caller restarts the backend and rebuilds the schema from the log."""


class BackendFull(BackendError):
    """The backend cannot hold what the batch would create; nothing was sent.
    A rebuild from the log may free room (dropped tables are not recreated)."""


class KnownCrash(BackendError):
    """Statement ``index`` would crash the engine (a known Kuzu bug, ``kuzu.hazards``)
    and the adapter could not avoid it by starting a new session: nothing was sent."""


@dataclass(frozen=True, slots=True)
class PropertyInfo:
    """One property: name, Kuzu's type string, default expression (None when Kuzu shows NULL)."""

    name: str
    type: str
    default: str | None = None


@dataclass(frozen=True, slots=True)
class NodeTableInfo:
    name: str
    properties: tuple[PropertyInfo, ...]
    primary_key: str
    comment: str = ""

    def find_property(self, name: str) -> PropertyInfo | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True, slots=True)
class RelTableInfo:
    name: str
    connections: tuple[tuple[str, str], ...]
    properties: tuple[PropertyInfo, ...]
    multiplicity: str | None = None
    comment: str = ""

    def find_property(self, name: str) -> PropertyInfo | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Node and rel tables, each tuple sorted by name (code point order)."""

    node_tables: tuple[NodeTableInfo, ...] = ()
    rel_tables: tuple[RelTableInfo, ...] = ()

    def node_table(self, name: str) -> NodeTableInfo | None:
        return next((t for t in self.node_tables if t.name == name), None)

    def rel_table(self, name: str) -> RelTableInfo | None:
        return next((t for t in self.rel_tables if t.name == name), None)

    @property
    def table_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.node_tables) | {t.name for t in self.rel_tables}


@runtime_checkable
class KuzuBackend(Protocol):
    """One open Kuzu database."""

    def execute(self, statements: Sequence[str]) -> None:
        """Run ``statements`` in one transaction: all commit or none; raise BackendError."""
        ...

    def query(self, cypher: str) -> list[dict[str, Any]]:
        """Run one read statement; rows as dicts keyed by column name; raise BackendError."""
        ...

    def catalog(self) -> Catalog:
        """Introspect node and rel tables, properties, connections and comments."""
        ...

    def close(self) -> None:
        """Release the database; further calls are errors. Closing twice is allowed."""
        ...
