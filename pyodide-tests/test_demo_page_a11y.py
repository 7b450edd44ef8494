"""Accessibility of the demo page (issue 19): axe-core (npm, pinned in
package.json) run inside headless Chromium on the page with a workspace open
and every section filled; no serious or critical finding. Usable at 360 px
wide without sideways scrolling; the workspace opens from the keyboard alone."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, save_screenshot
from test_demo_page import change, click, open_page, wait

pytestmark = pytest.mark.page

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def axe_findings(driver: Any) -> list[dict[str, Any]]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run ./build.sh setup (npm ci installs axe-core)")
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
            .then((r) => done(r.violations.map((v) => ({ id: v.id, impact: v.impact,
                help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }))))
            .catch((e) => done([
                { id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));
        """
    )
    return result


def test_axe_finds_nothing_serious_on_the_working_page(chrome, site_url):
    driver = chrome
    open_page(driver, site_url, f"a11y-{uuid.uuid4().hex[:6]}")
    change(driver, "create_node_table", **{"f-name": "Person", "f-properties": "id INT64"})
    change(driver, "create_node_table", **{"f-name": "City", "f-properties": "id INT64"})
    click(driver, "conflict-run")
    click(driver, "compat-run")
    click(driver, "metrics-run")
    findings = axe_findings(driver)
    print("\naxe-core violations:", json.dumps(findings, indent=1))
    serious = [f for f in findings if f["impact"] in ("serious", "critical")]
    assert not serious, json.dumps(serious, indent=1)


def test_usable_at_360_px_without_sideways_scrolling(chrome, site_url):
    driver = chrome
    open_page(driver, site_url, f"narrow-{uuid.uuid4().hex[:6]}")
    change(driver, "create_node_table", **{"f-name": "P" + "x" * 127, "f-properties": "id INT64"})
    driver.set_window_size(360, 900)
    wait(driver, "the narrow layout", lambda d: d.execute_script("return innerWidth") <= 360)
    widths = driver.execute_script(
        "const e = document.documentElement;"
        "return {scroll: e.scrollWidth, client: e.clientWidth,"
        " wide: [...document.querySelectorAll('body *')]"
        "   .filter((n) => n.getBoundingClientRect().right > e.clientWidth + 1)"
        "   .slice(0, 8).map((n) => n.tagName + '#' + n.id + '.' + n.className)};"
    )
    save_screenshot(driver, "demo-page-360px")
    assert widths["scroll"] <= widths["client"], widths


def test_the_workspace_opens_from_the_keyboard(chrome, site_url):
    driver = chrome
    driver.set_window_size(1200, 900)
    driver.get(f"{site_url}/web/index.html")
    wait(
        driver,
        "Python ready",
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "ready",
    )
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)  # the first control of the page is the workspace field
    for _ in range(10):
        if driver.switch_to.active_element.get_attribute("id") == "ws-name":
            break
        driver.switch_to.active_element.send_keys(Keys.TAB)
    field = driver.switch_to.active_element
    assert field.get_attribute("id") == "ws-name"
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(f"keys-{uuid.uuid4().hex[:6]}", Keys.ENTER)
    wait(
        driver,
        "the workspace open",
        lambda d: d.find_element(By.ID, "ws-state").get_attribute("data-state") == "ready",
    )
