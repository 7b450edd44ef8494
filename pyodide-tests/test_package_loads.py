"""Our wheel, registered in the local Pyodide lock, loads inside Pyodide."""

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["kuzu-schemalog"])
def test_wheel_imports_and_reports_its_version(selenium):
    import importlib.metadata
    import sys

    import schemalog

    assert sys.platform == "emscripten"
    assert importlib.metadata.version("kuzu-schemalog") == schemalog.__version__
    assert "site-packages" in schemalog.__file__
