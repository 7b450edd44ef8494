"""Our browser test page (web/browser-test.html) in real Chromium windows:
a page reload in the middle of a series of IndexedDB appends, and two tabs of
one origin sharing a workspace: concurrent changes, the lease's fencing, live
convergence to the same schema hash."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from conftest import save_screenshot

pytestmark = pytest.mark.page


def open_page(driver: Any, site_url: str) -> float:
    driver.get(f"{site_url}/web/browser-test.html")
    WebDriverWait(driver, 120).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-ready") != "no"
    )
    body = driver.find_element("tag name", "body")
    assert body.get_attribute("data-ready") == "yes", driver.find_element("id", "error").text
    return float(body.get_attribute("data-python-seconds"))


def py(driver: Any, code: str) -> Any:
    """Runs Python in the page (queued, runPythonAsync); returns its last value."""
    outcome = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        runPy(arguments[0]).then(
            (value) => done({ ok: true, value: value === undefined ? null : value }),
            (e) => done({ ok: false, message: String(e && e.message) }));
        """,
        code,
    )
    if not outcome["ok"]:
        raise AssertionError(f"Python failed in the page:\n{outcome['message']}")
    return outcome["value"]


RELOAD_SETUP = """
import js
from schemalog.browser.store import BrowserStore
from schemalog.synth.generator import generate
EVENTS = list(generate(3000, seed=11))
store = await BrowserStore.open_async({name!r})
async def pump():
    head = store.head()
    started = js.performance.now()
    for i in range(head.position, len(EVENTS)):
        head = await store.append_async([EVENTS[i]], expected=head.checksum)
        # acknowledged: the IDB transaction completed (durability "strict")
        js.sessionStorage.setItem("acked", str(head.position))
        js.sessionStorage.setItem("ms", str(js.performance.now() - started))
"""

RELOAD_CHECK = """
import json
from schemalog.browser.store import BrowserStore
from schemalog.encoding.codec import verify_chain
from schemalog.synth.generator import generate
EVENTS = list(generate(3000, seed=11))
store = await BrowserStore.open_async({name!r}, create=False, expect_position={acked})
records, cursor = [], None
while True:
    page = store.read(cursor, 100)  # every record decoded, checksum and hash link verified
    if not page.records:
        break
    records.extend(page.records)
    cursor = page.cursor
got = [r.event for r in records]
broken = verify_chain(records, None, store.head().checksum)
json.dumps({{"n": len(got), "prefix": got == EVENTS[:len(got)], "ok": broken is None}})
"""


def test_a_reload_in_the_middle_of_appends_loses_nothing_acknowledged(chrome, site_url):
    open_page(chrome, site_url)
    name = f"reload-{uuid.uuid4().hex[:8]}"
    chrome.execute_script("sessionStorage.clear();")
    py(chrome, RELOAD_SETUP.format(name=name))
    # started from JS and not awaited (a task started inside runPythonAsync keeps it open)
    chrome.execute_script("window.pumping = pyodide.globals.get('pump')();")
    deadline = time.monotonic() + 60
    while int(chrome.execute_script("return sessionStorage.getItem('acked') || '0';")) < 40:
        assert time.monotonic() < deadline, "appends did not get going"
        time.sleep(0.02)
    seen = int(chrome.execute_script("return sessionStorage.getItem('acked');"))
    chrome.refresh()  # mid-append: the pump is still running
    WebDriverWait(chrome, 120).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "yes"
    )
    acked = int(chrome.execute_script("return sessionStorage.getItem('acked');"))
    ms = float(chrome.execute_script("return sessionStorage.getItem('ms');"))
    print(f"acked when the reload was asked: {seen}, at the reload: {acked}")
    assert 40 <= acked < 3000, acked
    result = json.loads(py(chrome, RELOAD_CHECK.format(name=name, acked=acked)))
    assert result["prefix"] and result["ok"]
    assert result["n"] >= acked  # everything acknowledged is there (plus at most one in flight)
    print(f"{acked} single-event appends acknowledged in {ms:.0f} ms ({ms / acked:.2f} ms each)")
    save_screenshot(chrome, "browser-store-after-reload")


