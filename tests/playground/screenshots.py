"""Screenshots of the playground for the docs: ``python -m tests.playground.screenshots [--out docs]``.

Starts a playground on an ephemeral 127.0.0.1 port with a temp database, the
bundled KB and CRM (and ``--model DIR`` for a trained classifier), plays a short scenario in headless Chromium and saves
docs/playground-customer.png, docs/playground-agent.png and docs/playground-why.png.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright, expect

from tests.playground.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.playground.helpers import DRAFT_ACCOUNT, OUTAGE, QUESTION, running_playground


async def _say(page, text: str) -> None:
    await page.get_by_label("Your message").fill(text)
    await page.locator("#customer-pane").get_by_role("button", name="Send", exact=True).click()


async def take(out: Path, model: Path | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    classifier = None
    if model is not None:
        from supportbot.bot.classifier import load_classifier

        classifier = load_classifier(model)
    with tempfile.TemporaryDirectory() as tmp:
        async with running_playground(Path(tmp), classifier=classifier) as pg, async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
            page.set_default_timeout(10_000)
            ready = page.locator("body[data-live=ready]")
            # an enterprise customer's question becomes a draft; an outage is handed off
            await page.goto(pg.url + f"?account={DRAFT_ACCOUNT}")
            await ready.wait_for()
            await _say(page, "How do I set up SAML single sign-on for our Okta users?")
            await expect(page.locator("#console article[data-state=draft]")).to_have_count(1)
            await page.goto(pg.url + "?account=acc_umbra")
            await ready.wait_for()
            await _say(page, OUTAGE)
            await expect(page.locator("#console article[data-state=handoff]")).to_have_count(1)
            # the customer's view: an automatic answer with its citation
            await page.goto(pg.url + "?account=acc_demo")
            await ready.wait_for()
            await _say(page, QUESTION)
            await expect(page.locator("#thread .msg--bot_answer .cites a")).to_have_count(1)
            await page.goto(page.url)  # server-rendered, with the conversation tabs
            await ready.wait_for()
            shots = [out / "playground-customer.png", out / "playground-agent.png", out / "playground-why.png"]
            await page.locator("#customer-pane").screenshot(path=str(shots[0]))
            await page.set_viewport_size({"width": 1440, "height": 1900})  # room for both tickets
            await page.locator("#agent-pane").screenshot(path=str(shots[1]))
            await page.set_viewport_size({"width": 1440, "height": 900})
            await page.locator("#thread .msg--bot_answer .why-link").first.click()
            await expect(page.locator("#why-panel .why__decision").first).to_be_visible()
            await page.screenshot(path=str(shots[2]))
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
