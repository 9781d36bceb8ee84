"""Helpers of the dashboard's browser tests: Debian's Chromium driven by Playwright, an app
served over real HTTP, and screenshots kept out of the repository."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.support.stack import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Not committed (.gitignore); GOALFLOW_SCREENSHOTS puts them elsewhere.
SCREENSHOTS = Path(
    os.environ.get(
        "GOALFLOW_SCREENSHOTS", Path(__file__).resolve().parents[2] / ".goalflow-screenshots"
    )
)


# Reports every Content Security Policy violation of a page to its console. Playwright injects it
# through the DevTools protocol, so the page's own policy does not stop it.
_REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} blocked ${event.blockedURI}`);
});
"""


async def csp_violations(page: Page) -> list[str]:
    """A list that fills with the CSP violations the page reports from now on (the browser's own
    console errors about the policy, and the `securitypolicyviolation` events)."""
    found: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        text = message.text
        if text.startswith("CSP violation") or "Content Security Policy" in text:
            found.append(text)

    page.on("console", seen)
    await page.add_init_script(_REPORT_CSP)
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app on a loopback port for as long as the block runs; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def screenshot(page: Page, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)  # makes the folder
    print(f"screenshot: {path}")
    return path
