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


def test_a_concurrent_rename_reads_by_its_own_past_in_the_log_and_the_conflicts(ws: Any) -> None:
    """Two tabs on one log: tab t renames Item -> ItemA while tab u, which has not
    seen it, renames Item -> ItemB. Each row reads as its writer saw it, the
    Merge row names both sides, and so does a fresh session (a reload)."""
    from schemalog.kuzu.native import NativeKuzuBackend

    item = ws.change(build_node_table("Item", [("id", "INT64")], "id"))
    t = [1_800_000_000_000]

    def later() -> int:
        t[0] += 1
        return t[0]

    other = Workspace(
        "w", ws.store, NativeKuzuBackend(), HybridLogicalClock("u", later), strategy="lww"
    )
    try:
        other.sync()
        ws.change(RenameTable(item.id, "ItemA"))
        other.change(RenameTable(item.id, "ItemB"))  # on its stale view: concurrent, lww
        rows = demo.log(None, 10)["rows"]
        assert [r["summary"] for r in rows] == [
            "Item(id INT64 PK)",
            "Item -> ItemA",
            "Item -> ItemB",  # never "ItemA -> ItemB"
            "rename-rename: 'Item -> ItemB' won over 'Item -> ItemA'",
        ]
        assert rows[2]["tables"] == [["Item", "ItemB"]]
        [c] = demo.conflicts()["conflicts"]
        assert c["element"] == "table 'Item'"
        assert [s["summary"] for s in c["sides"]] == ["Item -> ItemA", "Item -> ItemB"]
        ws.sync()
        ws.change(RenameTable(item.id, "ItemC"))
        assert demo.log(None, 10)["rows"][-1]["summary"] == "ItemB -> ItemC"
        # a reload: a new session over the same log reads the same rows
        before = [r["summary"] for r in demo.log(None, 10)["rows"]]
        demo._S = demo._Session()
        demo._S.ws = other
        other.sync()
        assert [r["summary"] for r in demo.log(None, 10)["rows"]] == before
        # a page that starts after the renames still names them by their own past
        second = demo.log(demo.log(None, 2)["cursor"], 2)["rows"]
        assert [r["summary"] for r in second] == before[2:4]
    finally:
        other.close()


def test_a_cancelled_replay_is_cancelled_never_a_shorter_finished_one(monkeypatch: Any) -> None:
    """The page's Cancel stops the demo's replay between chunks: the call raises
    Cancelled (replay itself reports what stopped it as a value, and that value
    was shown as a finished replay of fewer events); a cancelled generation
    leaves no half-written log behind."""
    import os

    events = 9_001  # two 4 MiB pieces
    path = f"/tmp/schemalog-demo-{events}.ndjson"
    for leftover in (path, path + ".tmp"):
        if os.path.exists(leftover):
            os.remove(leftover)
    try:
        assert demo.memory_replay(events)["events"] == events
        monkeypatch.setattr(demo, "_cancelled", lambda: True)
        with pytest.raises(demo.Cancelled, match=f"replay cancelled after [0-9]+ of {events}"):
            demo.memory_replay(events)
        os.remove(path)
        with pytest.raises(demo.Cancelled, match="generating cancelled after 4096 of"):
            demo.memory_replay(events)
        assert not os.path.exists(path) and not os.path.exists(path + ".tmp")
    finally:
        for leftover in (path, path + ".tmp"):
            if os.path.exists(leftover):
                os.remove(leftover)


def test_the_simulation_lists_its_own_conflicts_by_name_and_adopts_only_a_decision(
    ws: Any,
) -> None:
    """The conflict simulation: both sides and the element by table name, only
    the conflicts of this simulation (not the ones the log already has, decided
    there), and nothing to adopt when the strategy is reject."""
    ws.strategy = "lww"
    ws.change(build_node_table("Person", [("id", "INT64")], "id"))
    first = demo.conflict("Person", "rename", "lww")
    [c] = first["conflicts"]
    assert (c["kind"], c["element"]) == ("rename-rename", "table 'Person'")
    assert sorted(s["summary"] for s in c["sides"]) == [
        "Person -> Person_here",
        "Person -> Person_there",
    ]
    assert [r["summary"] for r in first["resolutions"]] == [
        "rename-rename: 'Person -> Person_there' won over 'Person -> Person_here'"
    ]
    assert first["can_adopt"] is True
    demo.adopt()
    assert [r["kind"] for r in demo.conflicts()["conflicts"]] == ["rename-rename"]
    # the log now holds a decided conflict: a new simulation lists only its own
    second = demo.conflict("Person_there", "drop", "reject")
    [c] = second["conflicts"]
    assert (c["kind"], c["winner"]) == ("rename-drop", None)
    assert sorted(s["summary"] for s in c["sides"]) == [
        "Person_there",
        "Person_there -> Person_there_here",
    ]
    assert second["can_adopt"] is False and second["resolutions"] == []
    with pytest.raises(demo.DemoError, match="no resolved conflict to adopt"):
        demo.adopt()
    # what replay left out, in words (drop-wins: the rename lost)
    third = demo.conflict("Person_there", "drop", "drop-wins")
    [(what, why)] = third["merged"]["skipped"]
    assert (what, why) == ("Person_there -> Person_there_here", "it lost the rename-drop conflict")
