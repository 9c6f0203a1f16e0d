"""Browser tests: headless Chromium from the OS packages, driven by Playwright for Python,
against the local stack started on free ports (as the e2e tests do)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, sync_playwright

from tests.e2e.conftest import ADMIN_KEY, ROOT, RunningStack, start_stack

SCREENSHOTS = ROOT / "docs" / "screenshots"


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed: run scripts/ensure_chromium.sh (make test does) or set CHROMIUM_PATH")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    (ROOT / ".local").mkdir(exist_ok=True)
    running = start_stack()
    yield running
    running.client.close()
    running.other.close()
    running.stop()


@dataclass
class Traffic:
    """Every response the page received, with its body (for the secrets scan) and headers."""

    responses: list[tuple[str, int, dict[str, str], bytes]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def record(self, response: Response) -> None:
        try:
            body = response.body()
        except Exception:  # a redirect or an aborted request has no body to read
            body = b""
        self.responses.append((response.url, response.status, response.all_headers(), body))


@dataclass
class Console:
    page: Page
    stack: RunningStack
    traffic: Traffic

    @property
    def url(self) -> str:
        return f"{self.stack.api}/console/"

    def open(self) -> Console:
        self.page.goto(self.url)
        return self

    def sign_in(self, key: str = ADMIN_KEY) -> Console:
        self.page.get_by_label("API key", exact=True).fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("button", name="Sign out").wait_for()
        return self

    def bot_item(self, name: str):
        return self.page.locator("li.bot").filter(has=self.page.get_by_role("link", name=name, exact=True))

    def screenshot(self, name: str) -> None:
        if os.environ.get("SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS / f"{name}.png")), full_page=True)


@pytest.fixture
def console(browser: Browser, stack: RunningStack) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    traffic = Traffic()
    page.on("response", traffic.record)
    page.on("pageerror", lambda error: traffic.errors.append(str(error)))
    yield Console(page, stack, traffic)
    context.close()
