"""Two windows of one origin (real Chromium, IndexedDB, a kuzu-wasm worker each)
make conflicting schema changes concurrently: each writes on the view it has
(the other's BroadcastChannel news is not processed yet), under the Web Locks
lease. The later append meets the earlier one, merge's analysis finds the
conflict, the tab's strategy resolves it and the Merge event is appended with
its fencing token; both windows converge live to the same schema hash and
database, and each tab's Python API reports the conflict and its resolution."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from conftest import save_screenshot
from test_browser_tabs import open_page, py, result, start

pytestmark = pytest.mark.page

SETUP = """
import asyncio, json, js
from schemalog.browser.bridge import blocking
from schemalog.browser.kuzu_wasm import SyncKuzuBackend, WasmKuzuBackend
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import (
    DropProperty, Merge, RenameProperty, RenameTable, build_node_table,
)
from schemalog.log.lease.port import LeaseHeld
from schemalog.browser.lease import BrowserLeaseStore, fence_store
from schemalog.model.schema import Rejected, table_by_name
from schemalog.browser.store import BrowserStore
from schemalog.log.store.events import StoreEvents
from schemalog.browser.workspace import Workspace

NAME, ORIGIN = {name!r}, {origin!r}
ws = Workspace(NAME, BrowserStore.open(NAME), SyncKuzuBackend(await WasmKuzuBackend.open(NAME)),
               HybridLogicalClock(ORIGIN, lambda: int(js.Date.now())), strategy="lww")
leases = await BrowserLeaseStore.load()
HOLD = False  # True: news from the other tab waits (this tab's view stays stale)
held = []

def catalog():
    cat = ws.catalog()
    return {{t.name: [p.name for p in t.properties]
            for t in (*cat.node_tables, *cat.rel_tables) if not t.name.startswith("_schemalog")}}

def show():
    tables = sorted(catalog())
    js.showState(js.JSON.parse(json.dumps(
        {{"hash": ws.state_hash, "position": ws.position, "tables": tables}})))
    return json.dumps({{"hash": ws.state_hash, "position": ws.position, "catalog": catalog(),
                       "held": len(held)}})

def on_news():
    if HOLD:
        held.append(1)
        return "held"
    ws.sync()
    return show()

def release():
    global HOLD
    HOLD = False
    ws.sync()
    return show()

def locked(make):
    # the lease around one write: acquire (waiting while the other tab holds it),
    # fence the store, write with the token, release
    deadline = js.performance.now() + 20_000
    while True:
        try:
            lease = leases.acquire(NAME, ORIGIN, 30_000)
            break
        except LeaseHeld:
            if js.performance.now() > deadline:
                raise
            blocking(asyncio.sleep(0.02))
    try:
        fence_store(ws.store, lease)
        ws.fencing_token = lease.token
        outcome = ws.change(make(ws.state))
    finally:
        leases.release(lease)
    if isinstance(outcome, Rejected):
        return json.dumps({{"rejected": outcome.rule}})
    sync.announce(js.JSON.parse(json.dumps(
        {{"origin": ORIGIN, "position": ws.position, "checksum": None}})))
    w = ws.last_write
    return json.dumps({{"event": outcome.id, "token": lease.token, "written": w.to_obj(),
                       "newest_token": ws.store.newest_fencing_token}})

def rename_table(old, new):
    return locked(lambda s: RenameTable(table_by_name(s, old).table_id, new))

def drop_property(table, prop):
    def make(s):
        t = table_by_name(s, table)
        return DropProperty(t.table_id, t.property_named(prop).property_id)
    return locked(make)

def rename_property(table, prop, new):
    def make(s):
        t = table_by_name(s, table)
        return RenameProperty(t.table_id, t.property_named(prop).property_id, new)
    return locked(make)

def conflicts():
    return json.dumps([r.to_obj() for r in ws.conflicts()])

def merges():
    out = []
    for i, e in enumerate(StoreEvents(ws.store)):
        if isinstance(e.change, Merge):
            r = e.change.resolutions[0]
            out.append({{"position": i, "id": e.id, "parents": list(e.parents),
                        "key": r.conflict_key, "winner": r.winner, "losers": list(r.losers)}})
    return json.dumps(out)

def events():
    return json.dumps([{{"id": e.id, "kind": e.kind, "origin": e.origin,
                        "hlc": [e.hlc.wall_ms, e.hlc.logical, e.hlc.origin],
                        "new_name": getattr(e.change, "new_name", None)}}
                       for e in StoreEvents(ws.store)])

