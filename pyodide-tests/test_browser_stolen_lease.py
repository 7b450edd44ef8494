"""Two windows of one Chromium profile on one IndexedDB log, with the Web Locks
lease (issue 17: "a tab whose lease was stolen is fenced out at its next
append, tested with two windows").

Window A holds the lease and appends. It starts another append and that
append is held after every check Python makes (its view of the fence is the
old one) and before its IndexedDB transaction: the moment a paused tab is in.
Window B steals the lease meanwhile (the steal raises the log's fence) and
writes nothing yet. A's held append is then let go: its expected head is
still the log's head, so only the fence check inside the IndexedDB
transaction (web/js/idb-store.mjs ``append``) stands between it and the log.
It must be FencedOut naming both tokens; so must A's next append; and the
log, read from B, must verify with none of A's stale records in it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from conftest import save_screenshot
from test_browser_tabs import open_page, py, result, start

pytestmark = pytest.mark.page

WINDOW_SETUP = """
import json, js
from schemalog.browser.lease import BrowserLeaseStore
from schemalog.browser.store import BrowserStore
from schemalog.log.store import FencedOut
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import build_node_table, new_event

NAME, ORIGIN = {name!r}, {origin!r}
store = await BrowserStore.open_async(NAME)
clock = HybridLogicalClock(ORIGIN, lambda: int(js.Date.now()))
leases = await BrowserLeaseStore.load()
lease = None


class HeldLog:
    # The store's IndexedDB log, its appends held at a gate the test opens: the
    # request is built (head and token checked by Python) before the gate.
    def __init__(self, log):
        self._log = log

    def __getattr__(self, name):
        return getattr(self._log, name)

    async def append(self, request):
        js.window.appendHeld = True
        await js.window.gate
        return await self._log.append(request)


def hold_appends():
    js.eval("window.gate = new Promise((open) => (window.openGate = open));"
            "window.appendHeld = false;")
    store._log = HeldLog(store._log)


async def take(steal):
    global lease
    lease = await leases.acquire_async(NAME, ORIGIN, 60_000, steal=steal, fence=store)
    return lease.token


async def append(table):
    await store.pull()
    event = new_event(clock, NAME, tuple(store.heads()),
                      build_node_table(table, [("id", "INT64")], "id"))
    try:
        head = await store.append_async([event], expected=store.head().checksum,
                                        fencing_token=lease.token)
    except FencedOut as exc:
        return json.dumps({{"fenced": [exc.token, exc.newest], "message": str(exc)}})
    return json.dumps({{"appended": head.position, "event": event.id}})


async def check_log():
    from schemalog.log.replay import replay
    from schemalog.log.store.verify import verify_store
    await store.pull()
    report = verify_store(store)
    tables, cursor = [], None
    while True:
        page = store.read(cursor, 100)  # decoded, checksums and links verified
        if not page.records:
            break
        tables.extend(r.event.change.name for r in page.records)
        cursor = page.cursor
    replayed = replay(store)
    return json.dumps({{
        "ok": report.ok, "problem": None if report.ok else str(report.problem),
        "records": report.records, "tables": tables,
        "replay_stopped": replayed.stopped is not None,
        "skipped": [s.kind for s in replayed.skipped],
    }})

ORIGIN
"""


def test_a_window_whose_lease_was_stolen_is_fenced_out_at_the_moment_of_writing(
    chrome: Any, site_url: str
) -> None:
    name = f"stolen-{uuid.uuid4().hex[:8]}"
    open_page(chrome, site_url)
    window_a = chrome.current_window_handle
    assert py(chrome, WINDOW_SETUP.format(name=name, origin="windowA")) == "windowA"
    chrome.switch_to.new_window("window")  # a second window of the same profile
    window_b = chrome.current_window_handle
    open_page(chrome, site_url)
    assert py(chrome, WINDOW_SETUP.format(name=name, origin="windowB")) == "windowB"

    def on(window: str) -> Any:
        chrome.switch_to.window(window)
        return chrome

    # A takes the lease and appends with it
    token_a = py(on(window_a), "await take(False)")
    assert "appended" in json.loads(py(on(window_a), "await append('Before')"))
    # B cannot take it while A holds it (no steal): the lease is A's
    held = py(
        on(window_b),
        "from schemalog.log.lease.port import LeaseHeld\n"
        "try:\n    await take(False)\n    r = 'granted'\nexcept LeaseHeld as e:\n    r = str(e)\nr",
    )
    assert held != "granted" and "windowA" in held, held

    # A's next append passes every check Python makes, then waits at the gate
    py(on(window_a), "hold_appends()")
    start(on(window_a), "await append('Stale')")
    WebDriverWait(chrome, 60).until(lambda d: d.execute_script("return window.appendHeld;"))

    # B steals the lease: its token raises the log's fence before the steal returns
    token_b = py(on(window_b), "await take(True)")
    assert token_b > token_a

    # A's held append goes on to IndexedDB: the head it expects is still the log's
    # (B has not written yet), so only the fence check in that transaction refuses it
    on(window_a).execute_script("window.openGate();")
    stale = result(on(window_a))
    assert stale.get("fenced") == [token_a, token_b], stale
    assert f"token {token_a}" in stale["message"] and str(token_b) in stale["message"], stale
    assert "appended" in json.loads(py(on(window_b), "await append('Thief')"))
    # and A's next append (a fresh one, its view now pulled) is refused the same way
    py(on(window_a), "store._log = store._log._log")
    late = json.loads(py(on(window_a), "await append('Late')"))
    assert late.get("fenced") == [token_a, token_b], late
    assert py(on(window_a), "leases.lost_reason(lease)") is not None

    # the log, read in B: verifies, replays, and holds nothing of A's after the steal
    checked = json.loads(py(on(window_b), "await check_log()"))
    assert checked["ok"], checked
    assert checked["tables"] == ["Before", "Thief"], checked
    assert not checked["replay_stopped"] and checked["skipped"] == [], checked
    # A reads the same log
    assert json.loads(py(on(window_a), "await check_log()"))["tables"] == ["Before", "Thief"]
    save_screenshot(chrome, "stolen-lease-window-a")
