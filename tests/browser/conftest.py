"""The real server in headless Chromium (Debian's /usr/bin/chromium driven by Playwright)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from _browser import CHROMIUM, Server, launch  # noqa: E402  (the scripts' server start-up and browser launch)


@pytest.fixture(scope="session")
def server():
    with Server(log=ROOT / "test-output" / "streamlit-server.log") as srv:  # RuntimeError if it never starts
        yield srv.url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium not found at {CHROMIUM}: the README's test command installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()
