"""The demo page's history as a person reads it (issue 19): property changes
named by the property's name as of that record, and a compatibility check
from a version the log does not have is an error, not "compatible"."""

from __future__ import annotations

from typing import Any

import pytest

from schemalog.browser import demo
from schemalog.browser.workspace import Workspace
from schemalog.log.store import MemoryStore
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    DropProperty,
    RenameProperty,
    RenameTable,
    build_add_property,
    build_node_table,
)

kuzu = pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu


@pytest.fixture
def ws() -> Any:
    from schemalog.kuzu.native import NativeKuzuBackend

    t = [1_700_000_000_000]

    def now() -> int:
        t[0] += 1
        return t[0]

    workspace = Workspace("w", MemoryStore(), NativeKuzuBackend(), HybridLogicalClock("t", now))
    demo._S.ws = workspace
    yield workspace
    demo._S.ws = None
    workspace.close()


def test_log_rows_name_tables_and_properties_as_of_their_time(ws: Any) -> None:
    person = ws.change(build_node_table("Person", [("id", "INT64"), ("p0", "STRING")], "id"))
    table = ws.state.tables[person.id]
    p0 = table.property_named("p0").property_id
    ws.change(RenameProperty(person.id, p0, "fullName"))
    ws.change(build_add_property(person.id, "age", "INT64"))
    ws.change(DropProperty(person.id, p0))
    ws.change(RenameTable(person.id, "Human"))
    rows = demo.log(None, 10)["rows"]
    summaries = [r["summary"] for r in rows]
    assert summaries[1] == "Person.p0 -> fullName"
    assert summaries[2] == "Person.age INT64"
    assert summaries[3] == "Person.fullName"  # the drop names the property as it was then
    assert summaries[4] == "Person -> Human"
    # a page that starts later in the log still names what came before it
    later = demo.log(rows[2]["id"] and demo.log(None, 3)["cursor"], 5)["rows"]
    assert [r["summary"] for r in later][:2] == ["Person.fullName", "Person -> Human"]


def test_compat_from_an_unknown_version_is_an_error(ws: Any) -> None:
    ws.change(build_node_table("Person", [("id", "INT64")], "id"))
    with pytest.raises(demo.DemoError, match="no version 9999"):
        demo.compat(9999)
    with pytest.raises(demo.DemoError, match="no version -1"):
        demo.compat(0, -1)
    assert demo.compat(0, 1)["from"] == 0
