from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.core import FakeClock
from tests.playground.helpers import Running, Seeded, running_playground, seed_mixed

CHROMIUM = Path(os.environ.get("SUPPORTBOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
async def pg(tmp_path):
    async with running_playground(tmp_path) as running:
        yield running


@pytest.fixture
async def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def page(browser, pg):
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(10_000)
    page.dialogs, page.js_errors = dialogs, errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        await context.close()


@dataclass
class Loaded:
    pg: Running
    seeded: Seeded
    clock: FakeClock


@pytest.fixture
async def loaded(tmp_path):
    """A playground with 15 conversations of mixed kinds on a fake clock (see helpers.seed_mixed)."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    async with running_playground(tmp_path, clock=clock) as running:
        seeded = await seed_mixed(running, advance=lambda minutes: clock.advance(minutes=minutes))
        yield Loaded(running, seeded, clock)
