"""The package imports in CPython and reports the version the wheel carries."""

import importlib.metadata
import re

import schemalog


def test_version_matches_distribution_metadata() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", schemalog.__version__)
    assert importlib.metadata.version("kuzu-schemalog") == schemalog.__version__
