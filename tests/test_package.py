"""The package imports in CPython and reports the version the wheel carries."""

import importlib.metadata
import re

import schemalog


def test_version_matches_distribution_metadata() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", schemalog.__version__)
    assert importlib.metadata.version("kuzu-schemalog") == schemalog.__version__


def test_public_names_are_the_adapters_and_facade_a_user_constructs() -> None:
    from schemalog.kuzu.native import NativeKuzuBackend
    from schemalog.log.lease.file import FileLeaseStore
    from schemalog.log.store.ndjson import NdjsonStore

    assert schemalog.NativeKuzuBackend is NativeKuzuBackend
    assert schemalog.NdjsonStore is NdjsonStore
    assert schemalog.FileLeaseStore is FileLeaseStore
    for name in schemalog.__all__:
        assert hasattr(schemalog, name), name


def test_importing_the_package_imports_no_engine() -> None:
    import subprocess
    import sys

    code = "import sys, schemalog; print('kuzu' in sys.modules, 'js' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
