"""The IndexedDB event store (schemalog.store.browser + web/js/idb-store.mjs)
inside Pyodide in Chromium: the same StoreContract as the memory and NDJSON
stores (tests/store_contract.py, through the JSPI sync wrapper), plus what only
a browser store has: a missing or evicted log, the quota error, two
connections (tabs) racing, and a page reload in the middle of appends."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.page  # IndexedDB and JSPI: Chromium only

CONTRACT_SOURCE = (
    Path(__file__).resolve().parent.parent / "tests" / "store_contract.py"
).read_text(encoding="utf-8")
# Hypothesis has no Pyodide wheel in our local distribution: inside Pyodide the
# contract's one @given test runs a fixed set of seeded examples instead.
HYPOTHESIS_STANDIN = """
import enum, random, sys, types
EXAMPLES = 6
hypothesis = types.ModuleType("hypothesis")
strategies = types.ModuleType("hypothesis.strategies")
class HealthCheck(enum.Enum):
    too_slow = 1
def settings(**_kw):
    return lambda f: f
def given(*strats):
    def deco(f):
        def run(self):
            for seed in range(EXAMPLES):
                r = random.Random(seed)
                f(self, *[s(r) for s in strats])
        run.__name__ = f.__name__
        return run
    return deco
strategies.integers = lambda lo, hi: (lambda r: r.randint(lo, hi))
strategies.lists = lambda elem, min_size=0, max_size=10: (
    lambda r: [elem(r) for _ in range(r.randint(min_size, max_size))])
hypothesis.HealthCheck, hypothesis.settings, hypothesis.given = HealthCheck, settings, given
hypothesis.strategies = strategies
sys.modules["hypothesis"] = hypothesis
sys.modules["hypothesis.strategies"] = strategies
"""


def _contract_methods() -> list[str]:
    tree = ast.parse(CONTRACT_SOURCE)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "StoreContract")
    return [
        n.name for n in cls.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    ]


@run_in_pyodide(packages=["kuzu-schemalog"])
async def _run_contract_method(selenium, standin, source, method):
    import types
    import uuid

    from schemalog.store.browser import BrowserStore

    exec(standin, {})
    module = types.ModuleType("store_contract")
    exec(compile(source, "store_contract.py", "exec"), module.__dict__)
    made = []

    class TestBrowser(module.StoreContract):
        def make_store(self):
            made.append(BrowserStore.open(f"contract-{method}-{uuid.uuid4().hex[:8]}"))
            return made[-1]

    try:
        getattr(TestBrowser(), method)()
    finally:
        for store in made:
            store.close()
            await BrowserStore.delete_async(store.log_name)


@pytest.mark.parametrize("method", _contract_methods())
def test_store_contract_in_pyodide(selenium, method):
    _run_contract_method(selenium, HYPOTHESIS_STANDIN, CONTRACT_SOURCE, method)
