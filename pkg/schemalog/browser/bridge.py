"""Pyodide's JS bridge, as the browser adapters use it (kuzu-wasm, IndexedDB, Web Locks).

Imported only by those adapters, and ``js``/``pyodide`` only inside its
functions, so importing it anywhere is harmless. Whether we run in Pyodide at
all is ``_compat.IN_PYODIDE``'s business; this module is *how* to talk to JS
once we do.

Sync versus async (measured, pyodide-tests/test_run_sync_facts.py):

* Every browser adapter is written async first: its methods await the JS
  shim's promises. That works in every runtime Pyodide runs in.
* The ports (``KuzuBackend``, ``EventStore``) are synchronous. ``blocking``
  makes an awaitable synchronous with ``pyodide.ffi.run_sync`` (JSPI, WebAssembly
  stack switching). In Chromium 156 it works when the Python stack was entered
  through a promising entry point (``pyodide.runPythonAsync``, an async Python
  function called from JS, ``pyFunc.callPromising()``); under plain
  ``runPython`` it raises "Cannot stack switch because the Python entrypoint
  was a synchronous function". Node 20 has no stack switching at all
  ("WebAssembly stack switching not supported in this JavaScript runtime").
  ``blocking`` turns both into ``SyncBridgeUnavailable`` with the way out.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from schemalog.errors import SchemalogError

__all__ = [
    "SyncBridgeUnavailable",
    "blocking",
    "can_block",
    "import_module",
    "js_error_info",
    "js_object",
]

T = TypeVar("T")


class SyncBridgeUnavailable(SchemalogError):
    """A synchronous wrapper was called where JSPI cannot suspend the Python stack."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            "a synchronous call into the browser needs JSPI and a promising entry point "
            "(pyodide.runPythonAsync, an async Python function called from JS, or "
            f"callPromising); use the async adapter instead. ({reason})"
        )


def can_block() -> bool:
    """True when ``blocking`` can suspend here (JSPI present, promising entry point)."""
    try:
        from pyodide.ffi import can_run_sync
    except ImportError:
        return False
    return bool(can_run_sync())


def blocking(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` synchronously (``pyodide.ffi.run_sync``)."""
    try:
        from pyodide.ffi import can_run_sync, run_sync
    except ImportError as exc:
        _close(awaitable)
        raise SyncBridgeUnavailable("not running in Pyodide") from exc
    if not can_run_sync():
        _close(awaitable)
        raise SyncBridgeUnavailable(
            "pyodide.ffi.can_run_sync() is False: no WebAssembly stack switching in this "
            "runtime, or the Python stack was entered through a synchronous call"
        )
    result: T = run_sync(awaitable)
    return result


def _close(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)  # a never-awaited coroutine: no warning
    if callable(close):
        close()


async def import_module(url: str) -> Any:
    """``await import(url)`` of an ES module; relative URLs resolve against the page."""
    from pyodide.code import run_js

    return await run_js(
        f"import(new URL({json.dumps(url)}, globalThis.location?.href ?? 'file:///').href)"
    )


def js_object(value: dict[str, Any]) -> Any:
    """A plain JS object (not a Map) from a dict of JSON-like values."""
    import js
    from pyodide.ffi import to_js

    return to_js(value, dict_converter=js.Object.fromEntries)


def js_error_info(exc: BaseException) -> dict[str, Any]:
    """name, message and the extra fields the shims put on their errors (kind,
    statement, workspace, crashed, ...) of a rejected JS promise."""
    info: dict[str, Any] = {
        "name": str(getattr(exc, "name", type(exc).__name__)),
        "message": str(getattr(exc, "message", exc)),
    }
    for key in (
        "kind",
        "statement",
        "workspace",
        "crashed",
        "token",
        "newest",
        "expected",
        "actual",
        "store",
        "resource",
        "usage",
        "quota",
        "reason",
        "holder",
    ):
        try:
            value = getattr(exc, key)
        except Exception:  # a JsProxy raises AttributeError for a missing field
            continue
        if value is None or type(value).__name__ in ("JsNull", "JsUndefined"):
            continue
        info[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
    return info
