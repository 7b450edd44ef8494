"""Two workspaces (native Kuzu each) on one log, one writing on a stale view:
the conflict is resolved by a Merge event and both databases end up with the
winner's schema, including the one that had already applied the loser."""

from __future__ import annotations

import pytest

from schemalog.browser.workspace import Workspace
from schemalog.log.store import MemoryStore
from schemalog.log.store.events import StoreEvents
from schemalog.model.events import Merge, RenameTable
from schemalog.model.schema import table_by_name
from test_replay import ticking_clock

kuzu = pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu


def _tables(ws: Workspace) -> list[str]:
    return sorted(n for n in ws.catalog().table_names if not n.startswith("_schemalog"))


def _pair(strategy: str) -> tuple[Workspace, Workspace]:
    from schemalog.kuzu.native import NativeKuzuBackend
    from schemalog.model.events import build_node_table

    store = MemoryStore()
    a = Workspace(
        "w", store, NativeKuzuBackend(), ticking_clock("a", 1_700_000_000_000), strategy=strategy
    )
    b = Workspace(
        "w", store, NativeKuzuBackend(), ticking_clock("b", 1_700_000_100_000), strategy=strategy
    )
    a.change(build_node_table("City", [("id", "INT64")], "id"))
    b.sync()
    return a, b


def test_the_database_that_applied_the_loser_follows_the_merge(
    request: pytest.FixtureRequest,
) -> None:
    a, b = _pair("lww")
    request.addfinalizer(a.close)
    request.addfinalizer(b.close)
    city = table_by_name(a.state, "City")
    assert city is not None
    a.change(RenameTable(city.table_id, "Town"))  # applied to a's database at once
    assert _tables(a) == ["Town"]
    b.change(RenameTable(city.table_id, "Village"))  # b never saw Town; b's clock is later
    written = b.last_write
    assert written is not None and written.unseen == 1
    assert [r.conflict.kind for r in written.conflicts] == ["rename-rename"]
    assert len(written.resolutions) == 1
    assert _tables(b) == ["Village"]
    a.sync()  # the Merge makes a's own rename a loser: a replays whole, renames Town
    assert _tables(a) == ["Village"]
    assert a.state_hash == b.state_hash
    assert a.catalog() == b.catalog()
    for ws in (a, b):
        [report] = ws.conflicts()
        assert report.winner == written.events[0].id and report.resolved_by
    kinds = [e.kind for e in StoreEvents(a.store)]
    assert kinds == ["create_node_table", "rename_table", "rename_table", "merge"]


def test_reject_then_a_person_resolves_and_both_databases_follow(
    request: pytest.FixtureRequest,
) -> None:
    a, b = _pair("reject")
    request.addfinalizer(a.close)
    request.addfinalizer(b.close)
    city = table_by_name(a.state, "City")
    assert city is not None
    a.change(RenameTable(city.table_id, "Town"))
    mine = b.change(RenameTable(city.table_id, "Village"))
    [open_conflict] = b.conflicts()
    assert open_conflict.winner is None
    a.sync()
    assert a.state_hash == b.state_hash and _tables(a) == _tables(b)
    town = next(i for i in open_conflict.conflict.ids if i != mine.id)  # type: ignore[union-attr]
    merge = a.resolve(open_conflict.conflict.key, town)
    assert isinstance(merge.change, Merge)
    b.sync()
    assert _tables(a) == _tables(b) == ["Town"]
    assert a.state_hash == b.state_hash
