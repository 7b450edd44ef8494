"""schemalog.browser.workspace in Chromium: kuzu-wasm workspaces (one Worker each) with
their logs in IndexedDB, driven from Pyodide. Isolation, a real WebAssembly
trap in one workspace while the other keeps answering, and the crashed one
rebuilt from its log with the same schema hash."""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.page


@run_in_pyodide(packages=["kuzu-schemalog"])
async def test_a_trap_in_one_workspace_and_the_rebuild_from_its_log(selenium):
    import time
    import uuid

    from schemalog.browser.kuzu_wasm import SyncKuzuBackend, WasmKuzuBackend, WorkspaceCrashed
    from schemalog.browser.store import BrowserStore
    from schemalog.browser.workspace import Workspace
    from schemalog.model.clock import HybridLogicalClock
    from schemalog.model.events import DropTable, build_node_table, build_rel_table
    from schemalog.model.schema import table_by_name

    uid = uuid.uuid4().hex[:8]
    clock = HybridLogicalClock("tab", lambda: int(time.time() * 1000))
    backend_a = SyncKuzuBackend(await WasmKuzuBackend.open(f"heal-a-{uid}", fault_injection=True))
    backend_b = SyncKuzuBackend(await WasmKuzuBackend.open(f"heal-b-{uid}"))
    a = Workspace(f"a{uid}", BrowserStore.open(f"heal-a-{uid}"), backend_a, clock)
    b = Workspace(f"b{uid}", BrowserStore.open(f"heal-b-{uid}"), backend_b, clock)
    try:
        person = a.change(build_node_table("Person", [("id", "INT64"), ("name", "STRING")], "id"))
        city = a.change(build_node_table("City", [("id", "INT64")], "id"))
        a.change(build_rel_table("LivesIn", [(person.id, city.id)]))
        a.change(build_node_table("Scratch", [("id", "INT64")], "id"))
        a.change(DropTable(table_by_name(a.state, "Scratch").table_id))
        b.change(build_node_table("Invoice", [("id", "STRING")], "id"))
        books = "_schemalog_applied"
        assert a.catalog().table_names == {"Person", "City", "LivesIn", books}
        assert b.catalog().table_names == {"Invoice", books}
        hash_a, hash_b = a.state_hash, b.state_hash

        try:
            backend_a.inject_trap()
        except WorkspaceCrashed as exc:
            assert exc.kind == "RuntimeError"
            assert "memory access out of bounds" in exc.message
        else:
            raise AssertionError("the injected trap did not crash the workspace")
        assert backend_a.state == "crashed" and backend_b.state == "ready"
        # the other workspace keeps answering, untouched
        assert b.query("MATCH (i:Invoice) RETURN count(*) AS n") == [{"n": 0}]
        assert b.catalog().table_names == {"Invoice", books}

        # the crashed one heals on its next call: fresh worker, log replayed, compacted DDL
        assert a.catalog().table_names == {"Person", "City", "LivesIn", books}
        assert backend_a.generation == 2 and backend_a.state == "ready"
        [healed] = a.healed
        assert healed.hash_before == healed.hash_after == hash_a == a.state_hash
        assert healed.records == 5
        assert healed.statements == 3  # Scratch is never created again
        assert b.healed == [] and b.state_hash == hash_b
        # and it keeps working
        a.change(build_node_table("Country", [("id", "INT64")], "id"))
        assert "Country" in a.catalog().table_names
    finally:
        for ws in (a, b):
            ws.close()
            await BrowserStore.delete_async(ws.store.log_name)
