"""The demo page's log names every row as of its own time (issue 19), in
headless Chromium through the real page: two windows rename one table
concurrently (window 2 holds window 1's BroadcastChannel news, so it writes on
the view it has, as a tab does that has not heard yet), then the log of both
windows, and of window 1 after a reload, reads each rename by the name its
writer saw ("Item -> ItemB", never "ItemA -> ItemB"), the Merge row and the
conflict list name both sides, property changes read by property names, and
a long name is cut with an ellipsis and kept whole in the cell's tooltip."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from conftest import save_screenshot
from test_demo_page import change, log_conflicts, no_errors, open_page, reread, wait

pytestmark = pytest.mark.page

# Injected before the page's own scripts (CDP): every BroadcastChannel message
# waits while window.__hold is true; window.__release() delivers what waited.
HOLD_NEWS_JS = """
(() => {
  const desc = Object.getOwnPropertyDescriptor(BroadcastChannel.prototype, "onmessage");
  window.__hold = false;
  window.__held = [];
  Object.defineProperty(BroadcastChannel.prototype, "onmessage", {
    configurable: true,
    get() { return desc.get.call(this); },
    set(fn) {
      const channel = this;
      desc.set.call(this, fn && ((event) => {
        if (window.__hold) window.__held.push(() => fn.call(channel, event));
        else fn.call(channel, event);
      }));
    },
  });
  window.__release = () => {
    window.__hold = false;
    const held = window.__held.splice(0);
    held.forEach((deliver) => deliver());
    return held.length;
  };
})();
"""


def summaries(driver: Any) -> list[str]:
    """The summary column of the log table, whole (textContent: not cut by the ellipsis)."""
    return reread(
        lambda: [
            td.get_attribute("textContent")
            for td in driver.find_elements(By.CSS_SELECTOR, "#log-table tbody tr td:nth-child(4)")
        ]
    )


def test_concurrent_renames_read_by_their_own_past_in_both_windows_and_after_a_reload(
    chrome, site_url
):
    d = chrome
    name = f"names-{uuid.uuid4().hex[:8]}"
    open_page(d, site_url, name)
    first = d.current_window_handle
    change(
        d,
        "create_node_table",
        **{"f-name": "Item", "f-properties": "id INT64\nname STRING", "f-pk": "id"},
    )
    no_errors(d)
    d.switch_to.new_window("window")
    second = d.current_window_handle
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOLD_NEWS_JS})
    open_page(d, site_url, name)
    assert summaries(d) == ["Item(id INT64 PK, name STRING)"]
    d.execute_script("window.__hold = true;")  # window 2 has not heard of what comes next

    d.switch_to.window(first)
    change(d, "rename_table", **{"f-table": "Item", "f-new-name": "ItemA"})
    no_errors(d)
    d.switch_to.window(second)
    wait(d, "window 1's news held", lambda d: d.execute_script("return window.__held.length") > 0)
    # window 2 still shows Item: its rename is concurrent with window 1's
    change(d, "rename_table", **{"f-table": "Item", "f-new-name": "ItemB"})
    no_errors(d)
    result = d.find_element(By.ID, "change-result")
    assert result.get_attribute("data-conflicts") == "1", result.text
    assert "Item -> ItemB" in result.text and "ItemA -> ItemB" not in result.text
    d.execute_script("return window.__release();")

    expected = [
        "Item(id INT64 PK, name STRING)",
        "Item -> ItemA",
        "Item -> ItemB",  # named by the view its writer had, not by the log's order
        "rename-rename: 'Item -> ItemB' won over 'Item -> ItemA'",  # the tab's lww
    ]
    for w in (second, first):
        d.switch_to.window(w)
        wait(d, "both renames and the merge in the log", lambda d: summaries(d) == expected, 60)
        [c] = log_conflicts(d)
        assert c["kind"] == "rename-rename" and c["state"] == "resolved"
        assert "on table 'Item'" in c["text"], c["text"]
        assert "Item -> ItemA" in c["text"] and "Item -> ItemB" in c["text"], c["text"]
        assert "@" not in c["text"].split("(Merge event")[0], c["text"]  # no ids

    # property changes by property names, on the merged name
    d.switch_to.window(first)
    change(
        d, "rename_property", **{"f-table": "ItemB", "f-property": "name", "f-new-name": "label"}
    )
    long_name = "L" * 128
    change(
        d, "create_node_table", **{"f-name": long_name, "f-properties": "id INT64", "f-pk": "id"}
    )
    no_errors(d)
    expected += ["ItemB.name -> label", f"{long_name}(id INT64 PK)"]
    wait(d, "the property rename in the log", lambda d: summaries(d) == expected, 30)
    cell = d.find_elements(By.CSS_SELECTOR, "#log-table tbody tr td:nth-child(4)")[-1]
    assert cell.get_attribute("title") == f"{long_name}(id INT64 PK)"
    # cut with an ellipsis inside its column: the page does not scroll sideways
    assert d.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth;", cell)
    assert d.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth;"
    )
    save_screenshot(d, "demo-names-window-1")

    # a reload: the page reads the same log and names every row the same way
    d.refresh()
    open_page(d, site_url, name)
    wait(d, "the log after a reload", lambda d: summaries(d) == expected, 30)
    [c] = log_conflicts(d)
    assert "on table 'Item'" in c["text"], c["text"]
    d.switch_to.window(second)
    wait(d, "window 2 in sync", lambda d: summaries(d) == expected, 60)
    save_screenshot(d, "demo-names-window-2")
