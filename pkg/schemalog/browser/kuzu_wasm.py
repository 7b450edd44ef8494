"""The kuzu-wasm adapter of the backend port: one Web Worker workspace, from Pyodide.

The worker and its client are JS (web/js/workspace.mjs, kuzu-worker.mjs); this
module drives a ``Workspace`` of that shim through Pyodide's JS bridge. Every
call is a promise, so the adapter is async first:

* ``WasmKuzuBackend`` implements ``AsyncKuzuBackend`` (the port with async
  methods) and works wherever Pyodide and Workers do.
* ``SyncKuzuBackend`` wraps any ``AsyncKuzuBackend`` into the synchronous
  ``KuzuBackend`` port with ``_bridge.blocking`` (JSPI ``run_sync``): Chromium,
  under a promising entry point. This is how the same ``BackendContract`` as the
  native adapter runs in Pyodide (pyodide-tests/test_wasm_backend.py).

Results cross the bridge as one JSON string per call (``json.loads`` here);
INT64 beyond 2**53 arrives as a string (web/js/protocol.mjs ``toJson``).

Transactions: like the native adapter, ``execute`` sends ``BEGIN
TRANSACTION``, each statement as its own request, then ``COMMIT``; on a failure
``ROLLBACK`` (a Binder error has already closed the transaction, a Parser error
has not). One request per statement tells which statement failed.

Size bound (measured in Chromium, kuzu-wasm 0.11.3, in-memory database): each
node table ever created holds ~1 MiB of the buffer pool, DROP frees none, so a
pool of P MiB holds P - 1 node tables; each also grows the worker's
WebAssembly memory by ~5.25 MB, which never shrinks; rel tables cost neither.
``execute`` counts the ``CREATE NODE TABLE`` statements it has sent since the
database was opened (a rolled-back one counts: its pages stay taken) and
refuses a batch that would pass the pool's P - 1 or push the estimated memory
past ``memory_limit_bytes`` with ``WorkspaceFull`` before anything is sent.
``restart()`` (a fresh database, rebuilt from the log with the compacted DDL)
gives the capacity back.

A WebAssembly trap in the worker rejects the call with ``WorkspaceCrashed``;
the workspace stays crashed until ``restart()`` (schemalog.browser.workspace rebuilds
it from the log).

Known crashes (``kuzu.hazards``, the native adapter's guard): kuzu-wasm 0.11.3
shares native Kuzu's bug. A property dropped from a rel table and then a
FROM/TO pair added to it in one session (one open Database), even across
two commits, leaves the table broken: measured in Chromium, the next write
of a rel row fails with "Assertion failed ... column_chunk_data.cpp ...
KU_UNREACHABLE", and with R(w, v): drop v, drop w, add a pair, add two
properties, the next write traps the worker ("memory access out of
bounds"). Every statement sent is noted in a ``SessionHazards``; a batch or
query holding a statement that would crash after what this session sent is
refused with ``KnownCrash`` before anything is sent. The database lives in
the worker's memory, so a new session cannot keep it: ``restart()`` (a new
worker, a new Database, the hazards forgotten) and a rebuild of the schema
from the log is the way around, which ``Workspace`` does on ``KnownCrash``
(rows written to the database are not kept, as after a crash).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from schemalog.browser.bridge import blocking, import_module, js_error_info, js_object
from schemalog.kuzu.cypher import string_literal
from schemalog.kuzu.hazards import SessionHazards
from schemalog.kuzu.port import (
    BackendCrashed,
    BackendError,
    BackendFull,
    Catalog,
    KnownCrash,
    NodeTableInfo,
    PropertyInfo,
    RelTableInfo,
)

__all__ = [
    "DEFAULT_BUFFER_POOL_BYTES",
    "DEFAULT_MEMORY_LIMIT_BYTES",
    "NODE_TABLE_MEMORY_BYTES",
    "WORKSPACE_MODULE_URL",
    "AsyncKuzuBackend",
    "Capacity",
    "SyncKuzuBackend",
    "WasmKuzuBackend",
    "WorkspaceCrashed",
    "WorkspaceFull",
    "count_node_table_creates",
]

MIB = 1024 * 1024
DEFAULT_BUFFER_POOL_BYTES = 64 * MIB  # web/js/protocol.mjs DEFAULT_BUFFER_POOL_BYTES
NODE_TABLE_MEMORY_BYTES = 5_500_000  # measured ~5.25 MB per node table, rounded up
# Measured (pyodide-tests/test_workspace_product.py, kuzu-wasm 0.11.3, 16 MiB
# pool): each update of a row with an S-byte string takes ~2.9-4 x S of the
# pool for good (20 kB x 132 or 200 kB x 18 updates fill ~10 MiB). 5: margin.
WRITE_POOL_FACTOR = 5
# Pool MiB that node-table creation leaves free for writes: a full workspace
# can still drop, rename and record (its way out), then rebuild.
WRITE_RESERVE_MIB = 2
DEFAULT_MEMORY_LIMIT_BYTES = 1024 * MIB  # kuzu-wasm aborts the worker near 4 GiB
WORKSPACE_MODULE_URL = "/web/js/workspace.mjs"  # build/site/web and build/pyodide-dist/web

_NO_TRANSACTION = "No active transaction"
# A statement that creates a node table, after leading blanks and comments.
_CREATE_NODE_RE = re.compile(
    r"\A(?:\s+|//[^\n]*(?:\n|\Z)|/\*.*?\*/)*CREATE\s+NODE\s+TABLE\b", re.IGNORECASE | re.DOTALL
)


def count_node_table_creates(statements: Sequence[str]) -> list[int]:
    """Indexes of the statements that create a node table."""
    return [i for i, s in enumerate(statements) if _CREATE_NODE_RE.match(s)]


class WorkspaceCrashed(BackendCrashed):
    """The workspace's worker trapped or died: its database is gone.

    ``workspace`` names it, ``kind`` is what failed (``RuntimeError`` for a
    WebAssembly trap, ``WorkerError``, ``Timeout``...). ``restart()`` it and
    rebuild from the log.
    """

    def __init__(
        self,
        workspace: str,
        kind: str,
        message: str,
        statement: str | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(statement, message, index)
        self.workspace = workspace
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Capacity:
    """How full a workspace is, counted since the last restart.

    The in-memory database lives in its buffer pool, and nothing written to it
    is given back (measured, see the module docstring): ``node_tables_created``
    and ``written_bytes`` (the other statements' text, which carries the data:
    the bookkeeping record holds the whole schema) are what the pool spent."""

    node_tables_created: int
    node_table_limit: int
    memory_bytes: int | None
    memory_limit_bytes: int
    written_bytes: int = 0

    @property
    def pool_tables_left(self) -> int:
        spent = -(-self.written_bytes * WRITE_POOL_FACTOR // MIB)  # whole MiB, rounded up
        return self.node_table_limit - self.node_tables_created - spent

    @property
    def memory_tables_left(self) -> int | None:
        if self.memory_bytes is None:
            return None
        return (self.memory_limit_bytes - self.memory_bytes) // NODE_TABLE_MEMORY_BYTES

    @property
    def limited_by(self) -> str:
        """What runs out first: "buffer pool" or "memory" (WebAssembly memory)."""
        by_memory = self.memory_tables_left
        return (
            "memory"
            if by_memory is not None and by_memory < self.pool_tables_left
            else ("buffer pool")
        )

    @property
    def node_tables_left(self) -> int:
        by_memory = self.memory_tables_left
        by_pool = self.pool_tables_left - WRITE_RESERVE_MIB
        return max(by_pool if by_memory is None else min(by_pool, by_memory), 0)


class WorkspaceFull(BackendFull):
    """A batch would create more node tables than the workspace can hold.

    Raised before anything of the batch is sent. ``index``/``statement`` name the
    first statement that does not fit; ``capacity`` is the state before the
    batch; ``reason`` is "buffer pool" or "memory".
    """

    def __init__(
        self, workspace: str, statement: str, index: int, capacity: Capacity, reason: str
    ) -> None:
        self.workspace = workspace
        self.capacity = capacity
        self.reason = reason
        if reason == "buffer pool":
            detail = (
                f"its buffer pool of {(capacity.node_table_limit + 1)} MiB holds "
                f"{capacity.node_table_limit} node tables and {capacity.node_tables_created} "
                f"were created since it was opened, with ~{capacity.written_bytes} bytes of "
                "records written (neither DROP TABLE nor an update gives room back)"
            )
        else:
            detail = (
                f"its WebAssembly memory is {capacity.memory_bytes} bytes and each node table "
                f"adds ~{NODE_TABLE_MEMORY_BYTES}; the limit is {capacity.memory_limit_bytes}"
            )
        super().__init__(
            statement,
            f"Workspace full: workspace {workspace!r} cannot create another node table: "
            f"{detail}. Rebuild it from its log (restart) to reclaim dropped tables, or open it "
            "with a larger bufferPoolBytes.",
            index,
        )
        self.kind = "WorkspaceFull"


@runtime_checkable
class AsyncKuzuBackend(Protocol):
    """The backend port with awaitable methods (same meaning as ``KuzuBackend``)."""

    async def execute(self, statements: Sequence[str]) -> None: ...

    async def query(self, cypher: str) -> list[dict[str, Any]]: ...

    async def catalog(self) -> Catalog: ...

    async def close(self) -> None: ...


class WasmKuzuBackend:
    """One kuzu-wasm workspace (a Worker with an in-memory database), async.

    Make one with ``await WasmKuzuBackend.open(name, ...)``.
    """

    def __init__(
        self,
        workspace: Any,
        *,
        buffer_pool_bytes: int = DEFAULT_BUFFER_POOL_BYTES,
        memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
    ) -> None:
        self._ws = workspace
        self.name = str(workspace.name)
        self.buffer_pool_bytes = buffer_pool_bytes
        self.memory_limit_bytes = memory_limit_bytes
        self._node_tables_created = 0
        self._written_bytes = 0  # text of the other statements sent (Capacity)
        self._closed = False
        self.hazards = SessionHazards()  # what this database (session) was sent
        self.sessions = 1  # databases opened so far (1 + restarts)

    @classmethod
    async def open(
        cls,
        name: str,
        *,
        buffer_pool_bytes: int = DEFAULT_BUFFER_POOL_BYTES,
        memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
        timeout_ms: int | None = None,
        heartbeat_ms: int | None = None,
        fault_injection: bool = False,
        module_url: str = WORKSPACE_MODULE_URL,
    ) -> WasmKuzuBackend:
        """Start a workspace Worker (web/js/workspace.mjs ``openWorkspace``)."""
        if type(buffer_pool_bytes) is not int or buffer_pool_bytes < 2 * MIB:
            raise ValueError(
                f"buffer_pool_bytes must be an int >= 2 MiB, got {buffer_pool_bytes!r}"
            )
        shim = await import_module(module_url)
        # None: the shim's defaults (a 30 s call timeout, a 1 s heartbeat); 0: none
        options: dict[str, Any] = {"bufferPoolBytes": buffer_pool_bytes}
        if timeout_ms is not None:
            options["timeoutMs"] = timeout_ms
        if heartbeat_ms is not None:
            options["heartbeatMs"] = heartbeat_ms
        if fault_injection:
            options["faultInjection"] = True
        try:
            workspace = await shim.openWorkspace(name, js_object(options))
        except Exception as exc:
            raise _translate(exc, None, None) from exc
        return cls(
            workspace, buffer_pool_bytes=buffer_pool_bytes, memory_limit_bytes=memory_limit_bytes
        )

    # -- port ---------------------------------------------------------------

    async def execute(self, statements: Sequence[str]) -> None:
        if isinstance(statements, str):
            raise TypeError("execute() takes a sequence of statements, not one string")
        batch = list(statements)
        if not batch:
            return
        self._check_open(batch[0], 0)
        creates = count_node_table_creates(batch)
        self.check_capacity(batch, creates)
        self.check_known_crashes(batch)
        sent_creates = sent_bytes = 0
        await self._run("BEGIN TRANSACTION", None)
        try:
            for index, statement in enumerate(batch):
                # counted when sent: a rolled-back statement keeps its pool pages
                if index in creates:
                    sent_creates += 1
                else:
                    sent_bytes += len(statement.encode("utf-8"))
                self.hazards.sent([statement])  # the crash follows a drop even rolled back
                await self._run(statement, index)
            await self._run("COMMIT", len(batch))
        except WorkspaceCrashed:
            raise
        except BaseException:
            await self._rollback_quietly()
            raise
        finally:
            self._node_tables_created += sent_creates
            self._written_bytes += sent_bytes

    async def query(self, cypher: str) -> list[dict[str, Any]]:
        self._check_open(cypher, None)
        self.check_known_crashes([cypher])
        self.hazards.sent([cypher])
        return await self._run(cypher, None)

    async def catalog(self) -> Catalog:
        tables = await self.query("CALL show_tables() RETURN *")
        for table in tables:
            if "." in table["name"]:
                raise BackendError(
                    None,
                    f"cannot introspect table {table['name']!r}: Kuzu's table_info reads a '.' "
                    "in its argument as database.table",
                )
        # One request per table_info / show_connection. Measured (kuzu-wasm 0.11.3):
        # every result of a multi-statement query holds buffer-pool pages until the
        # last one is read, so one request for 40 tables ran out of pool ("buffer
        # pool is full ... CALL table_info") 22 tables before CREATE would have.
        calls: list[str] = []
        for table in tables:
            calls.append(f"CALL table_info({string_literal(table['name'])}) RETURN *")
            if table["type"] == "REL":
                calls.append(f"CALL show_connection({string_literal(table['name'])}) RETURN *")
        answers = iter([await self._run(call, None) for call in calls])
        nodes: list[NodeTableInfo] = []
        rels: list[RelTableInfo] = []
        for table in tables:
            name, kind, comment = table["name"], table["type"], table["comment"] or ""
            info = next(answers)
            properties = tuple(
                PropertyInfo(row["name"], row["type"], _default(row["default expression"]))
                for row in sorted(info, key=lambda r: r["property id"])
            )
            if kind == "NODE":
                keys = [row["name"] for row in info if row.get("primary key") is True]
                if len(keys) != 1:
                    raise BackendError(None, f"node table {name!r} shows primary keys {keys}")
                nodes.append(NodeTableInfo(name, properties, keys[0], comment))
            elif kind == "REL":
                pairs = next(answers)
                connections = tuple(
                    (p["source table name"], p["destination table name"]) for p in pairs
                )
                rels.append(RelTableInfo(name, connections, properties, None, comment))
            else:
                raise BackendError(None, f"table {name!r} has an unknown kind {kind!r}")
        nodes.sort(key=lambda t: t.name)
        rels.sort(key=lambda t: t.name)
        return Catalog(tuple(nodes), tuple(rels))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._ws.close()

    # -- workspace ------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "starting", "ready", "crashed" or "closed" (the shim's state)."""
        return "closed" if self._closed else str(self._ws.state)

    @property
    def generation(self) -> int:
        """1 + the number of restarts."""
        return int(self._ws.generation)

    @property
    def memory_bytes(self) -> int | None:
        value = self._ws.memoryBytes
        return None if value is None or type(value).__name__ == "JsNull" else int(value)

    def capacity(self) -> Capacity:
        return Capacity(
            self._node_tables_created,
            self.buffer_pool_bytes // MIB - 1,
            self.memory_bytes,
            self.memory_limit_bytes,
            self._written_bytes,
        )

    def check_capacity(self, statements: Sequence[str], creates: list[int] | None = None) -> None:
        """Raise WorkspaceFull if ``statements`` would not fit (nothing is sent)."""
        creates = count_node_table_creates(statements) if creates is None else creates
        cap = self.capacity()
        others = sum(len(s.encode("utf-8")) for i, s in enumerate(statements) if i not in creates)
        after = Capacity(
            cap.node_tables_created, cap.node_table_limit, None, 0, cap.written_bytes + others
        )
        room = after.pool_tables_left - (WRITE_RESERVE_MIB if creates else 0)
        if room < len(creates):
            index = creates[max(room, 0)] if creates else 0
            raise WorkspaceFull(self.name, statements[index], index, cap, "buffer pool")
        for n, index in enumerate(creates, 1):
            if (
                cap.memory_bytes is not None
                and cap.memory_bytes + n * NODE_TABLE_MEMORY_BYTES > cap.memory_limit_bytes
            ):
                raise WorkspaceFull(self.name, statements[index], index, cap, "memory")

    def check_known_crashes(self, statements: Sequence[str]) -> None:
        """Raise KnownCrash (nothing sent) if ``statements`` would crash this session."""
        crash = self.hazards.first_crash(statements)
        if crash is None:
            return
        why = (
            "the batch itself holds both statements"
            if crash.within
            else "the database lives in the worker's memory: a new session is a restart "
            "and a rebuild from the log"
        )
        raise KnownCrash(
            crash.statement, f"refused, nothing sent: {crash.reason}; {why}", crash.index
        )

    async def restart(self) -> None:
        """A fresh worker with an empty database (after a crash, to reclaim capacity,
        or to start a new session that a known crash needs)."""
        if self._closed:
            raise BackendError(None, "the backend is closed")
        try:
            await self._ws.restart()
        except Exception as exc:
            raise _translate(exc, None, None) from exc
        self._node_tables_created = 0
        self._written_bytes = 0
        self.hazards.reset()
        self.sessions += 1

    async def memory(self) -> dict[str, int | None]:
        """The worker's WebAssembly memory and JS heap in bytes."""
        raw = await self._ws.memory()
        return {
            "wasmBytes": _int_or_none(raw.wasmBytes),
            "jsHeapBytes": _int_or_none(raw.jsHeapBytes),
        }

    async def inject_trap(self) -> None:
        """Tests only (opened with ``fault_injection=True``): a real WebAssembly trap."""
        try:
            await self._ws.call("trap", js_object({"mode": "wasm"}))
        except Exception as exc:
            raise _translate(exc, "TRAP", None) from exc

    # -- internals ------------------------------------------------------------

    def _check_open(self, statement: str | None, index: int | None) -> None:
        if self._closed:
            raise BackendError(statement, "the backend is closed", index)

    async def _run(self, statement: str, index: int | None) -> list[dict[str, Any]]:
        try:
            text = await self._ws.queryJson(statement)
        except Exception as exc:
            raise _translate(exc, statement, index) from exc
        rows: list[dict[str, Any]] = json.loads(text)
        return rows

    async def _rollback_quietly(self) -> None:
        try:
            await self._run("ROLLBACK", None)
        except WorkspaceCrashed:
            raise
        except BackendError as exc:
            if _NO_TRANSACTION not in exc.message:
                raise


