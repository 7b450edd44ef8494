"""The tour notebook attached to a real served log (issue 18).

The notebook's "Attached to a served log" cell attaches its synchronous
workspace (``tour-sync``) to ``{SERVER}/logs/tour-sync`` through
``schemalog.browser.attach.Attachment`` when ``SERVER`` is set; as shipped it
is ``None`` and the cell says "not attached". Here a real ``schemalog serve``
(an NDJSON folder, CORS for the site's origin) is started, the open notebook's
``SERVER = None`` line is set to its URL in JupyterLab's model (what a reader
does: edit the cell, run all), and then:

1. the notebook's two changes (Item, Shop) reach the served log: read from
   CPython over HTTP, the log verifies (``schemalog verify URL``) and its
   events, named by ``history.naming``, are the notebook's two creations;
2. a record written to the served log from CPython (a third table) appears
   in the notebook's workspace -- its schema and kuzu-wasm's catalog -- after
   one more sync round run in the kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, save_screenshot
from test_notebook import (
    KERNEL_START_S,
    NOTEBOOK,
    RUN_ALL_S,
    RUN_IN_KERNEL_JS,
    describe,
    lite_url,  # noqa: F401  (fixture)
    output_text,
    stdout_of,
    wait_for,
)

sys.path.insert(0, str(ROOT / "tests"))
from schemalog import SchemaLog
from schemalog.history.naming import name_events
from schemalog.log.store.http import HttpStore
from schemalog.model.events import Event
from served import Service

pytestmark = pytest.mark.page

UNSET = "SERVER = None"
LOG = "tour-sync"  # the cell attaches to {SERVER}/logs/tour-sync

# Sets the source of the one code cell that starts with ``SERVER = None``;
# returns how many cells matched (the test needs exactly one).
SET_SERVER_JS = """
const model = window.jupyterapp.shell.currentWidget.content.model;
let found = 0;
for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    const source = cell.sharedModel.getSource();
    if (cell.type === "code" && source.startsWith(arguments[0])) {
        cell.sharedModel.setSource(arguments[1] + source.slice(arguments[0].length));
        found++;
    }
}
return found;
"""

SYNC_AGAIN_PY = """
done = attached.round()
print("ROUND", json.dumps({
    "state": attached.to_obj()["state"], "pushed": done.pushed, "pulled": done.pulled,
    "schema": sorted(t.name for t in ws.state.tables.values()),
    "catalog": sorted(t.name for t in ws.catalog().node_tables),
    "position": len(ws.store),
}))
"""


@pytest.fixture
def service(tmp_path: Path, site_url: str) -> Iterator[Service]:
    parts = urlsplit(site_url)
    svc = Service(str(tmp_path / "served"), ("--cors", f"{parts.scheme}://{parts.netloc}"))
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def served_events(service: Service) -> list[Any]:
    with HttpStore.open(service.log_url(LOG)) as store:
        return list(_events(store))


def _events(store: HttpStore) -> Iterator[Any]:
    after = None
    while True:
        page = store.read(after)
        if not page.records:
            return
        yield from (r.event for r in page.records)
        after = page.cursor


def test_the_notebook_attached_to_a_served_log(
    chrome: Any,
    lite_url: str,  # noqa: F811
    service: Service,
) -> None:
    chrome.set_window_size(1400, 1800)
    chrome.get(f"{lite_url}/lab/index.html?path={NOTEBOOK}")
    wait_for(
        chrome,
        KERNEL_START_S,
        "the notebook to open with an idle Pyodide kernel",
        lambda s: s.get("stage") == "notebook" and s.get("status") == "idle",
    )
    matched = chrome.execute_script(SET_SERVER_JS, UNSET, f"SERVER = {json.dumps(service.url)}")
    assert matched == 1, f"{matched} cells start with {UNSET!r}: the attach cell changed"

    chrome.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")

    def finished(s: dict[str, Any]) -> bool:
        cells = s.get("cells", [])
        if any(o.get("output_type") == "error" for c in cells for o in c["outputs"]):
            return True
        return (
            s.get("status") == "idle" and bool(cells) and all(c["count"] is not None for c in cells)
        )

    state = wait_for(chrome, RUN_ALL_S, "every cell to run", finished)
    try:
        errors = [
            (c["index"], output_text(o))
            for c in state["cells"]
            for o in c["outputs"]
            if o.get("output_type") == "error"
        ]
        assert not errors, f"cells raised: {errors}\n{describe(state, chrome)}"
        cell = next(c for c in state["cells"] if c["source"].startswith("SERVER = "))
        printed = stdout_of(cell)
        assert "served log: online - pushed 2 pulled 0" in printed, printed
        assert "tables: ['Item', 'Shop']" in printed, printed

        # 1. the notebook's changes are in the served log, intact
        verify = subprocess.run(
            [sys.executable, "-m", "schemalog", "verify", service.log_url(LOG)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verify.returncode == 0, verify.stderr
        assert f"{service.log_url(LOG)}: ok, 2 records" in verify.stdout, verify.stdout
        events = served_events(service)
        named = [n.text for n in name_events(events)]
        assert named == ["Item(sku STRING PK)", "Shop(name STRING PK)"], named
        assert {e.origin for e in events} == {"notebook"}, [e.origin for e in events]

        # 2. a record written from CPython reaches the notebook's workspace
        with HttpStore.open(service.log_url(LOG)) as store:
            here = SchemaLog(store, origin="cpython", workspace=events[0].workspace)
            written = here.create_node_table("Order", [("no", "INT64")], "no")
            assert isinstance(written, Event), written  # recorded, not Rejected
        out = chrome.execute_async_script(RUN_IN_KERNEL_JS, "import json\n" + SYNC_AGAIN_PY)
        line = next((x for x in out.splitlines() if x.startswith("ROUND ")), None)
        assert line, f"no sync round from the kernel: {out!r}"
        sync = json.loads(line.removeprefix("ROUND "))
        assert sync["state"] == "online" and sync["pulled"] == 1 and sync["pushed"] == 0, sync
        assert sync["schema"] == ["Item", "Order", "Shop"], sync
        # kuzu-wasm's own catalog (beside the workspace's bookkeeping table)
        user_tables = [name for name in sync["catalog"] if not name.startswith("_schemalog")]
        assert user_tables == ["Item", "Order", "Shop"], sync
        assert sync["position"] == 3, sync
    except BaseException:
        save_screenshot(chrome, "notebook-attached")
        raise
