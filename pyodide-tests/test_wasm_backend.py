"""The kuzu-wasm adapter (schemalog.backends.kuzu_wasm) inside Pyodide in Chromium:
the same BackendContract as the native adapter (tests/backend_contract.py, run
through the JSPI sync wrapper), two workspaces kept apart, the size bound."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.page  # Workers and JSPI: Chromium only

CONTRACT = Path(__file__).resolve().parent.parent / "tests" / "backend_contract.py"
CONTRACT_SOURCE = CONTRACT.read_text(encoding="utf-8")


def _contract_methods() -> list[str]:
    tree = ast.parse(CONTRACT_SOURCE)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "BackendContract")
    return [
        n.name for n in cls.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    ]


@run_in_pyodide(packages=["kuzu-schemalog"])
async def _run_contract_method(selenium, source, method):
    import types

    from schemalog.backends.kuzu_wasm import SyncKuzuBackend

    module = types.ModuleType("backend_contract")
    exec(compile(source, "backend_contract.py", "exec"), module.__dict__)
    made = []

    class TestWasm(module.BackendContract):
        def make_backend(self):
            made.append(SyncKuzuBackend.open(f"contract-{method}-{len(made)}"))
            return made[-1]

    try:
        getattr(TestWasm(), method)()
    finally:
        for backend in made:
            await backend.backend.close()


@pytest.mark.parametrize("method", _contract_methods())
def test_backend_contract_in_pyodide(selenium, method):
    _run_contract_method(selenium, CONTRACT_SOURCE, method)