class SyncKuzuBackend:
    """The synchronous ``KuzuBackend`` port over an ``AsyncKuzuBackend`` (JSPI).

    Every call raises ``_bridge.SyncBridgeUnavailable`` where ``run_sync`` cannot
    suspend (Node, or Python entered through plain ``runPython``).
    """

    def __init__(self, backend: AsyncKuzuBackend) -> None:
        self.backend = backend

    @classmethod
    def open(cls, name: str, **options: Any) -> SyncKuzuBackend:
        return cls(blocking(WasmKuzuBackend.open(name, **options)))

    def execute(self, statements: Sequence[str]) -> None:
        if isinstance(statements, str):
            raise TypeError("execute() takes a sequence of statements, not one string")
        blocking(self.backend.execute(statements))

    def query(self, cypher: str) -> list[dict[str, Any]]:
        return blocking(self.backend.query(cypher))

    def catalog(self) -> Catalog:
        return blocking(self.backend.catalog())

    def close(self) -> None:
        blocking(self.backend.close())

    def restart(self) -> None:
        """A fresh, empty database in a fresh worker (blocking ``restart``)."""
        blocking(self.backend.restart())  # type: ignore[attr-defined]

    def inject_trap(self) -> None:
        """Tests only: a real WebAssembly trap in the worker (blocking)."""
        blocking(self.backend.inject_trap())  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def __enter__(self) -> SyncKuzuBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _translate(exc: BaseException, statement: str | None, index: int | None) -> BackendError:
    info = js_error_info(exc)
    name, message = info["name"], info["message"]
    if name == "WorkspaceCrashed":
        return WorkspaceCrashed(
            str(info.get("workspace", "?")),
            str(info.get("kind", "Error")),
            message,
            statement,
            index,
        )
    if name == "KuzuError":
        return BackendError(statement, message, index)
    return BackendError(statement, f"{name}: {message}", index)


def _int_or_none(value: Any) -> int | None:
    return None if value is None or type(value).__name__ == "JsNull" else int(value)


def _default(shown: str) -> str | None:
    # Kuzu prints no default (and DEFAULT NULL) as "NULL", and a SERIAL's as "".
    return None if shown in ("NULL", "") else shown
