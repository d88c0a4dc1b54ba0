"""Fixtures for tests that drive JupyterLab in headless Chromium.

``lab`` is one JupyterLab server for the whole session (its root folder is ``lab.root_dir``;
quiz progress of its kernels goes to a temporary file, ``lab_progress``). ``browser`` is
Debian's Chromium (``/usr/bin/chromium``) started through Playwright, so no Playwright browser
download is needed; ``page`` is a fresh browser context and tab per test. The helpers to open a
notebook and run it are in ``jlab.py``:

    def test_something(lab, page):
        write_notebook(lab.root_dir / "demo.ipynb", "print('hi')")
        open_notebook(page, lab, "demo.ipynb")
        run_all_cells(page)
        assert "hi" in outputs(page).first.inner_text()
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from jlab import CHROMIUM, CHROMIUM_ARGS, Lab, start_lab, stop_lab

ARTIFACTS = Path(__file__).parent / "artifacts"  # screenshots; git-ignored


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium binary, or a skip that says how to install it."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install -y chromium")
    pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")
    return CHROMIUM


@pytest.fixture(scope="session")
def lab_progress(tmp_path_factory) -> Path:
    """The quiz progress file used by the kernels of the test server."""
    return tmp_path_factory.mktemp("progress") / "progress.json"


@pytest.fixture(scope="session")
def lab(chromium, tmp_path_factory, lab_progress) -> Iterator[Lab]:
    """A JupyterLab server for the session, stopped at the end."""
    server = start_lab(
        root_dir=tmp_path_factory.mktemp("lab-root"),
        state_dir=tmp_path_factory.mktemp("lab-state"),
        env={"COURSE_UTILS_PROGRESS": str(lab_progress), "COURSE_UTILS_LEARNER": "browser-test"},
    )
    yield server
    stop_lab(server)


@pytest.fixture(scope="session")
def browser(chromium):
    """Headless Chromium driven by Playwright for the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and tab, large enough to show a notebook and its outputs."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def artifacts() -> Path:
    """Where tests save screenshots for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
