"""Fixtures of the browser tests: one headless Chromium per module, a fresh context per test
that blocks (and counts) every request leaving 127.0.0.1 and collects console errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    async_playwright,
)

from tests.web.support import CHROMIUM, CHROMIUM_ARGS, HostServer, browser_missing


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = browser_missing()
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    """A second loopback origin for arrays and audio (real CORS, counted bytes)."""
    with HostServer() as server:
        yield server


@dataclass
class Watched:
    """A page plus what it did: console errors, uncaught errors, blocked outside requests."""

    page: Page
    context: BrowserContext
    console_errors: list[str] = field(default_factory=list)
    failed_loads: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def _outside(url: str) -> bool:
    return not (url.startswith("http://127.0.0.1:") or url.startswith("ws://127.0.0.1:")) and not (
        url.startswith(("data:", "blob:", "about:"))
    )


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    result = Watched(page=page, context=context)

    async def block(route: Route) -> None:
        result.blocked.append(route.request.url)
        await route.abort()

    await context.route(_outside, block)

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource"):
            # the browser's own note of an HTTP error or refused connection (a 404 array, an
            # aggregator that is down): the page must say it in place, which tests check
            result.failed_loads.append(message.location.get("url", ""))
        else:
            result.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: result.page_errors.append(str(e)))

    async def on_dialog(dialog: object) -> None:
        result.dialogs.append(getattr(dialog, "message", ""))
        await dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", on_dialog)
    try:
        yield result
    finally:
        await context.close()
