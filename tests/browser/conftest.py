"""The browser of the browser tests: Debian's Chromium (``/usr/bin/chromium``,
installed by ``make test`` through scripts/tools.sh), driven by Playwright
headless. Playwright's own browser download is never used. Without Chromium
the tests are skipped (failed under ``make test``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need_tool

REPO = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped on purpose: Playwright's sync API keeps an event loop
    running in the main thread while it is open, and Prefect's sync calls in
    later test modules would then hand back coroutines."""
    chromium = need_tool("chromium", "Debian package chromium: scripts/tools.sh installs it")
    from playwright.sync_api import sync_playwright

    # Chromium's sandbox refuses to start as root (containers, CI).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True, args=args)
        yield launched
        launched.close()


@pytest.fixture
def screenshots() -> Path:
    """Where the tests leave their screenshots: $JITEV_SCREENSHOTS, or
    .test-artifacts/screenshots in the repository."""
    where = Path(os.environ.get("JITEV_SCREENSHOTS") or REPO / ".test-artifacts" / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where
