"""One truth about a change (issue 19): a change the database cannot take is
refused before anything is written; a written change is never an error (a
failed apply heals by rebuild, or the workspace says it is recorded and not
applied). Native Kuzu behind wrappers that fill up or fail like kuzu-wasm."""

from __future__ import annotations

import re
from typing import Any

import pytest

from schemalog.browser.workspace import Workspace
from schemalog.kuzu.port import BackendError, BackendFull
from schemalog.log.store import MemoryStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import DropTable, build_node_table
from schemalog.model.schema import table_by_name

kuzu = pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu

CREATE_NODE = re.compile(r"\s*CREATE\s+NODE\s+TABLE\b", re.IGNORECASE)


class Full(BackendFull):
    pass


class Small:
    """Native Kuzu that holds ``limit`` node tables created since the last restart
    (DROP gives none back), as kuzu-wasm's buffer pool does. ``check_capacity`` is
    the bound; ``execute`` fails like Kuzu (a plain BackendError) past it, so a
    workspace that does not check first writes a change it cannot apply."""

    def __init__(self, limit: int, *, check: bool = True) -> None:
        from schemalog.kuzu.native import NativeKuzuBackend

        self._make = NativeKuzuBackend
        self.inner = NativeKuzuBackend()
        self.limit = limit
        self.created = 0
        self.restarts = 0
        self.fail_next: str | None = None  # an engine error nobody foresaw
        if check:
            self.check_capacity = self._check_capacity

    def _creates(self, statements: Any) -> int:
        return sum(1 for s in statements if CREATE_NODE.match(s))

    def _check_capacity(self, statements: Any) -> None:
        if self.created + self._creates(statements) > self.limit:
            raise Full(None, f"full: {self.created} of {self.limit} node tables created")

    def capacity(self) -> Any:
        class Cap:
            node_tables_created = self.created

        return Cap()

    def execute(self, statements: Any) -> None:
        statements = list(statements)
        if self.fail_next is not None:
            why, self.fail_next = self.fail_next, None
            raise BackendError(statements[0], why)
        n = self._creates(statements)
        if self.created + n > self.limit:
            self.created = self.limit
            raise BackendError(statements[0], "Buffer manager exception: the buffer pool is full")
        self.inner.execute(statements)
        self.created += n

    def query(self, cypher: str) -> Any:
        return self.inner.query(cypher)

    def catalog(self) -> Any:
        return self.inner.catalog()

    def close(self) -> None:
        self.inner.close()

    def restart(self) -> None:
        self.inner.close()
        self.inner = self._make()
        self.created = 0
        self.restarts += 1


def _clock() -> HybridLogicalClock:
    t = [1_700_000_000_000]

    def now() -> int:
        t[0] += 1
        return t[0]

    return HybridLogicalClock("tab1", now)


def node(name: str) -> Any:
    return build_node_table(name, [("id", "INT64"), ("name", "STRING")], "id")


def test_a_change_that_does_not_fit_is_refused_before_it_is_written() -> None:
    store = MemoryStore()
    ws = Workspace("w", store, Small(4), _clock())  # 3 tables + the bookkeeping table
    for name in ("A", "B", "C"):
        ws.change(node(name))
    before = store.head()
    with pytest.raises(BackendFull):
        ws.change(node("D"))
    assert store.head() == before  # nothing of the refused change is in the log
    assert ws.unapplied is None
    assert sorted(t.name for t in ws.state.tables.values()) == ["A", "B", "C"]


def test_without_the_check_the_refused_change_would_be_in_the_log() -> None:
    """The failure mode the check prevents (issue 19: 7 failed changes, all 7 in
    the log): the same workspace without check_capacity writes, then cannot apply."""
    store = MemoryStore()
    ws = Workspace("w", store, Small(4, check=False), _clock())
    for name in ("A", "B", "C"):
        ws.change(node(name))
    ws.change(node("D"))  # written; the apply fails; the rebuild fails as well
    assert store.head().position == 4
    assert ws.unapplied is not None and ws.unapplied.position == 4
    assert "buffer pool is full" in ws.unapplied.reason


def test_a_full_workspace_recovers_room_by_drop_and_rebuild() -> None:
    backend = Small(4)
    ws = Workspace("w", MemoryStore(), backend, _clock())
    a = ws.change(node("A"))
    ws.change(node("B"))
    ws.change(node("C"))
    ws.change(DropTable(a.id))  # drop always fits: it creates nothing
    ws.change(node("D"))  # does not fit as is; a rebuild (no A) frees room first
    assert backend.restarts == 1 and ws.healed and ws.healed[-1].reason.startswith("full")
    assert table_by_name(ws.state, "D") is not None
    names = sorted(ws.catalog().table_names)
    assert [n for n in names if not n.startswith("_")] == ["B", "C", "D"]


def test_a_written_change_whose_apply_fails_is_never_an_error() -> None:
    store = MemoryStore()
    backend = Small(50)
    ws = Workspace("w", store, backend, _clock())
    ws.change(node("A"))
    backend.fail_next = "Runtime exception: something no model foresaw"
    event = ws.change(node("B"))  # returns: the change is written, the rebuild applies it
    assert store.head().position == 2 and backend.restarts == 1
    assert ws.unapplied is None and "B" in ws.catalog().table_names
    assert "something no model foresaw" in ws.healed[-1].reason
    assert event.id in {r.event.id for r in store.read(None, 10).records}


def test_a_written_change_that_cannot_be_applied_at_all_is_reported_unapplied() -> None:
    store = MemoryStore()
    backend = Small(50)
    ws = Workspace("w", store, backend, _clock())
    ws.change(node("A"))
    real_restart = backend.restart

    def broken_restart() -> None:
        real_restart()
        backend.fail_next = "Runtime exception: still broken"

    backend.restart = broken_restart  # type: ignore[method-assign]
    backend.fail_next = "Runtime exception: first failure"
    ws.change(node("B"))  # no exception: recorded, not applied
    assert store.head().position == 2
    assert ws.unapplied is not None
    assert ws.unapplied.position == 2
    assert "first failure" in ws.unapplied.reason and "still broken" in ws.unapplied.reason
    backend.restart = real_restart  # type: ignore[method-assign]
    ws.rebuild("asked")  # heals
    assert ws.unapplied is None and "B" in ws.catalog().table_names
