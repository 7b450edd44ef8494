"""The JupyterLite site (`./build.sh lite`, served at build/site/lite): the
tour notebook opens in JupyterLab in headless Chromium, the Pyodide kernel
(loaded from the site's own distribution, no CDN, no PyPI) runs every cell,
and every cell prints exactly what the same code prints here in CPython -- the
package behaves the same in both. What a cell must show is in its metadata
(``"schemalog": {"expect": [regex...], "svg": n, "portable": false}``), which
the reader never sees: the outputs carry no test markers."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import time
import types
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

import schemalog
from conftest import ROOT, SITE, save_screenshot

pytestmark = pytest.mark.page

NOTEBOOK = "schemalog-tour.ipynb"
SOURCE = ROOT / "lite" / "files" / NOTEBOOK
LITE = ROOT / "build" / "lite"

KERNEL_START_S = 240  # first start: Pyodide, then ipython & co. from the lock
RUN_ALL_S = 420

# One snapshot of the open notebook, read from JupyterLab's models (not the
# DOM: the notebook renders lazily and may not draw cells off screen).
NOTEBOOK_STATE_JS = """
const app = window.jupyterapp;
if (!app) return {stage: "no app yet"};
const panel = app.shell.currentWidget;
if (!panel || !panel.content || !panel.content.model || !panel.sessionContext)
    return {stage: "no notebook yet"};
const session = panel.sessionContext.session;
const kernel = session && session.kernel;
const cells = [];
const model = panel.content.model;
for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    if (cell.type !== "code") continue;
    cells.push({index: i, count: cell.executionCount, source: cell.sharedModel.getSource(),
                outputs: cell.outputs.toJSON(), metadata: cell.sharedModel.getMetadata()});
}
return {stage: "notebook", path: panel.context.path, kernel: kernel ? kernel.name : null,
        status: kernel ? kernel.status : null, cells: cells};
