"""The native adapters of the backend port (CPython): ``kuzu`` and ``ladybug``.

The only module of the package that imports an engine, and only when a
backend is constructed: ``NativeBackend`` imports the module its
``EngineProfile`` names and reads the catalog through the profile's column
names (``NativeKuzuBackend`` and ``LadybugBackend`` fix the profile). Both
engines report every failure as a ``RuntimeError`` whose message starts with
its family ("Binder exception: ..."); those become ``BackendError`` carrying
the statement and the message. The two engines cannot share a process (see
``profile``): ``engines.open_backend`` picks this adapter or a child process.

``execute`` sends each statement with its own ``Connection.execute`` call
between ``BEGIN TRANSACTION`` and ``COMMIT``: measured on 0.11.3 that is the
fastest of the four ways (about 3.6 ms per node table against 5.1-5.7 ms for
separate auto-commit calls or one ``"a; b; c"`` string) and it tells which
statement failed. A Binder/Runtime error inside an explicit transaction makes
Kuzu roll the whole transaction back and close it; a Parser error leaves it
open; either way this adapter ends with no open transaction and nothing of the
batch applied.

Known crashes (``hazards``): every statement sent is noted in a
``SessionHazards``; a batch holding a statement that would crash Kuzu 0.11.3
after what this session sent is preceded by a close and reopen of an on-disk
database (a new session: the crash needs both statements in one), and refused
with ``KnownCrash`` (nothing sent) when the batch crashes by itself or the
database lives in memory. (Applied to LadybugDB too, untested there: the
cost of a needless reopen is small.)

Memory: every node table costs about 5.3 MB of resident memory and 1 MB of
the buffer pool (a pool of N MB holds N-1 node tables, then "Buffer manager
exception: Unable to allocate memory! ..."); rel tables cost almost nothing.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any, Self

from schemalog.kuzu.cypher import string_literal
from schemalog.kuzu.hazards import SessionHazards
from schemalog.kuzu.port import (
    BackendError,
    Catalog,
    KnownCrash,
    NodeTableInfo,
    PropertyInfo,
    RelTableInfo,
)
from schemalog.kuzu.profile import KUZU, LADYBUG, EngineProfile

__all__ = ["LadybugBackend", "NativeBackend", "NativeKuzuBackend"]

_NO_TRANSACTION = "No active transaction"


class NativeBackend:
    """A native database of ``engine``, on disk (``path``) or in memory (``path=None``).

    ``buffer_pool_size`` is in bytes; 0 lets the engine choose (80% of RAM).
    """

    engine: EngineProfile = KUZU

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        buffer_pool_size: int = 0,
        read_only: bool = False,
        engine: EngineProfile | None = None,
    ) -> None:
        if engine is not None:
            self.engine = engine
        if type(buffer_pool_size) is not int or buffer_pool_size < 0:
            raise ValueError(f"buffer_pool_size must be an int >= 0, got {buffer_pool_size!r}")
        self.path = ":memory:" if path is None else os.fspath(path)
        self._closed = True  # until opened: close() and the guards work on a failed open
        try:
            self._module: Any = importlib.import_module(self.engine.module)
        except ImportError as exc:  # not installed, or the other engine holds the process
            raise BackendError(
                None,
                f"cannot load the {self.engine.name} engine ({exc}); install the "
                f"'{self.engine.name}' extra ({self.engine.package})",
            ) from exc
        self._options: dict[str, Any] = {
            "buffer_pool_size": buffer_pool_size,
            "read_only": read_only,
        }
        self._db: Any = None
        self._conn: Any = None
        self._open()
        self._closed = False
        self.hazards = SessionHazards()
        self.sessions = 1  # databases opened so far (a reopen avoiding a known crash adds one)

    def _open(self) -> None:
        try:
            self._db = self._module.Database(self.path, **self._options)
            self._conn = self._module.Connection(self._db)
        except RuntimeError as exc:
            raise BackendError(None, f"cannot open the database {self.path}: {exc}") from exc

    # -- port -------------------------------------------------------------

    def execute(self, statements: Sequence[str]) -> None:
        if isinstance(statements, str):
            raise TypeError("execute() takes a sequence of statements, not one string")
        batch = list(statements)
        if not batch:
            return
        self._avoid_known_crashes(batch)
        self._raw("BEGIN TRANSACTION", None)
        try:
            for index, statement in enumerate(batch):
                self.hazards.sent([statement])
                self._raw(statement, index)
            self._raw("COMMIT", len(batch))
        except BaseException:
            self._rollback_quietly()
            raise

    def query(self, cypher: str) -> list[dict[str, Any]]:
        self._avoid_known_crashes([cypher])
        self.hazards.sent([cypher])
        return self._raw(cypher, None)

    def catalog(self) -> Catalog:
        nodes: list[NodeTableInfo] = []
        rels: list[RelTableInfo] = []
        col = self.engine.catalog_columns
        for table in self.query("CALL show_tables() RETURN *"):
            if table[col.table_database] != self.engine.database_name:
                continue  # an attached database's table: not ours to describe
            name, kind = table[col.table_name], table[col.table_type]
            comment = table[col.table_comment] or ""
            if "." in name:
                raise BackendError(
                    None,
                    f"cannot introspect table {name!r}: Kuzu's table_info reads a '.' in its "
                    "argument as database.table",
                )
            info = self.query(f"CALL table_info({string_literal(name)}) RETURN *")
            properties = tuple(
                PropertyInfo(
                    row[col.property_name],
                    row[col.property_type],
                    _default(row[col.property_default]),
                )
                for row in sorted(info, key=lambda r: r[col.property_id])
            )
            if kind == "NODE":
                keys = [row[col.property_name] for row in info if row.get(col.primary_key) is True]
                if len(keys) != 1:
                    raise BackendError(None, f"node table {name!r} shows primary keys {keys}")
                nodes.append(NodeTableInfo(name, properties, keys[0], comment))
            elif kind == "REL":
                pairs = self.query(f"CALL show_connection({string_literal(name)}) RETURN *")
                connections = tuple((p[col.source], p[col.destination]) for p in pairs)
                rels.append(RelTableInfo(name, connections, properties, None, comment))
            else:
                raise BackendError(None, f"table {name!r} has an unknown kind {kind!r}")
        nodes.sort(key=lambda t: t.name)
        rels.sort(key=lambda t: t.name)
        return Catalog(tuple(nodes), tuple(rels))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Kuzu wants every QueryResult closed (``_raw`` closes each one), then the
        # Connection, then the Database; the references go too, so nothing native
        # outlives the Database whatever order the garbage collector picks later.
        self._close_database()

    def _close_database(self) -> None:
        conn, db = self._conn, self._db
        self._conn = self._db = None
        try:
            conn.close()
        finally:
            db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------

    def _avoid_known_crashes(self, batch: Sequence[str]) -> None:
        if self._closed:
            return  # _raw says so
        crash = self.hazards.first_crash(batch)
        if crash is None:
            return
        if not crash.within and self.path != ":memory:":
            # a new session: the crash needs the earlier statement in the same one
            self._close_database()
            try:
                self._open()
            except BackendError:
                self._closed = True  # nothing is open any more
                raise
            self.sessions += 1
            self.hazards.reset()
            crash = self.hazards.first_crash(batch)
            if crash is None:
                return
        why = (
            "the batch itself holds both statements"
            if crash.within
            else "an in-memory database cannot be reopened into a new session"
        )
        raise KnownCrash(
            crash.statement, f"refused, nothing sent: {crash.reason}; {why}", crash.index
        )

    def _raw(self, statement: str, index: int | None) -> list[dict[str, Any]]:
        if self._closed:
            raise BackendError(statement, "the backend is closed", index)
        try:
            result = self._conn.execute(statement)
        except RuntimeError as exc:
            raise BackendError(statement, str(exc), index) from exc
        results = result if isinstance(result, list) else [result]
        try:
            last = results[-1]
            columns = last.get_column_names()
            rows: list[dict[str, Any]] = []
            while last.has_next():
                rows.append(dict(zip(columns, last.get_next(), strict=True)))
            return rows
        finally:
            for r in results:
                r.close()

    def _rollback_quietly(self) -> None:
        try:
            result = self._conn.execute("ROLLBACK")
        except RuntimeError as exc:
            if _NO_TRANSACTION not in str(exc):
                raise BackendError("ROLLBACK", str(exc)) from exc
        else:
            for r in result if isinstance(result, list) else [result]:
                r.close()


class NativeKuzuBackend(NativeBackend):
    """A native Kuzu 0.11 database (the ``kuzu`` extra)."""

    engine = KUZU


class LadybugBackend(NativeBackend):
    """A native LadybugDB database (the ``ladybug`` extra)."""

    engine = LADYBUG


def _default(shown: str) -> str | None:
    # Kuzu prints no default (and DEFAULT NULL) as "NULL", and a SERIAL's as "".
    return None if shown in ("NULL", "") else shown
