"""schemalog.browser.workspace in CPython: native Kuzu + memory store, a crash injected
by a wrapper backend, the rebuild from the log with the same state hash."""

from __future__ import annotations

from typing import Any

import pytest

from schemalog.browser.workspace import Workspace
from schemalog.kuzu.port import BackendCrashed
from schemalog.log.store import MemoryStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    AddConnection,
    DropProperty,
    DropTable,
    build_node_table,
    build_rel_table,
)
from schemalog.model.parts import Connection
from schemalog.model.schema import Rejected, table_by_name

kuzu = pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu


class WorkspaceCrashed(BackendCrashed):
    def __init__(self) -> None:
        super().__init__(None, "workspace 'w' crashed: RuntimeError: memory access out of bounds")


class Crashy:
    """A native backend that can be told to crash once; restart gives a fresh one."""

    def __init__(self) -> None:
        from schemalog.kuzu.native import NativeKuzuBackend

        self._make = NativeKuzuBackend
        self.inner = NativeKuzuBackend()
        self.crash_next = False
        self.restarts = 0

    def _check(self) -> None:
        if self.crash_next:
            self.crash_next = False
            self.inner.close()
            raise WorkspaceCrashed()

    def execute(self, statements: Any) -> None:
        self._check()
        self.inner.execute(statements)

    def query(self, cypher: str) -> Any:
        self._check()
        return self.inner.query(cypher)

    def catalog(self) -> Any:
        self._check()
        return self.inner.catalog()

    def close(self) -> None:
        self.inner.close()

    def restart(self) -> None:
        self.inner.close()
        self.inner = self._make()
        self.restarts += 1


def _clock(origin: str = "tab1") -> HybridLogicalClock:
    t = [1_700_000_000_000]

    def now() -> int:
        t[0] += 1
        return t[0]

    return HybridLogicalClock(origin, now)


def test_changes_apply_and_a_crash_rebuilds_with_the_same_hash() -> None:
    backend = Crashy()
    ws = Workspace("w", MemoryStore(), backend, _clock())
    person = ws.change(build_node_table("Person", [("id", "INT64")], "id"))
    city = ws.change(build_node_table("City", [("id", "INT64")], "id"))
    assert not isinstance(person, Rejected) and not isinstance(city, Rejected)
    ws.change(build_rel_table("LivesIn", [(person.id, city.id)]))
    ws.change(DropTable(table_by_name(ws.state, "LivesIn").table_id))  # type: ignore[union-attr]
    ws.change(build_node_table("Tmp", [("id", "INT64")], "id"))
    tmp = table_by_name(ws.state, "Tmp")
    assert tmp is not None
    ws.change(DropTable(tmp.table_id))
    before = ws.state_hash
    assert ws.catalog().table_names == {"Person", "City", "_schemalog_applied"}

    backend.crash_next = True
    catalog = ws.catalog()  # meets the crash, rebuilds, retries
    assert backend.restarts == 1
    assert catalog.table_names == {"Person", "City", "_schemalog_applied"}
    [healed] = ws.healed
    assert healed.hash_before == healed.hash_after == before == ws.state_hash
    assert healed.records == 6
    # compacted: the dropped tables are never created again
    assert healed.statements == 2


def test_a_refused_change_is_a_value_and_writes_nothing() -> None:
    ws = Workspace("w", MemoryStore(), Crashy(), _clock())
    ws.change(build_node_table("Person", [("id", "INT64")], "id"))
    again = ws.change(build_node_table("Person", [("id", "INT64")], "id"))
    assert isinstance(again, Rejected)
    assert len(ws.store) == 1


def test_two_writers_on_one_store_rebase_and_converge() -> None:
    store = MemoryStore()
    a = Workspace("w", store, Crashy(), _clock("a"))
    b = Workspace("w", store, Crashy(), _clock("b"))
    a.sync()
    b.sync()
    a.change(build_node_table("A", [("id", "INT64")], "id"))
    b.change(build_node_table("B", [("id", "INT64")], "id"))  # b was behind: rebased
    a.sync()
    assert a.state_hash == b.state_hash
    assert a.catalog() == b.catalog()


def test_a_known_kuzu_crash_is_met_with_a_new_session_not_an_error() -> None:
    # Native Kuzu in memory cannot reopen: its adapter refuses ADD FROM after a
    # property drop of the same session (KnownCrash, nothing sent; kuzu.hazards).
    # The workspace starts a new session (rebuild) before the pair, as the
    # kuzu-wasm workspace does (pyodide-tests/test_wasm_session_guard.py).
    backend = Crashy()
    ws = Workspace("w", MemoryStore(), backend, _clock())
    a, b, c = (ws.change(build_node_table(t, [("id", "INT64")], "id")) for t in "ABC")
    assert not any(isinstance(e, Rejected) for e in (a, b, c))
    r = ws.change(build_rel_table("R", [(a.id, b.id)], [("w", "INT64"), ("v", "INT64")]))
    assert not isinstance(r, Rejected)
    w = next(p for p in ws.state.tables[r.id].properties if p.name == "w")
    ws.change(DropProperty(r.id, w.property_id))
    assert ws.healed == []
    ws.change(AddConnection(r.id, Connection(a.id, c.id)))  # type: ignore[union-attr]
    [healed] = ws.healed
    assert healed.reason.startswith("new session before 'ALTER TABLE `R` ADD FROM `A` TO `C`'")
    assert backend.restarts == 1 and ws.unapplied is None
    rel = ws.catalog().rel_table("R")
    assert rel is not None and sorted(rel.connections) == [("A", "B"), ("A", "C")]
    assert [p.name for p in rel.properties] == ["v"]
