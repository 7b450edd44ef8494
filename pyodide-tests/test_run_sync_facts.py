"""What `pyodide.ffi.run_sync` (JSPI) does in our runtimes: the facts the
synchronous wrappers of the browser adapters rest on.

* Chromium 156: a Python call entered through a promising entry point
  (`runPythonAsync`, `callPromising`; pytest-pyodide's run_in_pyodide uses
  runPythonAsync) can block on a JS promise with `run_sync`; entered through
  plain `runPython` it cannot (`can_run_sync()` is False).
* Node 20: no WebAssembly stack switching at all; `run_sync` raises
  RuntimeError, so the synchronous wrappers are unavailable and only the
  async adapters work there.
"""

from pytest_pyodide import run_in_pyodide

SCRIPT = """
from pyodide.ffi import can_run_sync, run_sync
from pyodide.code import run_js
out = {"can": can_run_sync()}
try:
    out["value"] = run_sync(run_js("new Promise(r => setTimeout(() => r(42), 5))"))
except BaseException as e:
    out["error"] = f"{type(e).__name__}: {e}"
repr(out)
"""


@run_in_pyodide
def _probe(selenium):
    from pyodide.code import run_js
    from pyodide.ffi import can_run_sync, run_sync

    out = {"can": can_run_sync()}
    try:
        out["value"] = run_sync(run_js("new Promise(r => setTimeout(() => r(42), 5))"))
    except RuntimeError as e:
        out["error"] = str(e)
    return out


def test_run_sync_under_a_promising_entry_point(selenium):
    out = _probe(selenium)
    if selenium.browser == "chrome":
        assert out == {"can": True, "value": 42}
    else:
        assert out["can"] is False
        assert "stack switching not supported" in out["error"]


def test_run_sync_under_plain_run_python_is_refused(selenium):
    out = selenium.run_js(f"return pyodide.runPython({SCRIPT!r});")
    assert out.startswith("{'can': False")
    if selenium.browser == "chrome":
        assert "the Python entrypoint was a synchronous function" in out
    else:  # Node 20: refused for the more basic reason
        assert "stack switching not supported" in out
