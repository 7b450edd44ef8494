"""The demo page (web/index.html) driven as a user would: typing and clicking
in headless Chromium, asserting on what the page shows. Everything runs the
real path: Pyodide + our wheel, a kuzu-wasm worker, the IndexedDB log."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import save_screenshot

T = TypeVar("T")

pytestmark = pytest.mark.page

WAIT = 120


def diagnostics(driver: Any) -> str:
    try:
        panel = driver.find_element(By.ID, "error").text
    except Exception as exc:  # the page may be gone
        panel = f"(no error panel: {exc})"
    try:
        console = "\n".join(f"{e['level']} {e['message']}" for e in driver.get_log("browser"))
    except Exception:
        console = "(no console log)"
    return f"error panel:\n{panel}\nconsole:\n{console}"


def wait(driver: Any, what: str, cond: Any, timeout: float = WAIT) -> Any:
    try:
        return WebDriverWait(
            driver,
            timeout,
            poll_frequency=0.1,
            ignored_exceptions=(StaleElementReferenceException,),
        ).until(cond)
    except Exception as exc:
        raise AssertionError(f"waiting for {what}: {exc!r}\n{diagnostics(driver)}") from None


def idle(driver: Any) -> None:
    wait(
        driver,
        "the page to finish",
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-busy") in (None, "0"),
    )


def errors(driver: Any) -> list[str]:
    return [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#error-list li")]


def no_errors(driver: Any) -> None:
    found = errors(driver)
    assert not found, diagnostics(driver)


def click(driver: Any, element_id: str) -> None:
    el = driver.find_element(By.ID, element_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    wait(driver, f"#{element_id} enabled", lambda d: el.is_enabled())
    el.click()
    idle(driver)


def type_into(driver: Any, element_id: str, text: str) -> None:
    el = driver.find_element(By.ID, element_id)
    el.clear()
    if text:
        el.send_keys(text)


def choose(driver: Any, element_id: str, value: str) -> None:
    Select(driver.find_element(By.ID, element_id)).select_by_value(value)


def open_page(driver: Any, site_url: str, workspace: str, query: str = "") -> None:
    driver.set_window_size(1400, 1000)
    driver.get(f"{site_url}/web/index.html{query}")
    wait(
        driver,
        "Python ready",
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") != "starting",
    )
    assert driver.find_element(By.ID, "status").get_attribute("data-state") == "ready", diagnostics(
        driver
    )
    type_into(driver, "ws-name", workspace)
    click(driver, "ws-open")
    wait(
        driver,
        "the workspace open",
        lambda d: d.find_element(By.ID, "ws-state").get_attribute("data-state") == "ready",
    )
    no_errors(driver)


def change(driver: Any, kind: str, **fields: str) -> None:
    choose(driver, "change-kind", kind)
    for key, value in fields.items():
        el = driver.find_element(By.ID, key)
        if el.tag_name == "select":
            Select(el).select_by_value(value)
        else:
            type_into(driver, key, value)
    click(driver, "change-apply")


def graph_nodes(driver: Any) -> list[str]:
    return sorted(
        g.get_attribute("data-name") for g in driver.find_elements(By.CSS_SELECTOR, "#graph g.node")
    )


def graph_rels(driver: Any) -> list[tuple[str, str, str]]:
    return sorted(
        (g.get_attribute("data-name"), g.get_attribute("data-from"), g.get_attribute("data-to"))
        for g in driver.find_elements(By.CSS_SELECTOR, "#graph g.rel")
    )


def log_rows(driver: Any) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#log-table tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def reread(read: Callable[[], T], attempts: int = 5) -> T:
    """``read()`` again when the page re-rendered what it was reading (a sync or a
    live merge redraws the log between finding an element and reading it)."""
    for _ in range(attempts - 1):
        try:
            return read()
        except StaleElementReferenceException:
            time.sleep(0.2)
    return read()


def log_conflicts(driver: Any) -> list[dict[str, str]]:
    """The page's list of the conflicts recorded in the workspace's log."""
    return reread(
        lambda: [
            {
                "kind": li.get_attribute("data-kind"),
                "state": li.get_attribute("data-state"),
                "winner": li.get_attribute("data-winner"),
                "resolved_by": li.get_attribute("data-resolved-by"),
                "text": li.text,
            }
            for li in driver.find_elements(By.CSS_SELECTOR, "#log-conflicts li")
        ]
    )


def screenshot(driver: Any, name: str) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(1400, min(int(height) + 120, 6000))
    save_screenshot(driver, name)
    driver.set_window_size(1400, 1000)


def test_demo_page_as_a_user(chrome, site_url):
    d = chrome
    name = f"demo-{uuid.uuid4().hex[:8]}"
    open_page(d, site_url, name)

    # two node tables and a rel table through the form
    change(
        d,
        "create_node_table",
        **{"f-name": "Person", "f-properties": "id INT64\nname STRING", "f-pk": "id"},
    )
    change(
        d,
        "create_node_table",
        **{"f-name": "City", "f-properties": "code STRING\npopulation INT64", "f-pk": "code"},
    )
    no_errors(d)
    choose(d, "change-kind", "create_rel_table")
    type_into(d, "f-name", "LivesIn")
    ends = d.find_elements(By.CSS_SELECTOR, "#f-pairs .pair select")
    Select(ends[0]).select_by_value("Person")
    Select(ends[1]).select_by_value("City")
    type_into(d, "f-properties", "since DATE")
    click(d, "change-apply")
    no_errors(d)
    wait(
        d,
        "three tables in the graph",
        lambda d: graph_nodes(d) == ["City", "Person"] and graph_rels(d),
    )
    assert graph_rels(d) == [("LivesIn", "Person", "City")]
    props = [
        t.text
        for t in d.find_elements(By.CSS_SELECTOR, "#graph g.node[data-name='Person'] text.prop")
    ]
    assert any("id: INT64" in p for p in props) and any("name: STRING" in p for p in props)
    rows = log_rows(d)
    assert [r[2] for r in rows] == ["create_node_table", "create_node_table", "create_rel_table"]
    assert rows[2][3].startswith("LivesIn [Person->City]")
    assert all(r[4].startswith("sha256-v2:") for r in rows)  # record format v2
    assert d.find_element(By.ID, "ws-position").text == "3"
    assert "more fit (limited by buffer pool" in d.find_element(By.ID, "ws-capacity").text
    assert "MiB" in d.find_element(By.ID, "ws-memory").text

    # a change the schema rejects shows in the error panel
    change(d, "drop_table", **{"f-table": "City"})
    wait(d, "the rejection in the page", lambda d: errors(d))
    assert "table-referenced" in errors(d)[0] and "City" in errors(d)[0], errors(d)
    assert d.find_element(By.ID, "ws-position").text == "3"
    click(d, "error-clear")

    # more history: a rename (breaks BACKWARD), a property, a comment; then paging
    change(d, "add_property", **{"f-table": "Person", "f-properties": "age INT32"})
    change(d, "rename_table", **{"f-table": "City", "f-new-name": "Town"})
    change(d, "comment", **{"f-table": "Person", "f-comment": "people we know"})
    no_errors(d)
    assert graph_rels(d) == [("LivesIn", "Person", "Town")]
    choose(d, "log-limit", "5")
    wait(d, "page 1 of the log", lambda d: len(log_rows(d)) == 5)
    click(d, "log-next")
    wait(d, "page 2 of the log", lambda d: [r[0] for r in log_rows(d)] == ["5"])
    assert log_rows(d)[0][2] == "comment_on_table"
    click(d, "log-prev")
    wait(d, "back on page 1", lambda d: [r[0] for r in log_rows(d)] == ["0", "1", "2", "3", "4"])
    assert log_rows(d)[4][3] == "City -> Town"
    screenshot(d, "demo-schema-and-log")

    # compatibility: the rename breaks BACKWARD between 0..head
    type_into(d, "compat-old", "3")
    choose(d, "compat-mode", "BACKWARD")
    click(d, "compat-run")
    no_errors(d)
    rules = [
        li.get_attribute("data-rule")
        for li in d.find_elements(By.CSS_SELECTOR, "#compat-findings li")
    ]
    assert "TABLE_RENAMED" in rules, d.find_element(By.ID, "compat-output").text
    assert d.find_element(By.ID, "compat-verdict").get_attribute("data-compatible") == "false"

    # metrics: plots with points
    click(d, "metrics-run")
    no_errors(d)
    charts = d.find_elements(By.CSS_SELECTOR, "#metrics-charts svg.line-chart")
    assert len(charts) >= 3
    assert len(charts[0].find_elements(By.CSS_SELECTOR, "circle.point")) >= 2
    assert d.find_elements(By.CSS_SELECTOR, "#metrics-charts rect.bar")

    # replay trace: summary and a download link
    click(d, "trace-run")
    no_errors(d)
    assert "6 events applied" in d.find_element(By.ID, "trace-summary").text
    link = d.find_element(By.ID, "trace-download")
    assert link.is_displayed() and link.get_attribute("href").startswith("blob:")
    trace = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then((r) => r.json())"
        ".then((j) => done(j.traceEvents.length), (e) => done(String(e)));",
        link.get_attribute("href"),
    )
    assert isinstance(trace, int) and trace > 0, trace

    # conflict: the second writer drops Person while this tab renames it; drop-wins
    choose(d, "conflict-table", "Person")
    choose(d, "conflict-remote", "drop")
    choose(d, "conflict-strategy", "drop-wins")
    click(d, "conflict-run")
    no_errors(d)
    items = d.find_elements(By.CSS_SELECTOR, "#conflict-list li")
    assert [li.get_attribute("data-kind") for li in items] == ["rename-drop"]
    assert "second writer (writer-2) wins" in items[0].text
    resolution = d.find_element(By.ID, "conflict-resolution").text
    assert resolution.startswith("Merged schema:"), resolution
    # lww: the later writer (the second one) wins a rename-rename
    choose(d, "conflict-remote", "rename")
    choose(d, "conflict-strategy", "lww")
    click(d, "conflict-run")
    items = d.find_elements(By.CSS_SELECTOR, "#conflict-list li")
    assert [li.get_attribute("data-kind") for li in items] == ["rename-rename"]
    assert "Person_there" in d.find_element(By.ID, "conflict-resolution").text
    screenshot(d, "demo-conflict-compat-metrics")
    click(d, "conflict-adopt")
    no_errors(d)
    wait(d, "the adopted rename in the graph", lambda d: "Person_there" in graph_nodes(d))
    # adopting wrote both concurrent renames and the Merge event of the resolution
    adopted = d.find_element(By.ID, "conflict-adopted")
    assert adopted.get_attribute("data-resolutions") == "1", adopted.text
    assert d.find_element(By.ID, "ws-position").text == "9"
    [recorded] = log_conflicts(d)
    assert recorded["kind"] == "rename-rename" and recorded["state"] == "resolved"
    assert "second writer" in recorded["text"] and "wins (Merge event merge-" in recorded["text"]
    choose(d, "log-limit", "25")
    wait(d, "the whole log on one page", lambda d: len(log_rows(d)) == 9)
    assert [r[2] for r in log_rows(d)[6:]] == ["rename_table", "rename_table", "merge"]
    assert log_rows(d)[8][1] == recorded["resolved_by"]
    # each row by the names of its own time (both renames were made on Person)
    assert sorted(r[3] for r in log_rows(d)[6:8]) == [
        "Person -> Person_here",
        "Person -> Person_there",
    ]
    assert (
        log_rows(d)[8][3]
        == "rename-rename: 'Person -> Person_there' won over 'Person -> Person_here'"
    )

    # tamper: flip a byte of record 2 in IndexedDB; verification names it
    type_into(d, "tamper-position", "2")
    click(d, "tamper-run")
    no_errors(d)
    verdict = d.find_element(By.ID, "tamper-verdict")
    assert verdict.get_attribute("data-ok") == "false"
    assert verdict.get_attribute("data-position") == "2"
    assert "record 2" in verdict.text and "event " in verdict.text, verdict.text
    screenshot(d, "demo-tamper")
    click(d, "tamper-restore")
    assert "verification passed" in d.find_element(By.ID, "tamper-output").text

    # memory: a small synthetic log replayed in 32 MiB chunks, heap growth shown
    choose(d, "memory-events", "2000")
    click(d, "memory-run")
    no_errors(d)
    result = d.find_element(By.ID, "memory-result")
    assert result.get_attribute("data-events") == "2000"
    assert "WebAssembly heap" in result.text
    assert len(d.find_elements(By.CSS_SELECTOR, "#memory-output rect.bar")) == 4
    screenshot(d, "demo-page")


def test_two_windows_converge_live(chrome, site_url):
    d = chrome
    name = f"live-{uuid.uuid4().hex[:8]}"
    open_page(d, site_url, name)
    first = d.current_window_handle
    change(d, "create_node_table", **{"f-name": "Person", "f-properties": "id INT64", "f-pk": "id"})
    d.switch_to.new_window("window")
    second = d.current_window_handle
    open_page(d, site_url, name)
    assert graph_nodes(d) == ["Person"]

    # a change in the first window appears in the second, no click there
    d.switch_to.window(first)
    change(
        d, "create_node_table", **{"f-name": "Invoice", "f-properties": "no INT64", "f-pk": "no"}
    )
    no_errors(d)
    hash_first = d.find_element(By.ID, "ws-hash").text
    d.switch_to.window(second)
    wait(d, "live sync in the second window", lambda d: graph_nodes(d) == ["Invoice", "Person"], 60)
    wait(d, "the same hash", lambda d: d.find_element(By.ID, "ws-hash").text == hash_first, 30)
    assert "in sync with" in d.find_element(By.ID, "ws-live").text

    # and back: the second window's change reaches the first
    choose(d, "change-kind", "create_rel_table")
    type_into(d, "f-name", "Bills")
    ends = d.find_elements(By.CSS_SELECTOR, "#f-pairs .pair select")
    Select(ends[0]).select_by_value("Invoice")
    Select(ends[1]).select_by_value("Person")
    click(d, "change-apply")
    no_errors(d)
    hash_second = d.find_element(By.ID, "ws-hash").text
    screenshot(d, "demo-live-second-window")
    d.switch_to.window(first)
    wait(
        d,
        "the rel table in the first window",
        lambda d: graph_rels(d) == [("Bills", "Invoice", "Person")],
        60,
    )
    wait(d, "the same hash", lambda d: d.find_element(By.ID, "ws-hash").text == hash_second, 30)
    time.sleep(0.2)
    no_errors(d)
    screenshot(d, "demo-live-first-window")

    # the first window adopts a simulated conflict (lww): the second shows the live merge
    assert log_conflicts(d) == []
    choose(d, "conflict-table", "Invoice")
    choose(d, "conflict-remote", "rename")
    choose(d, "conflict-strategy", "lww")
    click(d, "conflict-run")
    click(d, "conflict-adopt")
    no_errors(d)
    wait(d, "the merge in the first window", lambda d: len(log_conflicts(d)) == 1)
    [here] = log_conflicts(d)
    assert here["state"] == "resolved" and here["resolved_by"].startswith("merge-")
    hash_merged = d.find_element(By.ID, "ws-hash").text
    assert "Invoice_there" in graph_nodes(d)
    d.switch_to.window(second)
    wait(d, "the live merge in the second window", lambda d: len(log_conflicts(d)) == 1, 60)
    wait(d, "the merged hash", lambda d: d.find_element(By.ID, "ws-hash").text == hash_merged, 30)
    [there] = log_conflicts(d)
    assert (there["kind"], there["winner"], there["resolved_by"]) == (
        "rename-rename",
        here["winner"],
        here["resolved_by"],
    )
    assert "Invoice_there" in graph_nodes(d)
    assert d.find_element(By.ID, "ws-conflicts").get_attribute("data-count") == "1"
    no_errors(d)
    screenshot(d, "demo-live-merge-second-window")


def test_demo_page_ddl_editor(chrome, site_url):
    """Cypher DDL typed into the editor: recorded, applied to kuzu-wasm, drawn; a text
    the schema refuses shows its line and rule and records nothing."""
    d = chrome
    open_page(d, site_url, f"ddl-{uuid.uuid4().hex[:8]}")
    type_into(
        d,
        "ddl-text",
        "// people and places\n"
        "CREATE NODE TABLE Person (id INT64, name STRING, PRIMARY KEY (id));\n"
        "create node table `City` (code STRING PRIMARY KEY);\n"
        "CREATE REL TABLE LivesIn (FROM Person TO City, since DATE, many_one);\n"
        "MATCH (n) RETURN n;",
    )
    click(d, "ddl-skip")  # a checkbox: click() waits until the page is idle
    click(d, "ddl-record")
    no_errors(d)
    wait(
        d,
        "three events",
        lambda d: d.find_element(By.ID, "ddl-result").get_attribute("data-events") == "3",
    )
    assert "skipped MATCH" in d.find_element(By.ID, "ddl-result").text
    wait(d, "the graph", lambda d: graph_rels(d) == [("LivesIn", "Person", "City")])
    assert graph_nodes(d) == ["City", "Person"]
    assert d.find_element(By.ID, "ws-position").text == "3"

    type_into(d, "ddl-text", "ALTER TABLE Person ADD age INT8;\nDROP TABLE City;")
    click(d, "ddl-record")
    wait(d, "the refusal in the page", lambda d: errors(d))
    (message,) = errors(d)
    assert "DdlError" in message and "table-referenced" in message and "line 2" in message
    assert d.find_element(By.ID, "ws-position").text == "3"  # nothing of the text recorded
    screenshot(d, "demo-ddl-editor")
