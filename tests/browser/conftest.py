"""Fixtures for browser tests: one JupyterLab server per session, one Chromium page per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from jupyterlab_page import CHROMIUM, CHROMIUM_ARGS, JupyterLab, browser_available


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """JupyterLab on a free loopback port; kernels run agent_magic's offline demo model without delay."""
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("lab") / "root"
    root.mkdir()
    env = {"AGENT_MAGIC_DEMO_DELAY": "0", "AGENT_MAGIC_HOME": str(root.parent / ".agent")}
    server = JupyterLab(root, env=env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser).

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running in the main thread
    while it lives, and every later test that calls asyncio.run() would fail if it outlived this folder.
    """
    reason = browser_available()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object) -> Iterator[object]:
    """A fresh page (its own browser context) at a readable size."""
    context = chromium.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    yield page
    context.close()
