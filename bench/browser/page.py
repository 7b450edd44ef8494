"""The demo page as a product, measured in headless Chromium (issue 19).

Two legs of ``bench/browser/run.py`` (``--legs capacity stall``), each in a
fresh browser on the real page (web/index.html: Python in its Worker, a
kuzu-wasm worker per workspace, the IndexedDB log):

* ``capacity``: node tables ``N1, N2, ...`` (``id INT64, name STRING``)
  created through the page's own API until the workspace refuses one; the
  count, the refusal (``WorkspaceFull``, never a Kuzu error), the bound the
  page announced and what limits it. Beside it, in the same browser, the raw
  figure: the same CREATE statements sent straight to a kuzu-wasm worker
  (web/js/workspace.mjs, no bound of ours) until Kuzu fails, and whether the
  catalog can still be read then;
* ``stall``: a replay of ``--events`` synthetic events (default 1,000,000)
  started with the page's Replay button, while a 20 ms timer on the main
  thread records the longest gap between two of its ticks (the longest
  main-thread stall) and WebDriver keeps typing into a field; the replay's
  own figures (events/s, heap) as the page shows them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

CAPACITY_PAGE_JS = """
const name = args[0];
const reply = async (method, a = {}) => {
  try { return { ok: true, value: await window.schemalog.py(method, a) }; }
  catch (e) { return { ok: false, name: e.name, message: e.message }; }
};
const start = (await reply("status")).value;
let created = 0, refusal = null;
const t0 = performance.now();
for (let n = 1; n < 10000; n++) {
  const r = await reply("change", { kind: "create_node_table", name: `N${n}`,
                                    properties: "id INT64\\nname STRING" });
  if (!r.ok) { refusal = { name: r.name, message: r.message.slice(0, 300) }; break; }
  created = n;
}
const end = (await reply("status")).value;
const schema = await reply("schema");
return { created, refusal, seconds: (performance.now() - t0) / 1000,
         announced: start.capacity, at_end: end.capacity, memory_bytes: end.memory_bytes,
         catalog_readable: schema.ok, workspace: name };
"""

CAPACITY_RAW_JS = """
const { openWorkspace } = await import("/web/js/workspace.mjs");
const ws = await openWorkspace(args[0]);
let created = 0, error = null;
for (let n = 1; n < 10000; n++) {
  try {
    await ws.execute(`CREATE NODE TABLE N${n}(id INT64, name STRING, PRIMARY KEY(id))`);
    created = n;
  } catch (e) { error = String(e && e.message || e).slice(0, 300); break; }
}
let readable = true, after = null;
try { await ws.query("CALL show_tables() RETURN *"); } catch (e) {
  readable = false; after = String(e && e.message || e).slice(0, 200);
}
const memory = await ws.memory().catch(() => null);
await ws.close();
return { created, error, catalog_readable: readable, catalog_error: after, memory };
"""

STALL_PROBE_JS = """
window.stall = { last: performance.now(), max: 0, ticks: 0 };
window.stallProbe = setInterval(() => {
  const now = performance.now();
  stall.max = Math.max(stall.max, now - stall.last);
  stall.last = now;
  stall.ticks += 1;
}, 20);
"""


def open_demo(driver: Any, url: str, workspace: str, timeout_s: float = 600) -> None:
    from selenium.webdriver.common.by import By

    driver.set_window_size(1400, 1000)
    driver.get(f"{url}/web/index.html?workspace={workspace}")
    deadline = time.monotonic() + timeout_s
    while driver.find_element(By.ID, "ws-state").get_attribute("data-state") != "ready":
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo page did not open workspace {workspace!r}")
        time.sleep(0.5)


def capacity(url: str, new_browser: Callable[[str], Any], run_js: Callable[..., Any]) -> dict:
    driver = new_browser("capacity")
    try:
        name = f"capacity-{uuid.uuid4().hex[:6]}"
        open_demo(driver, url, name)
        page = run_js(driver, CAPACITY_PAGE_JS, name)
        driver.get(f"{url}/bench.html")
        raw = run_js(driver, CAPACITY_RAW_JS, f"raw-{uuid.uuid4().hex[:6]}")
    finally:
        driver.quit()
    return {
        "page_node_tables": page["created"],
        "page_refusal": page["refusal"],
        "page_announced_limit": (page["announced"] or {}).get("node_table_limit"),
        "page_limited_by": (page["announced"] or {}).get("limited_by"),
        "page_catalog_readable_when_full": page["catalog_readable"],
        "page_seconds": round(page["seconds"], 1),
        "raw_kuzu_node_tables": raw["created"],
        "raw_kuzu_error": raw["error"],
        "raw_catalog_readable_when_full": raw["catalog_readable"],
        "raw_catalog_error": raw["catalog_error"],
        "page_over_raw": round(page["created"] / raw["created"], 3) if raw["created"] else None,
    }


def stall(url: str, events: int, new_browser: Callable[[str], Any]) -> dict:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = new_browser("stall")
    try:
        open_demo(driver, url, f"stall-{uuid.uuid4().hex[:6]}")
        select = Select(driver.find_element(By.ID, "memory-events"))
        if str(events) not in [o.get_attribute("value") for o in select.options]:
            driver.execute_script(
                "const o = document.createElement('option');"
                " o.value = o.textContent = arguments[0];"
                " document.getElementById('memory-events').append(o);",
                str(events),
            )
        select.select_by_value(str(events))
        driver.execute_script(STALL_PROBE_JS)
        t0 = driver.execute_script("return performance.now();")
        driver.find_element(By.ID, "memory-run").click()
        field = driver.find_element(By.ID, "f-name")
        typed, answers, slowest = 0, 0, 0.0
        while driver.find_element(By.TAG_NAME, "body").get_attribute("data-busy") not in (
            None,
            "0",
        ):
            # the page takes input meanwhile: a key typed, read back at once
            w0 = time.perf_counter()
            field.send_keys("x")
            typed += 1
            answers += driver.execute_script("return arguments[0].value.length;", field) == typed
            slowest = max(slowest, time.perf_counter() - w0)
            time.sleep(0.5)
        seconds = (driver.execute_script("return performance.now();") - t0) / 1000
        probe = driver.execute_script("clearInterval(window.stallProbe); return window.stall;")
        result = driver.find_elements(By.ID, "memory-result")
        errors = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#error-list li")]
        return {
            "events": events,
            "replayed": int(result[0].get_attribute("data-events")) if result else None,
            "call_seconds": round(seconds, 1),
            "longest_main_thread_stall_ms": round(probe["max"]),
            "timer_ticks": probe["ticks"],
            "keys_typed_and_read_back": f"{answers}/{typed}",
            "slowest_key_round_trip_ms": round(slowest * 1000),
            "page_says": result[0].text if result else None,
            "errors": errors,
        }
    finally:
        driver.quit()