TAB_SETUP = """
import json, js
from schemalog.browser.kuzu_wasm import SyncKuzuBackend, WasmKuzuBackend
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import build_node_table
from schemalog.browser.lease import BrowserLeaseStore
from schemalog.model.schema import Rejected
from schemalog.log.store import FencedOut
from schemalog.browser.store import BrowserStore
from schemalog.browser.workspace import Workspace

NAME, ORIGIN = {name!r}, {origin!r}
t0 = js.performance.now()
backend = SyncKuzuBackend(await WasmKuzuBackend.open(NAME))
OPEN_MS = js.performance.now() - t0
ws = Workspace(NAME, BrowserStore.open(NAME), backend,
               HybridLogicalClock(ORIGIN, lambda: int(js.Date.now())))
leases = await BrowserLeaseStore.load()
lease = None

def show():
    tables = sorted(t for t in ws.catalog().table_names if not t.startswith("_schemalog"))
    js.showState(js.JSON.parse(json.dumps(
        {{"hash": ws.state_hash, "position": ws.position, "tables": tables}})))
    return json.dumps({{"hash": ws.state_hash, "position": ws.position, "tables": tables,
                       "token": ws.fencing_token}})

HOLD = False  # True: news from the other tab waits (this tab's view stays stale)

def on_news():
    if HOLD:
        return "held"
    ws.sync()
    return show()

def release():
    global HOLD
    HOLD = False
    ws.sync()
    return show()

def duplicates():
    from schemalog.log.replay import replay
    return json.dumps({{"conflicts": len(ws.conflicts()),
                       "skipped": [s.kind for s in replay(ws.store).skipped]}})

def create(table):
    try:
        outcome = ws.change(build_node_table(table, [("id", "INT64")], "id"))
    except FencedOut as exc:
        js.showLine(f"fenced out: {{exc}}")
        return json.dumps({{"fenced": True, "token": exc.token, "newest": exc.newest}})
    if isinstance(outcome, Rejected):
        js.showLine(f"conflict: {{outcome}}")
        return json.dumps({{"rejected": outcome.rule, "message": outcome.message}})
    sync.announce(js.JSON.parse(json.dumps(
        {{"origin": ORIGIN, "position": ws.position, "checksum": ws._known().head}})))
    js.showLine(f"{{ORIGIN}} created {{table}}")
    show()
    return json.dumps({{"event": outcome.id}})

def take_lease(steal):
    global lease
    # fence=: the log's fence is raised to the new token in the same step, so the
    # old holder's appends are FencedOut from now on (a steal without it is refused)
    lease = leases.acquire(NAME, ORIGIN, 60_000, steal=steal, fence=ws.store)
    ws.fencing_token = lease.token
    return lease.token

def lost():
    return leases.lost_reason(lease) if lease else None

# The news handler is plain JS: it queues a Python call (no Python entered from
# the event while another Python call may be suspended in run_sync).
sync = js.openLiveSync(NAME, js.Function.new("news", "return runPy('on_news()');"))
ws.sync()
json.dumps({{"open_ms": OPEN_MS, "status": json.loads(show())}})
"""


def start(driver: Any, code: str) -> None:
    """Starts a Python call without waiting; its result lands in window.lastResult."""
    driver.execute_script(
        "window.lastResult = null;"
        "runPy(arguments[0]).then((v) => (window.lastResult = {ok: true, value: v}),"
        " (e) => (window.lastResult = {ok: false, message: String(e.message)}));",
        code,
    )


def result(driver: Any) -> Any:
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return window.lastResult;"))
    outcome = driver.execute_script("return window.lastResult;")
    assert outcome["ok"], outcome["message"]
    return json.loads(outcome["value"])


