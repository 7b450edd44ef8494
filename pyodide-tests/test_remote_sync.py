"""Two browser profiles attached to one served log (issue 18's Done-when).

Two headless Chromium instances, each with its own ``--user-data-dir`` (so its
own IndexedDB), open the demo page with ``?server=URL&log=team`` against a real
``schemalog serve`` process started here (an NDJSON folder, CORS for the
page's origin). Everything is the user's path: the change form, the page's
EventSource wake-ups and sync rounds (pkg/schemalog/browser/attach.py).

1. A change made in one page appears in the other.
2. The service is stopped: both pages say offline (role=status); both make
   conflicting changes (Person renamed to two names, a property added to City
   on each side); each keeps its two records waiting.
3. The service comes back on the same folder and port: both converge to the
   same schema hash, the same log position and the same Kuzu catalog (read from
   each page's kuzu-wasm database, columns in order), with the rename conflict
   decided by a Merge event that both logs hold.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from selenium.webdriver.common.by import By

from conftest import CHROME_FLAGS, ROOT, save_screenshot
from test_demo_page import change, diagnostics, no_errors, wait

sys.path.insert(0, str(ROOT / "tests"))
from served import Service

pytestmark = pytest.mark.page

WAIT = 120


@pytest.fixture
def service(tmp_path: Path, site_url: str) -> Iterator[Service]:
    parts = urlsplit(site_url)
    svc = Service(str(tmp_path / "served"), ("--cors", f"{parts.scheme}://{parts.netloc}"))
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def _browser(profile: str) -> Any:
    import os
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as Driver

    options = webdriver.ChromeOptions()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    path = os.environ.get("SE_CHROMEDRIVER") or shutil.which("chromedriver")
    driver = webdriver.Chrome(options=options, service=Driver(executable_path=path))
    driver.set_script_timeout(WAIT)
    driver.set_window_size(1400, 1000)
    return driver


@pytest.fixture
def two() -> Iterator[tuple[Any, Any]]:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        first = _browser(a)
        try:
            second = _browser(b)
            try:
                yield first, second
            finally:
                second.quit()
        finally:
            first.quit()


def remote(driver: Any) -> dict[str, str | None]:
    el = driver.find_element(By.ID, "ws-remote")
    keys = ("state", "pending", "agreed")
    return {k: el.get_attribute(f"data-{k}") for k in keys} | {"text": el.text}


def body(driver: Any, key: str) -> str | None:
    return driver.find_element(By.TAG_NAME, "body").get_attribute(f"data-{key}")


def py(driver: Any, method: str, **args: Any) -> Any:
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.schemalog.py(arguments[0], arguments[1]).then(done,"
        " (e) => done({error: String(e && e.message || e)}));",
        method,
        args,
    )


def open_attached(driver: Any, site_url: str, service: Service) -> None:
    query = f"?server={quote(service.url, safe='')}&log=team"
    driver.get(f"{site_url}/web/index.html{query}")
    wait(driver, "attached and online", lambda d: remote(d)["state"] == "online", WAIT)
    assert driver.find_element(By.ID, "ws-remote").get_attribute("role") == "status"
    no_errors(driver)


def in_step(a: Any, b: Any) -> bool:
    ra, rb = remote(a), remote(b)
    return (
        ra["state"] == rb["state"] == "online"
        and ra["pending"] == rb["pending"] == "0"
        and ra["agreed"] == rb["agreed"] == body(a, "position") == body(b, "position")
        and body(a, "hash") == body(b, "hash")
    )


def test_two_profiles_converge_through_a_served_log(
    two: tuple[Any, Any], site_url: str, service: Service
) -> None:
    a, b = two
    try:
        open_attached(a, site_url, service)
        open_attached(b, site_url, service)

        # 1. live: a change in A appears in B
        change(a, "create_node_table", **{"f-name": "Person", "f-properties": "id INT64"})
        change(a, "create_node_table", **{"f-name": "City", "f-properties": "id INT64"})
        wait(b, "A's tables in B", lambda d: in_step(a, b) and body(b, "position") == "2", WAIT)
        assert py(b, "status")["tables"] == ["City", "Person"]

        # 2. offline: both make conflicting changes
        service.stop()
        for d in (a, b):
            wait(d, "offline shown", lambda d: remote(d)["state"] == "offline", WAIT)
        change(a, "rename_table", **{"f-table": "Person", "f-new-name": "Human"})
        change(a, "add_property", **{"f-table": "City", "f-properties": "zip STRING"})
        change(b, "rename_table", **{"f-table": "Person", "f-new-name": "People"})
        change(b, "add_property", **{"f-table": "City", "f-properties": "country STRING"})
        for d in (a, b):
            wait(d, "two writes waiting", lambda d: remote(d)["pending"] == "2", WAIT)
            assert "offline" in remote(d)["text"], remote(d)
            no_errors(d)
        assert body(a, "hash") != body(b, "hash")

        # 3. back: both converge
        service.start()
        wait(
            a,
            "both in step again",
            lambda d: in_step(a, b) and int(body(a, "position") or 0) >= 7,
            WAIT,
        )
        no_errors(a)
        no_errors(b)
        cat_a, cat_b = py(a, "catalog"), py(b, "catalog")
        assert cat_a == cat_b, (cat_a, cat_b)
        names = sorted(t["name"] for t in cat_a["node_tables"])
        assert names in (["City", "Human"], ["City", "People"]), cat_a
        city = next(t for t in cat_a["node_tables"] if t["name"] == "City")
        assert sorted(p["name"] for p in city["properties"]) == ["country", "id", "zip"]
        keys = ("key", "events", "winner", "resolved_by")
        found = [[{k: c[k] for k in keys} for c in py(d, "conflicts")["conflicts"]] for d in (a, b)]
        assert found[0] == found[1], found
        assert any(c["resolved_by"] for c in found[0]), "the rename conflict has its Merge event"
    except BaseException:
        save_screenshot(a, "remote-sync-a")
        save_screenshot(b, "remote-sync-b")
        print(diagnostics(a), diagnostics(b), sep="\n----\n")
        raise
