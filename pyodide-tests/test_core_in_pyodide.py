"""The pure core's own CPython tests, run unchanged inside Pyodide.

The golden vectors (tests/test_golden.py) are checked byte for byte by the
same test module in CPython and here, in Chromium and in Node: one encoder,
one byte form, whatever the runtime. So are the DDL reader's
(tests/test_ddl_parse.py).
"""

from pathlib import Path

from pytest_pyodide import run_in_pyodide
from pytest_pyodide.decorator import copy_files_to_pyodide

TESTS = Path(__file__).resolve().parent.parent / "tests"
CORE_TEST_FILES = ["test_golden.py", "test_ddl_parse.py"]


@copy_files_to_pyodide(
    file_list=[(str(TESTS / name), f"/core-tests/{name}") for name in CORE_TEST_FILES],
    install_wheels=False,
)
@run_in_pyodide(packages=["kuzu-schemalog", "pytest", "rfc8785"])
def test_golden_vectors_byte_for_byte_in_pyodide(selenium):
    import sys

    import pytest

    outcomes: dict[str, str] = {}

    class Collect:
        def pytest_runtest_logreport(self, report):
            if report.when == "call" or report.outcome != "passed":
                outcomes[report.nodeid] = report.outcome

    assert sys.platform == "emscripten"
    code = pytest.main(["-q", "-p", "no:cacheprovider", "/core-tests"], plugins=[Collect()])
    assert code == 0, outcomes
    assert outcomes and set(outcomes.values()) == {"passed"}, outcomes
    assert any("golden_vectors_byte_for_byte" in nodeid for nodeid in outcomes)
    # the DDL reader's tests too: record_cypher's parser is pure Python, the same here
    assert sum("test_ddl_parse.py" in nodeid for nodeid in outcomes) >= 40, outcomes
