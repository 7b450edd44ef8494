"""The demo page loads Pyodide from the local distribution and installs our
wheel with micropip; asserted on what the page shows, as a user sees it."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import schemalog
from conftest import save_screenshot


@pytest.mark.page
def test_demo_page_shows_pyodide_loaded_our_package(chrome, site_url):
    chrome.get(f"{site_url}/web/index.html")
    WebDriverWait(chrome, 120).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") != "starting"
    )
    save_screenshot(chrome, "demo-page-loaded")
    status = chrome.find_element(By.ID, "status")
    assert status.get_attribute("data-state") == "ready", chrome.find_element(By.ID, "error").text
    assert chrome.find_element(By.ID, "package-version").text == schemalog.__version__
    assert chrome.find_element(By.ID, "python-version").text.startswith("3.14")
