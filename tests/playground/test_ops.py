"""The playground's Ops area over HTTP and in Chromium: review with one-click labelling, model
versions with their comparison, simulate over an uploaded CSV (inline SVG chart), knowledge gaps."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import aiohttp
import pytest
from playwright.async_api import expect

from supportbot.bot.domain import Author, InboundMessage, ModelStatus, ModelVersion, Role
from tests.playground.helpers import HOSTILE
from tests.playground.test_server import Browserless

TABLEAU = [
    "Is there a Tableau connector?",
    "how do we get our data into Tableau",
    "can Tableau read directly from your product",
    "looking for a Tableau integration",
]
CSV = "text,intent\nHow do I download last month's invoice?,invoice\nhow do I reset my password,password_reset\n"


async def _ask(pg, text: str, n: int) -> str:
    channel = f"pg-{n:032x}"
    msg = InboundMessage(
        "playground", "playground", channel, channel, Author("c", "Customer", Role.CUSTOMER), text, datetime.now(UTC)
    )
    result = await pg.app.core.handle_inbound(msg)
    assert result.conversation_id
    return result.conversation_id


def _register_versions(pg) -> None:
    t = datetime(2026, 11, 30, tzinfo=UTC)
    with pg.app.uow() as uow:
        uow.model_versions.add(
            ModelVersion(
                "intent-old", "intent", "/m/old", "h", t, {"precision_at_target": 0.99}, ModelStatus.CURRENT, t
            )
        )
        uow.model_versions.add(ModelVersion("intent-new", "intent", "/m/new", "h", t, {"precision_at_target": 0.95}))
        uow.commit()


@pytest.fixture
async def client(pg):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        c = Browserless(session, pg.url)
        await c.page()
        yield c


async def _get(client, path: str) -> str:
    async with client.s.get(client.base + path) as r:
        assert r.status == 200, path
        return await r.text()


async def test_ops_pages_escape_and_labelling_needs_the_agent_token(client, pg):
    conv = await _ask(pg, HOSTILE, 1)
    page = await _get(client, "/ops/review")
    assert "<script>alert(1)</script>" not in page and html.escape(HOSTILE, quote=False) in page.replace("&#34;", '"')
    data = {"conversation_id": conv, "intent": "refund"}
    assert (await client.post("/agent/ops/label", data, role="customer"))[0] == 403
    assert (await client.post("/agent/ops/label", data, role=None))[0] == 403
    status, body = await client.post("/agent/ops/label", data, role="agent")
    assert status == 200 and body["ok"], body
    with pg.app.uow() as uow:
        (record,) = uow.classifications.for_conversation(conv)
        assert record.corrected_intent == "refund"
    assert conv not in await _get(client, "/ops/review")
    _register_versions(pg)
    models = await _get(client, "/ops/models")
    assert "intent-new" in models and "refusing to promote intent-new" in models
    # a bad upload is refused with the reason, escaped
    form = aiohttp.FormData()
    form.add_field("csrf_token", client.csrf["agent"])
    form.add_field("tickets", b"utterance\n<b>x</b>\n", filename="<b>bad</b>.csv", content_type="text/csv")
    async with client.s.post(client.base + "/agent/ops/simulate", data=form) as r:
        text = await r.text()
        assert r.status == 400 and "has no text column" in text and "<b>bad</b>" not in text


@pytest.mark.browser
async def test_ops_area_in_the_browser(page, pg):
    conv = await _ask(pg, "Is there a Tableau connector for your BI tool? <script>x</script>", 10)
    for n, text in enumerate(TABLEAU):
        await _ask(pg, text, 20 + n)
    _register_versions(pg)
    await page.goto(pg.url)
    await page.get_by_role("link", name="Ops").click()
    item = page.locator(f"#review li[data-conversation-id={conv}]")
    await expect(item).to_contain_text("<script>x</script>")  # shown as text
    await item.locator("select").select_option("webhooks")
    await item.get_by_role("button", name="Label").click()
    await expect(page.locator(".ops__flash")).to_contain_text("Intent set to webhooks")
    await expect(page.locator(f"#review li[data-conversation-id={conv}]")).to_have_count(0)

    await page.get_by_role("link", name="Models").click()
    await expect(page.locator("#versions")).to_contain_text("intent-new")
    await expect(page.locator("#comparison")).to_contain_text("precision at the target")

    await page.get_by_role("link", name="Simulate").click()
    await page.locator("input[type=file]").set_input_files(
        files=[{"name": "past.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    await page.get_by_role("button", name="Simulate").click()
    result = page.locator("#simulation")
    await expect(result).to_contain_text("2 tickets from past.csv")
    await expect(result.locator("svg[aria-label='Risk-coverage chart']")).to_be_visible()

    await page.get_by_role("link", name="Gaps").click()
    topic = page.locator("#gaps li").first
    await expect(topic).to_contain_text("Tableau")
    await expect(topic).to_contain_text(re.compile(r"\d+ questions"))
    assert page.js_errors == []
