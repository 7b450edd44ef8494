"""The parts of the browser adapters that CPython can check: they import
without js/pyodide, the node-table counter of the size bound, and the clear
error of a synchronous wrapper outside JSPI."""

from __future__ import annotations

import sys

import pytest

from schemalog.browser.bridge import SyncBridgeUnavailable, blocking, can_block
from schemalog.browser.kuzu_wasm import Capacity, WorkspaceFull, count_node_table_creates


def test_imports_touch_no_js() -> None:
    import schemalog.browser.lease
    import schemalog.browser.store
    import schemalog.browser.workspace  # noqa: F401

    assert "js" not in sys.modules and "pyodide" not in sys.modules


def test_node_table_creates_are_counted() -> None:
    statements = [
        "CREATE NODE TABLE A(id INT64, PRIMARY KEY(id))",
        "  create  node\ttable `b c`(id INT64, PRIMARY KEY(id))",
        "// a comment\nCREATE NODE TABLE C(id INT64, PRIMARY KEY(id))",
        "/* x */ /* y */CREATE NODE TABLE IF NOT EXISTS D(id INT64, PRIMARY KEY(id))",
        "CREATE REL TABLE R(FROM A TO A)",
        "ALTER TABLE A ADD x STRING",
        "COMMENT ON TABLE A IS 'CREATE NODE TABLE'",
        "CREATE NODE TABLES X",  # not the keyword TABLE
    ]
    assert count_node_table_creates(statements) == [0, 1, 2, 3]


def test_workspace_full_names_the_bound() -> None:
    cap = Capacity(63, 63, 400_000_000, 1 << 30)
    assert cap.node_tables_left == 0
    # the pool is also spent by what is written (~5 x the bytes) and keeps a reserve
    assert Capacity(10, 63, None, 1 << 30).node_tables_left == 63 - 10 - 2
    assert Capacity(10, 63, None, 1 << 30, 1024 * 1024).node_tables_left == 63 - 10 - 5 - 2
    exc = WorkspaceFull(
        "w", "CREATE NODE TABLE X(id INT64, PRIMARY KEY(id))", 2, cap, "buffer pool"
    )
    assert exc.index == 2 and exc.kind == "WorkspaceFull"
    assert "64 MiB holds 63 node tables" in str(exc)


def test_blocking_outside_pyodide_is_a_clear_error() -> None:
    async def answer() -> int:
        return 42

    assert can_block() is False
    with pytest.raises(SyncBridgeUnavailable, match="promising entry point"):
        blocking(answer())
