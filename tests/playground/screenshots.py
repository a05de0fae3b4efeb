"""Screenshots of the playground for the docs: ``python -m tests.playground.screenshots [--out docs]``.

Starts a playground on an ephemeral 127.0.0.1 port with a temp database, the bundled KB and CRM (and
``--model DIR`` for a trained classifier) on a fake clock, loads it with the 15 conversations of mixed kinds
the browser tests use (``helpers.seed_mixed``: one hand-off overdue, one at risk) and saves, in headless
Chromium: docs/console-1440x900.png, docs/console-390x844.png, docs/playground-390x844.png and
docs/playground-customer.png, docs/playground-agent.png, docs/playground-why.png.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import async_playwright, expect

from tests.fakes.core import FakeClock
from tests.playground.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.playground.helpers import MIXED, running_playground, seed_mixed


async def take(out: Path, model: Path | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    classifier = None
    if model is not None:
        from supportbot.bot.classifier import load_classifier

        classifier = load_classifier(model)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    shots: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            running_playground(Path(tmp), classifier=classifier, clock=clock) as pg,
            async_playwright() as p,
        ):
            seeded = await seed_mixed(pg, advance=lambda minutes: clock.advance(minutes=minutes))
            browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

            async def page_at(width: int, height: int, query: str):
                page = await browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
                page.set_default_timeout(10_000)
                await page.goto(pg.url + query)
                await page.locator("body[data-live=ready]").wait_for()
                await expect(page.locator("#queue-list .qrow")).to_have_count(len(MIXED))
                return page

            def shot(name: str) -> str:
                shots.append(out / name)
                return str(out / name)

            # desktop: the customer's answered question beside the queue, a draft open for review
            chat = f"?c={seeded.channels['answer_demo']}&sel={seeded.conversations['draft_saml']}"
            page = await page_at(1440, 900, chat)
            await expect(page.locator("#thread .msg--bot_answer .msg__text a")).not_to_have_count(0)
            await page.screenshot(path=shot("console-1440x900.png"))
            await page.locator("#customer-pane").screenshot(path=shot("playground-customer.png"))
            await page.locator("#agent-pane").screenshot(path=shot("playground-agent.png"))
            await page.locator("#thread .msg--bot_answer .why-link").first.click()
            await expect(page.locator("#why-panel .why__decision").first).to_be_visible()
            await page.screenshot(path=shot("playground-why.png"))
            await page.close()
            # a phone: the queue, and the customer's side
            page = await page_at(390, 844, "?view=agent")
            await page.screenshot(path=shot("console-390x844.png"))
            await page.close()
            page = await page_at(390, 844, f"?c={seeded.channels['answer_demo']}")
            await page.screenshot(path=shot("playground-390x844.png"))
            await browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a trained model directory (`supportbot train`); default: the keyword test classifier",
    )
    args = parser.parse_args()
    for path in asyncio.run(take(args.out, args.model)):
        print(path)


if __name__ == "__main__":
    main()
