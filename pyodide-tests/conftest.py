"""Shared set-up of the tests that run inside Pyodide (pytest-pyodide) and of
the tests that drive our own pages in headless Chromium (selenium).

`./build.sh test` runs this folder twice: `--runtime chrome` and
`--runtime node`. Tests marked `page` need a DOM and Workers: they are
deselected (and counted as such by pytest) under Node; tests marked
`node_only` need Node's file system and are deselected under Chromium.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_pyodide import get_global_config

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "build" / "site"
ARTIFACTS = ROOT / "test-artifacts"
sys.path.insert(0, str(ROOT / "tools"))

# Debian's Chromium, started as root on a machine without a network or GPU.
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--js-flags=--expose-gc",
]
get_global_config().set_flags("chrome", CHROME_FLAGS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "page: drives one of our pages in Chromium (needs a DOM)")
    config.addinivalue_line("markers", "node_only: needs Node's file system (NODEFS)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # deselected (pytest counts them so), never skipped: each runs in the other suite
    other = "node_only" if config.getoption("runtime", "node") == "chrome" else "page"
    deselected = [item for item in items if item.get_closest_marker(other)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


@pytest.fixture(scope="session")
def site_url() -> Iterator[str]:
    """Base URL of build/site (web/, the Pyodide distribution, kuzu-wasm)."""
    from devserver import serve_in_thread

    if not (SITE / "pyodide" / "pyodide-lock.json").exists():
        pytest.fail(f"{SITE} is not built: run ./build.sh build first")
    server, url = serve_in_thread(SITE)
    yield url
    server.shutdown()


@pytest.fixture
def chrome() -> Iterator[object]:
    """A fresh headless Chromium driven by selenium (Debian's chromedriver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = os.environ.get("SE_CHROMEDRIVER") or shutil.which("chromedriver")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_script_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def save_screenshot(driver: object, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path