"""


# Where the kernel's Python came from, asked of the kernel itself.
PROVENANCE_PY = """
import json, micropip, pyodide_js, piplite.piplite as pp
print("PROVENANCE " + json.dumps({
    "index_url": pyodide_js._api.config.indexURL,
    "sources": {name: p.source for name, p in micropip.list().items()},
    "pypi_disabled": pp._PIPLITE_DISABLE_PYPI,
}))
"""

JSPI_PY = """
from pyodide.ffi import can_run_sync, run_sync
from pyodide.code import run_js
print("JSPI", can_run_sync(), run_sync(run_js("new Promise(r => setTimeout(() => r(42), 5))")))
"""

SCROLL_TO_CELL_JS = """
const notebook = window.jupyterapp.shell.currentWidget.content;
notebook.activeCellIndex = arguments[0];
if (notebook.scrollToItem) notebook.scrollToItem(arguments[0], "start");
else notebook.widgets[arguments[0]].node.scrollIntoView();
"""

RUN_IN_KERNEL_JS = """
const done = arguments[arguments.length - 1];
const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
const future = kernel.requestExecute({code: arguments[0], silent: false, store_history: false});
const out = [];
future.onIOPub = (msg) => {
    const c = msg.content;
    if (c.text) out.push(c.text);
    if (c.ename) out.push(`${c.ename}: ${c.evalue}`);
};
future.done.then(() => done(out.join("")), (e) => done(`failed: ${e}`));
"""


BROWSER_ONLY = "browser-only"  # cell tag: needs the browser (kuzu-wasm in a Worker)


def is_browser_only(cell: dict[str, Any]) -> bool:
    return BROWSER_ONLY in cell.get("metadata", {}).get("tags", [])


def checks(cell: dict[str, Any]) -> dict[str, Any]:
    """What the cell must show: its ``schemalog`` metadata (never shown to the reader)."""
    return dict(cell.get("metadata", {}).get("schemalog", {}))


def expected(cell: dict[str, Any]) -> list[re.Pattern[str]]:
    version = re.escape(schemalog.__version__)
    patterns = checks(cell).get("expect", [])
    return [re.compile(p.replace("{version}", version), re.M) for p in patterns]


def is_portable(cell: dict[str, Any]) -> bool:
    """Prints the same in CPython: not browser-only, no shell/magic line, not marked otherwise."""
    source = "".join(cell["source"])
    magic = any(line.lstrip().startswith(("%", "!")) for line in source.splitlines())
    return not is_browser_only(cell) and not magic and checks(cell).get("portable", True)


def ipython_display_stub() -> dict[str, types.ModuleType]:
    """IPython.display for CPython runs without IPython: display() prints text/plain."""
    try:
        import IPython.display  # noqa: F401

        return {}
    except ImportError:
        pass
    display_mod = types.ModuleType("IPython.display")

    class SVG:
        def __init__(self, data: str) -> None:
            self.data = data

        def __repr__(self) -> str:
            return "<IPython.core.display.SVG object>"

    display_mod.SVG = SVG  # type: ignore[attr-defined]
    display_mod.display = lambda *objs: None  # type: ignore[attr-defined]  # draws nothing here
    root = types.ModuleType("IPython")
    root.display = display_mod  # type: ignore[attr-defined]
    return {"IPython": root, "IPython.display": display_mod}


def cpython_outputs() -> dict[int, str]:
    """What each code cell of the notebook prints (stdout) run in CPython, by cell
    index: the `%pip` lines and the cells tagged browser-only (the kuzu-wasm
    workspace) are left out; ``display`` draws nothing here."""
    notebook = json.loads(SOURCE.read_text())
    namespace: dict[str, Any] = {"__name__": "__notebook__"}
    outputs: dict[int, str] = {}
    with mock.patch.dict(sys.modules, ipython_display_stub()):
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] != "code" or is_browser_only(cell):
                continue
            source = "".join(
                line for line in cell["source"] if not line.lstrip().startswith(("%", "!"))
            )
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(source, f"<{NOTEBOOK} cell {index}>", "exec"), namespace)
            outputs[index] = out.getvalue()
    return outputs


def stdout_of(cell: dict[str, Any]) -> str:
    """A cell's printed text in the browser (its stdout stream outputs, in order)."""
    return "".join(
        output_text(o)
        for o in cell["outputs"]
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def output_text(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
    elif kind in ("execute_result", "display_data"):
        text = output.get("data", {}).get("text/plain", "")
    elif kind == "error":
        text = f"{output.get('ename')}: {output.get('evalue')}"
    else:
        text = ""
    return "".join(text) if isinstance(text, list) else str(text)


def describe(state: dict[str, Any] | None, driver: Any) -> str:
    """Everything worth reading when the notebook did not do what it should."""
    lines = [
        f"notebook state: stage={state and state.get('stage')} "
        f"kernel={state and state.get('kernel')} status={state and state.get('status')}"
    ]
    for cell in (state or {}).get("cells", []):
        lines.append(f"--- cell {cell['index']} [{cell['count']}]: {cell['source'][:60]!r}")
        lines += ["    " + line for o in cell["outputs"] for line in output_text(o).splitlines()]
    lines.append("--- browser console:")
    try:
        lines += [f"    {e['level']} {e['message']}" for e in driver.get_log("browser")]
    except Exception as exc:  # the log is a bonus, never the failure
        lines.append(f"    (no console log: {exc})")
    return "\n".join(lines)


def wait_for(driver: Any, timeout: float, what: str, ok: Callable[[dict[str, Any]], bool]) -> dict:
    state: dict[str, Any] | None = None

    def poll(d: Any) -> dict[str, Any] | bool:
        nonlocal state
        state = d.execute_script(NOTEBOOK_STATE_JS)
        return state if ok(state) else False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=1).until(poll)
    except TimeoutException:
        save_screenshot(driver, "notebook-timeout")
        pytest.fail(f"timed out after {timeout}s waiting for {what}\n{describe(state, driver)}")


@pytest.fixture(scope="module")
def lite_url(site_url: str) -> str:
    if not (LITE / "jupyter-lite.json").exists() or not (SITE / "lite").exists():
        subprocess.run([str(ROOT / "build.sh"), "lite"], check=True, cwd=ROOT)
    return f"{site_url}/lite"


def test_the_notebook_in_cpython_shows_what_its_cells_expect() -> None:
    """The portable cells' expectations hold in CPython too, and no cell prints a
    test marker (the browser test compares every portable cell with this run)."""
    cells = json.loads(SOURCE.read_text())["cells"]
    outputs = cpython_outputs()
    for index, printed in outputs.items():
        assert not re.search(r"^RESULT", printed, re.M), (index, printed)
        if is_portable(cells[index]):
            for pattern in expected(cells[index]):
                assert pattern.search(printed), (index, pattern.pattern, printed)
    assert sum(len(expected(cells[i])) for i in outputs if is_portable(cells[i])) >= 12


def test_lite_site_uses_the_local_pyodide_without_pypi(lite_url: str) -> None:
    config = json.loads((LITE / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    assert kernel["pyodideUrl"] == "./static/pyodide/pyodide.mjs"
    assert kernel["disablePyPIFallback"] is True
    lock = json.loads((LITE / "static" / "pyodide" / "pyodide-lock.json").read_text())
    packages = lock["packages"]
    for name in ("kuzu-schemalog", "ipython", "jedi", "comm", "traitlets", "micropip"):
        shipped = LITE / "static" / "pyodide" / packages[name]["file_name"]
        assert shipped.exists(), f"{name}: {shipped.name} is named by the lock but not shipped"
    assert packages["kuzu-schemalog"]["version"] == schemalog.__version__


def test_tour_notebook_runs_in_jupyterlite(chrome: Any, lite_url: str) -> None:
    chrome.set_window_size(1400, 1800)
    chrome.get(f"{lite_url}/lab/index.html?path={NOTEBOOK}")

    state = wait_for(
        chrome,
        KERNEL_START_S,
        "the notebook to open with an idle Pyodide kernel",
        lambda s: s.get("stage") == "notebook" and s.get("status") == "idle",
    )
    assert state["path"] == NOTEBOOK

    started = time.monotonic()
    chrome.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")

    def finished(s: dict[str, Any]) -> bool:
        cells = s.get("cells", [])
        if any(o.get("output_type") == "error" for c in cells for o in c["outputs"]):
            return True  # stop early, the asserts below say which cell failed
        return (
            s.get("status") == "idle" and bool(cells) and all(c["count"] is not None for c in cells)
        )

    state = wait_for(chrome, RUN_ALL_S, "every cell to run", finished)
    elapsed = time.monotonic() - started
    save_screenshot(chrome, "notebook-tour")

    errors = [
        (c["index"], output_text(o))
        for c in state["cells"]
        for o in c["outputs"]
        if o.get("output_type") == "error"
    ]
    assert not errors, f"cells raised: {errors}\n{describe(state, chrome)}"

    text = "\n".join(output_text(o) for c in state["cells"] for o in c["outputs"])
    print(f"run all cells: {elapsed:.1f}s")
    # no test markers for the reader: what the tests need is in the cells' metadata
    assert not re.search(r"^RESULT", text, re.M), describe(state, chrome)
    source = json.loads(SOURCE.read_text())["cells"]
    here = cpython_outputs()
    checked = 0
    for cell in state["cells"]:
        index, printed = cell["index"], stdout_of(cell)
        model = source[index]
        for pattern in expected(model):
            assert pattern.search(printed), (
                f"cell {index} does not show {pattern.pattern!r}\n{describe(state, chrome)}"
            )
            checked += 1
        svgs = [o for o in cell["outputs"] if "image/svg+xml" in o.get("data", {})]
        assert len(svgs) == checks(model).get("svg", 0), f"cell {index}: {len(svgs)} SVG drawings"
        # Same code, same output: the browser prints what CPython prints, hashes included.
        if is_portable(model):
            assert printed == here[index], f"cell {index}:\n{printed}\n--- CPython:\n{here[index]}"
    assert checked >= 15, checked  # the metadata was read (a renamed key checks nothing)
    jspi = [line for line in text.splitlines() if "JSPI" in line or "can_block" in line]
    print("JSPI in the kernel:", *jspi, sep="\n  ")
    check_provenance(chrome, lite_url)
    # JSPI in the kernel: a cell without any await may block on a JS promise too
    # (the kernel runs every cell from an async Python function called from JS).
    probe = chrome.execute_async_script(RUN_IN_KERNEL_JS, JSPI_PY)
    assert "JSPI True 42" in probe, probe
    for index, cell in enumerate(source):
        name = checks(cell).get("screenshot")
        if not name:
            continue
        chrome.execute_script(SCROLL_TO_CELL_JS, index)
        time.sleep(1)
        save_screenshot(chrome, name)
    assert "emscripten" in text, "the notebook did not run under Pyodide"


def check_provenance(driver: Any, lite_url: str) -> None:
    """Pyodide came from the site, our package from the site's lock, and
    nothing from PyPI or a CDN (piplite's PyPI fallback is off)."""
    out = driver.execute_async_script(RUN_IN_KERNEL_JS, PROVENANCE_PY)
    line = next((x for x in out.splitlines() if x.startswith("PROVENANCE ")), None)
    assert line, f"no provenance from the kernel: {out!r}"
    facts = json.loads(line.removeprefix("PROVENANCE "))
    assert facts["index_url"] == f"{lite_url}/static/pyodide/", facts
    assert facts["pypi_disabled"] is True, facts
    sources = facts["sources"]
    assert sources.get("kuzu-schemalog") == "pyodide", sources  # the site's lock file
    # "pyodide": the lock; "pypi": piplite's index in the site; else a site URL
    foreign = {
        n: s
        for n, s in sources.items()
        if s not in ("pyodide", "pypi") and not s.startswith(lite_url)
    }
    assert not foreign, f"packages from outside the site: {foreign}"
    page = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith(location.origin));"
    )
    assert not page, f"the page fetched from elsewhere: {page}"
