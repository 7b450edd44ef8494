"""The kuzu-wasm adapter (schemalog.browser.kuzu_wasm) inside Pyodide in Chromium:
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

    from schemalog.browser.kuzu_wasm import SyncKuzuBackend

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


# kuzu-wasm 0.11.3 hands DECIMAL values to JS as Numbers (doubles): a
# DECIMAL(38, 10) loses every digit past the 17th at the JS boundary, inside
# the worker, before our JSON. The stored value is exact (see
# test_decimal_is_exact_when_cast_to_string). Strict: passes -> the fix landed.
DECIMAL_AT_JS_BOUNDARY = pytest.mark.xfail(
    strict=True, reason="kuzu-wasm 0.11.3 converts DECIMAL to a JS Number (double)"
)


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(m, marks=DECIMAL_AT_JS_BOUNDARY)
        if m == "test_defaults_print_back_as_rendered"
        else m
        for m in _contract_methods()
    ],
)
def test_backend_contract_in_pyodide(selenium, method):
    _run_contract_method(selenium, CONTRACT_SOURCE, method)


@run_in_pyodide(packages=["kuzu-schemalog"])
async def test_decimal_is_exact_when_cast_to_string(selenium):
    from schemalog.browser.kuzu_wasm import WasmKuzuBackend

    backend = await WasmKuzuBackend.open("decimal")
    try:
        text = "1234567890123456789012345678.0123456789"
        rows = await backend.query(f"RETURN CAST(CAST('{text}' AS DECIMAL(38, 10)) AS STRING) AS s")
        assert rows == [{"s": text}]
    finally:
        await backend.close()


@run_in_pyodide(packages=["kuzu-schemalog"])
async def test_two_workspaces_through_the_python_adapter(selenium):
    import time

    from schemalog.browser.kuzu_wasm import WasmKuzuBackend

    started = time.perf_counter()
    alpha = await WasmKuzuBackend.open("py-alpha")
    opened_ms = (time.perf_counter() - started) * 1000
    beta = await WasmKuzuBackend.open("py-beta")
    try:
        await alpha.execute(
            [
                "CREATE NODE TABLE Person(id INT64, PRIMARY KEY(id))",
                "CREATE REL TABLE Knows(FROM Person TO Person)",
            ]
        )
        await beta.execute(["CREATE NODE TABLE Invoice(id STRING, PRIMARY KEY(id))"])
        assert (await alpha.catalog()).table_names == {"Person", "Knows"}
        assert (await beta.catalog()).table_names == {"Invoice"}
        assert alpha.capacity().node_tables_created == 1
        assert beta.capacity().node_tables_created == 1
        assert (await alpha.memory())["wasmBytes"] > 0
        print(f"workspace open: {opened_ms:.0f} ms")
    finally:
        await alpha.close()
        await beta.close()


@run_in_pyodide(packages=["kuzu-schemalog"])
async def test_workspace_full_is_refused_before_kuzu_and_restart_reclaims(selenium):
    from schemalog.browser.kuzu_wasm import WasmKuzuBackend, WorkspaceFull

    mib = 1024 * 1024
    backend = await WasmKuzuBackend.open("small", buffer_pool_bytes=8 * mib)
    try:
        assert backend.capacity().node_table_limit == 7
        await backend.execute(
            [f"CREATE NODE TABLE T{i}(id INT64, PRIMARY KEY(id))" for i in range(4)]
        )
        assert backend.capacity().node_tables_left == 1  # 7 - 4 - the 2 MiB write reserve
        await backend.execute(["DROP TABLE T0", "DROP TABLE T1"])  # gives nothing back
        assert backend.capacity().node_tables_left == 0  # writes spend pool too (rounded up)
        batch = [
            "CREATE REL TABLE R(FROM T2 TO T3)",
            "CREATE NODE TABLE T4(id INT64, PRIMARY KEY(id))",
            "/* a comment */ create node table T5(id INT64, PRIMARY KEY(id))",
        ]
        try:
            await backend.execute(batch)
        except WorkspaceFull as exc:
            assert exc.index == 1 and exc.reason == "buffer pool"
            assert exc.capacity.node_tables_created == 4
            assert "Workspace full" in str(exc)
        else:
            raise AssertionError("a node table past the bound was not refused")
        # nothing of the refused batch was sent
        assert (await backend.catalog()).table_names == {"T2", "T3"}
        await backend.execute(batch[:1])  # writes may use the reserve: a full workspace can work
        # kuzu itself fails a little past our bound (P - 1 node tables in all): we stop first
        taken = 0
        for i in range(6, 12):
            try:
                await backend._ws.execute(f"CREATE NODE TABLE T{i}(id INT64, PRIMARY KEY(id))")
            except Exception as exc:
                assert "Buffer manager exception" in str(exc)
                break
            taken += 1
        else:
            raise AssertionError("kuzu-wasm took 6 node tables past our bound")
        assert taken == 7 - 4, taken
        assert backend.state == "ready"
        # a fresh database (what the log rebuild does) has the room again
        await backend.restart()
        assert backend.capacity().node_tables_created == 0
        await backend.execute(
            [f"CREATE NODE TABLE U{i}(id INT64, PRIMARY KEY(id))" for i in range(7 - 2)]
        )
        memory_limited = WasmKuzuBackend(
            backend._ws, buffer_pool_bytes=64 * mib, memory_limit_bytes=backend.memory_bytes + 1
        )
        try:
            await memory_limited.execute(["CREATE NODE TABLE M(id INT64, PRIMARY KEY(id))"])
        except WorkspaceFull as exc:
            assert exc.reason == "memory"
        else:
            raise AssertionError("the memory bound did not refuse")
    finally:
        await backend.close()
