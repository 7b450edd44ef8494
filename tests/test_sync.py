"""log.sync in CPython: two "profiles" (a workspace each, its own local log and native
Kuzu database) attached to one real ``schemalog serve`` (an OS process).

* A change in one reaches the other (push, pull, ``Workspace.sync``).
* The service is stopped; both make conflicting changes offline (a rename of one
  table to two names, and concurrent properties on another: order-sensitive);
  rounds report ``online=False`` and the writes wait in the local logs; the
  service comes back on the same folder; both converge to the served log byte
  for byte, the same state hash and the same Kuzu catalog, with the Merge event
  the second pusher's strategy recorded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from schemalog.browser.attach import Attachment
from schemalog.browser.workspace import Workspace
from schemalog.log.store import MemoryStore
from schemalog.log.store.base import line_id
from schemalog.log.store.http import HttpxTransport
from schemalog.log.store.ndjson import NdjsonStore
from schemalog.log.store.port import EventStore
from schemalog.log.sync import SyncRound
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    RenameTable,
    build_add_property,
    build_node_table,
)
from schemalog.model.schema import Rejected, table_by_name
from served import Service

kuzu = pytest.importorskip("kuzu")
pytestmark = pytest.mark.kuzu


def _lines(store: EventStore) -> list[bytes]:
    return [line for chunk in store.iter_raw(0) for line in chunk.lines]


class Profile:
    """One browser profile: a local log (NDJSON or memory), a workspace, a sync."""

    def __init__(self, name: str, remote_url: str, local_path: Path | None) -> None:
        from schemalog.kuzu.native import NativeKuzuBackend

        self.path = local_path
        local = self._fresh()
        clock = HybridLogicalClock(name, lambda: int(time.time() * 1000))

        def restart(old: Any) -> Any:
            old.close()
            return NativeKuzuBackend()

        self.ws = Workspace(
            "team", local, NativeKuzuBackend(), clock, strategy="lww", restart_backend=restart
        )
        self.attached = Attachment(
            self.ws,
            remote_url,
            transport=HttpxTransport(timeout_s=10.0),
            replace_local=self._fresh,
        )
        self.sync = self.attached.sync

    def _fresh(self) -> EventStore:
        if self.path is None:
            return MemoryStore()
        for old in self.path.parent.glob(self.path.name + "*"):  # the log and its side files
            os.unlink(old)  # the sync checked that the remote holds every event
        return NdjsonStore.open(str(self.path), create=True)

    def round(self) -> SyncRound:
        return self.attached.round()

    def table_id(self, name: str) -> str:
        table = table_by_name(self.ws.state, name)
        assert table is not None, name
        return table.table_id

    def change(self, change: Any) -> None:
        assert not isinstance(self.ws.change(change), Rejected)

    def catalog(self) -> Any:
        return self.ws.catalog()

    def close(self) -> None:
        self.attached.close()
        self.ws.close()


@pytest.fixture
def service(tmp_path: Path) -> Any:
    svc = Service(str(tmp_path / "served")).start()
    yield svc
    svc.stop()


def test_a_change_in_one_profile_reaches_the_other(service: Service, tmp_path: Path) -> None:
    a = Profile("alice", service.log_url("team"), tmp_path / "a.ndjson")
    b = Profile("bob", service.log_url("team"), None)
    try:
        a.change(build_node_table("Person", [("id", "INT64")], "id"))
        assert a.round().pushed == 1
        got = b.round()
        assert (got.pulled, got.replaced) == (1, False)
        assert sorted(t.name for t in b.ws.state.tables.values()) == ["Person"]
        assert b.catalog() == a.catalog()
        b.change(build_add_property(b.table_id("Person"), "email", "STRING"))
        b.round()
        a.round()
        assert a.ws.state_hash == b.ws.state_hash
        assert _lines(a.ws.store) == _lines(b.ws.store) == _lines(a.sync.remote)
    finally:
        a.close()
        b.close()


def test_offline_conflicting_changes_converge_on_reconnect(
    service: Service, tmp_path: Path
) -> None:
    a = Profile("alice", service.log_url("team"), tmp_path / "a.ndjson")
    b = Profile("bob", service.log_url("team"), None)
    try:
        a.change(build_node_table("Person", [("id", "INT64")], "id"))
        a.change(build_node_table("City", [("id", "INT64")], "id"))
        a.round()
        b.round()
        person, city = a.table_id("Person"), a.table_id("City")

        service.stop()
        # conflicting: one table, two new names; order-sensitive: two properties of City
        a.change(RenameTable(person, "Human"))
        a.change(build_add_property(city, "zip", "STRING"))
        b.change(RenameTable(person, "People"))
        b.change(build_add_property(city, "country", "STRING"))
        away_a, away_b = a.round(), b.round()
        assert not away_a.online and not away_b.online
        assert (away_a.pending, away_b.pending) == (2, 2)
        assert away_a.error and away_b.error

        service.start()
        first, second = b.round(), a.round()
        assert first.pushed == 2 and not first.replaced
        assert second.replaced and second.written is not None
        assert second.written.conflicts, "the offline renames conflict"
        assert second.written.resolutions, "lww records its decision as a Merge event"
        a.round()
        b.round()

        assert a.ws.state_hash == b.ws.state_hash
        assert a.catalog() == b.catalog()
        served = _lines(a.sync.remote)
        assert _lines(a.ws.store) == served and _lines(b.ws.store) == served
        merges = [line for line in served if b'"kind":"merge"' in line]
        assert len(merges) == len(second.written.resolutions)
        ids = [line_id(line) for line in served]
        assert len(ids) == len(set(ids))
        names = sorted(t.name for t in a.ws.state.tables.values())
        assert names in (["City", "Human"], ["City", "People"])
        props = [p.name for p in table_by_name(a.ws.state, "City").properties]  # type: ignore[union-attr]
        assert sorted(props) == ["country", "id", "zip"]
    finally:
        a.close()
        b.close()


def test_a_round_without_changes_moves_nothing(service: Service, tmp_path: Path) -> None:
    a = Profile("alice", service.log_url("team"), None)
    try:
        assert a.round() == SyncRound(True, 0, 0, None, False, a.sync.agreed, 0)
        a.change(build_node_table("Person", [("id", "INT64")], "id"))
        a.round()
        again = a.round()
        assert (again.pulled, again.pushed, again.replaced) == (0, 0, False)
        assert again.agreed.position == 1
    finally:
        a.close()


def _events(origin: str, n: int) -> list[Any]:
    from schemalog.model.events import new_event

    clock = HybridLogicalClock(origin, lambda: 1_767_225_600_000)
    out: list[Any] = []
    for i in range(n):
        parents = [out[-1].id] if out else []
        out.append(
            new_event(clock, "team", parents, build_node_table(f"T{i}", [("id", "INT64")], "id"))
        )
    return out


class Away:
    """A remote that cannot be reached (the service stopped)."""

    name = "http://away/logs/team"

    def __getattr__(self, attr: str) -> Any:
        from schemalog.log.store.errors import StoreUnavailable

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable(self.name, "ConnectError: connection refused")

        return fail


def test_memory_stores_offline_and_a_rewritten_remote_is_refused() -> None:
    from schemalog.log.sync import LogSync, RemoteRewritten

    local, remote = MemoryStore(), MemoryStore()
    local.append(_events("a", 3), expected=None)
    sync = LogSync(local, remote, replace_local=MemoryStore, strategy="lww")
    assert sync.round().pushed == 3 and remote.raw_lines() == local.raw_lines()

    sync.remote = Away()  # type: ignore[assignment]
    away = sync.round()
    assert not away.online and away.pending == 0 and "connection refused" in (away.error or "")

    other = MemoryStore()
    other.append(_events("b", 4), expected=None)  # another history under the same name
    sync.remote = other
    with pytest.raises(RemoteRewritten) as info:
        sync.round()
    assert info.value.position == 2
    assert local.raw_lines() == remote.raw_lines()  # nothing replaced, nothing pushed