sync = js.openLiveSync(NAME, js.Function.new("news", "return runPy('on_news()');"))
ws.sync()
show()
"""


def test_two_windows_resolve_concurrent_conflicting_changes_and_converge(chrome, site_url):
    d = chrome
    name = f"conflicts-{uuid.uuid4().hex[:8]}"
    open_page(d, site_url)
    w1 = d.current_window_handle
    py(d, SETUP.format(name=name, origin="tab1"))
    d.switch_to.new_window("window")
    w2 = d.current_window_handle
    open_page(d, site_url)
    py(d, SETUP.format(name=name, origin="tab2"))

    def on(w: str) -> Any:
        d.switch_to.window(w)
        return d

    def state(w: str) -> dict:
        return json.loads(py(on(w), "show()"))

    def converged() -> tuple[dict, dict]:
        deadline = time.monotonic() + 30
        while True:
            a, b = state(w1), state(w2)
            if (a["hash"] == b["hash"] and a["catalog"] == b["catalog"]) or (
                time.monotonic() > deadline
            ):
                return a, b
            time.sleep(0.1)

    py(
        on(w1),
        "ws.change(build_node_table('Person', [('id', 'INT64'), ('name', 'STRING')], 'id'));"
        "ws.change(build_node_table('City', [('id', 'INT64')], 'id'));"
        "sync.announce(js.JSON.parse(json.dumps({'origin': ORIGIN, 'position': ws.position})))",
    )
    a, b = converged()
    assert a["catalog"] == b["catalog"] == {"City": ["id"], "Person": ["id", "name"]}

    def concurrently(first: str, second: str) -> tuple[dict, dict]:
        """Both tabs hold the other's news, then write at once; the news is released after."""
        py(on(w1), "HOLD = True")
        py(on(w2), "HOLD = True")
        start(on(w1), first)
        start(on(w2), second)
        r1, r2 = result(on(w1)), result(on(w2))
        py(on(w1), "release()")
        py(on(w2), "release()")
        return r1, r2

    # 1. rename-rename: City -> Town in window 1, City -> Village in window 2 (lww)
    r1, r2 = concurrently("rename_table('City', 'Town')", "rename_table('City', 'Village')")
    assert "event" in r1 and "event" in r2, (r1, r2)  # neither tab is refused
    met = [r for r in (r1, r2) if r["written"]["unseen"]]
    assert len(met) == 1, (r1, r2)  # the later append met the earlier one
    later = met[0]
    [conflict] = later["written"]["conflicts"]
    assert conflict["kind"] == "rename-rename"
    assert sorted(conflict["events"]) == sorted([r1["event"], r2["event"]])
    [merge_id] = later["written"]["resolutions"]
    assert conflict["resolved_by"] == merge_id and conflict["new"]
    # the Merge event was appended under the later writer's lease (its token is the newest)
    assert later["newest_token"] == later["token"] == max(r1["token"], r2["token"])
    a, b = converged()
    assert a["hash"] == b["hash"], (a, b)
    evs = json.loads(py(on(w1), "events()"))
    renames = [e for e in evs if e["kind"] == "rename_table"]
    lww = max(renames, key=lambda e: e["hlc"])  # lww: the later in (hlc, origin) order
    assert conflict["winner"] == lww["id"]
    assert a["catalog"] == b["catalog"] == {lww["new_name"]: ["id"], "Person": ["id", "name"]}
    for w in (w1, w2):
        [m] = json.loads(py(on(w), "merges()"))
        assert m["id"] == merge_id and m["winner"] == lww["id"]
        assert sorted(m["parents"]) == sorted([r1["event"], r2["event"]])
        assert m["key"] == conflict["key"]
        [seen] = json.loads(py(on(w), "conflicts()"))
        assert (seen["kind"], seen["winner"], seen["resolved_by"]) == (
            "rename-rename",
            lww["id"],
            merge_id,
        )
    assert [e["kind"] for e in evs][-1] == "merge"

    # 2. rename-drop: window 1 drops Person.name, window 2 renames it; drop-wins
    py(on(w1), "ws.strategy = 'drop-wins'")
    py(on(w2), "ws.strategy = 'drop-wins'")
    r1, r2 = concurrently(
        "drop_property('Person', 'name')", "rename_property('Person', 'name', 'full_name')"
    )
    assert "event" in r1 and "event" in r2, (r1, r2)
    later = r1 if r1["written"]["unseen"] else r2
    [conflict] = later["written"]["conflicts"]
    assert conflict["kind"] == "rename-drop" and conflict["winner"] == r1["event"]  # the drop
    a, b = converged()
    assert a["hash"] == b["hash"]
    assert a["catalog"]["Person"] == b["catalog"]["Person"] == ["id"]
    for w in (w1, w2):
        found = json.loads(py(on(w), "conflicts()"))
        assert [c["kind"] for c in found] == ["rename-rename", "rename-drop"]
        assert all(c["resolved_by"] for c in found)
        assert len(json.loads(py(on(w), "merges()"))) == 2
    save_screenshot(on(w1), "conflicts-window-1")
    save_screenshot(on(w2), "conflicts-window-2")