def test_two_tabs_concurrent_changes_fencing_and_live_convergence(chrome, site_url):
    name = f"tabs-{uuid.uuid4().hex[:8]}"
    open_page(chrome, site_url)
    tab1 = chrome.current_window_handle
    opened = json.loads(py(chrome, TAB_SETUP.format(name=name, origin="tab1")))
    chrome.switch_to.new_window("tab")
    tab2 = chrome.current_window_handle
    open_page(chrome, site_url)
    json.loads(py(chrome, TAB_SETUP.format(name=name, origin="tab2")))

    def on(tab: str) -> Any:
        chrome.switch_to.window(tab)
        return chrome

    def converged() -> tuple[dict, dict]:
        deadline = time.monotonic() + 30
        while True:
            a = json.loads(py(on(tab1), "show()"))
            b = json.loads(py(on(tab2), "show()"))
            if a["hash"] == b["hash"] or time.monotonic() > deadline:
                return a, b
            time.sleep(0.1)

    # 1. concurrent changes, both unfenced: started in both tabs before either answers
    start(on(tab1), "create('Person')")
    start(on(tab2), "create('Invoice')")
    assert "event" in result(on(tab1)) and "event" in result(on(tab2))
    a, b = converged()
    assert a["hash"] == b["hash"]
    assert a["tables"] == b["tables"] == ["Invoice", "Person"]
    # the same new table from both tabs at once, each on its own view (the other's
    # news held back): identical concurrent creations are one table, not a conflict
    py(on(tab1), "HOLD = True")
    py(on(tab2), "HOLD = True")
    start(on(tab1), "create('Shared')")
    start(on(tab2), "create('Shared')")
    outcomes = [result(on(tab1)), result(on(tab2))]
    assert all("event" in o for o in outcomes), outcomes
    py(on(tab1), "release()")
    py(on(tab2), "release()")
    a, b = converged()
    assert a["hash"] == b["hash"] and a["tables"] == ["Invoice", "Person", "Shared"]
    for tab in (tab1, tab2):
        assert json.loads(py(on(tab), "duplicates()")) == {"conflicts": 0, "skipped": ["duplicate"]}

    # 2. the lease: tab1 holds it, tab2 steals it; tab1's next append is fenced out
    token1 = py(on(tab1), "take_lease(False)")
    assert "event" in json.loads(py(on(tab1), "create('City')"))
    token2 = py(on(tab2), "take_lease(True)")
    assert token2 == token1 + 1
    fenced = json.loads(py(on(tab1), "create('Country')"))
    assert fenced == {"fenced": True, "token": token1, "newest": token2}
    assert "taken by another tab" in py(on(tab1), "lost()")

    # 3. live: tab2's change reaches tab1 through BroadcastChannel, no call from us
    assert "event" in json.loads(py(on(tab2), "create('Order')"))
    chrome.switch_to.window(tab1)
    WebDriverWait(chrome, 30).until(
        lambda d: d.find_element("id", "tables").text == "City, Invoice, Order, Person, Shared"
    )
    a, b = converged()
    assert (
        a["hash"] == b["hash"] == chrome.find_element("tag name", "body").get_attribute("data-hash")
    )
    save_screenshot(chrome, "two-tabs-tab1")
    on(tab2)
    save_screenshot(chrome, "two-tabs-tab2")
    print(f"kuzu-wasm workspace opened in {opened['open_ms']:.0f} ms (tab1, cold)")


STEAL_SETUP = """
import json, js
from schemalog.browser.lease import BrowserLeaseStore, StealNeedsFence
from schemalog.browser.store import BrowserStore
from schemalog.log.store import FencedOut
from schemalog.model.clock import HybridLogicalClock
from schemalog.model.events import build_node_table, new_event

NAME = {name!r}
store = BrowserStore.open(NAME)
clock = HybridLogicalClock("tab1", lambda: int(js.Date.now()))
leases = await BrowserLeaseStore.load()

def append(token, table):
    change = build_node_table(table, [("id", "INT64")], "id")
    event = new_event(clock, NAME, tuple(store.heads()), change)
    try:
        store.append([event], expected=store.head().checksum, fencing_token=token)
        return "appended"
    except FencedOut as exc:
        return f"fenced {{exc.token}} < {{exc.newest}}"

lease = leases.acquire(NAME, "tab1", 60_000, fence=store)
try:
    leases.acquire(NAME, "thief", 60_000, steal=True)
    unfenced = "stolen without fence"
except StealNeedsFence:
    unfenced = "refused"
json.dumps({{"token": lease.token, "first": append(lease.token, "A"), "unfenced": unfenced}})
"""

PLAIN_STEAL = """
const done = arguments[arguments.length - 1];
navigator.locks.request('schemalog:' + arguments[0], { steal: true }, () => {
    done('stolen');
    return new Promise(() => {});  // held: a thief that brings no fencing token
});
"""


def test_a_steal_always_raises_the_fence_and_a_stolen_holder_fences_itself_out(chrome, site_url):
    name = f"steal-{uuid.uuid4().hex[:8]}"
    open_page(chrome, site_url)
    first = json.loads(py(chrome, STEAL_SETUP.format(name=name)))
    assert first["first"] == "appended" and first["unfenced"] == "refused"
    token = first["token"]
    # a plain Web Locks steal, no token: the old holder must not append any more
    assert chrome.execute_async_script(PLAIN_STEAL, name) == "stolen"
    py(
        chrome,
        "from schemalog.browser.bridge import import_module\n"
        "await (await import_module('/web/js/web-lease.mjs')).selfFenced(NAME)",
    )
    assert py(chrome, "append(lease.token, 'B')") == f"fenced {token} < {token + 1}"
    # our own steal raises the fence in the same step: nothing older appends after it
    stolen = py(chrome, "leases.acquire(NAME, 'tab2', 60_000, steal=True, fence=NAME).token")
    assert stolen == token + 1
    assert py(chrome, "await store.pull()\nstore._fence") == stolen
    assert py(chrome, f"append({stolen}, 'C')") == "appended"
    assert py(chrome, f"append({token}, 'D')") == f"fenced {token} < {stolen}"
