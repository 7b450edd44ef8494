"""The one module that knows whether we run inside Pyodide (micropip's ``_compat`` pattern).

Everything else asks here instead of importing ``js``/``pyodide`` itself. The
only runtime difference the package cares about is how to read memory: the
tracer uses ``tracemalloc`` in CPython and the size of the WebAssembly heap
in Pyodide, which ``tracemalloc`` cannot see (it grows, never shrinks, and
includes the interpreter and every loaded package).
"""

from __future__ import annotations

import sys

__all__ = ["IN_PYODIDE", "wasm_heap_bytes"]

# Pyodide is CPython compiled by Emscripten; that platform tag is how micropip tells too.
IN_PYODIDE: bool = sys.platform == "emscripten"


def wasm_heap_bytes() -> int | None:
    """Current size of the WebAssembly linear memory in bytes; None outside Pyodide.

    Reads ``Module.HEAP8.length`` of the running Pyodide (the Emscripten module
    reassigns ``HEAP8`` whenever the memory grows, so this is the live size).
    ``pyodide_js`` is imported lazily, only when running in Pyodide.
    """
    if not IN_PYODIDE:
        return None
    try:
        import pyodide_js  # type: ignore[import-not-found]

        return int(pyodide_js._module.HEAP8.length)
    except Exception:  # an older or stripped runtime: no probe rather than a crash
        return None
