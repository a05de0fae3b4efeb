"""End-to-end in real headless Chromium against an in-process playground on 127.0.0.1."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.playground.helpers import DRAFT_ACCOUNT, HOSTILE, OUTAGE, QUESTION

pytestmark = pytest.mark.browser


async def open_playground(page, url: str, query: str = "") -> None:
    await page.goto(url + query)
    await expect(page.locator("body")).to_have_attribute("data-live", "ready")  # both SSE streams connected


async def send(page, text: str) -> None:
    await page.get_by_label("Your message").fill(text)
    await page.locator("#customer-pane").get_by_role("button", name="Send", exact=True).click()


async def test_question_gets_answer_with_citation(page, pg):
    await open_playground(page, pg.url)
    await send(page, QUESTION)
    answer = page.locator("#thread .msg--bot_answer")
    await expect(answer).to_contain_text("Settings → Billing → Invoices")
    # Markdown rendered as HTML: the lead in bold, the source once, as a link to the section
    await expect(answer.locator(".msg__text strong").first).to_be_visible()
    link = answer.locator(".msg__text a", has_text="Downloading invoices and receipts")
    await expect(link).to_have_count(1)
    href = await link.get_attribute("href")
    assert href.startswith("https://docs.nimbusmetrics.example/billing/download-invoices#")
    await expect(answer.locator(".cites")).to_have_count(0)
    assert "**" not in await answer.inner_text()
    # the why panel explains the decision
    await answer.get_by_role("link", name="Why?").click()
    panel = page.locator("#why-panel")
    await expect(panel).to_be_visible()
    await expect(panel).to_contain_text("confident_answer")
    await expect(panel.locator(".is-selected")).to_contain_text("invoice")
    await expect(panel).to_contain_text("Downloading invoices and receipts")
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    assert page.js_errors == []


async def test_outage_hands_off_live_with_context(page, pg):
    await open_playground(page, pg.url)
    console = page.locator("#console")
    await expect(console).to_contain_text("Nothing needs a person")
    await send(page, OUTAGE)
    ticket = console.locator("article.ticket[data-state=handoff]")
    await expect(ticket).to_be_visible()  # arrived over SSE, no reload
    await expect(ticket).to_contain_text("Hand-off")
    await expect(ticket).to_contain_text("Demo Customer Inc. (acc_demo)")
    await expect(ticket).to_contain_text("$5,988")
    await expect(ticket).to_contain_text("2027-03-15")
    await expect(ticket).to_contain_text("TCK-4502")
    await expect(ticket).to_contain_text("urgent_handoff")
    await expect(ticket.locator(".transcript")).to_contain_text(OUTAGE)
    await expect(page.locator("#thread .msg--system")).to_contain_text("passed this to our support team")
    # claim, then an internal note stays internal and a reply reaches the customer
    await ticket.get_by_role("button", name="Claim").click()
    claimed = console.locator("article.ticket[data-state=claimed]")
    await expect(claimed).to_be_visible()
    await claimed.get_by_label("Reply to the customer or add an internal note").fill("// checking the ingest cluster")
    await claimed.get_by_role("button", name="Send").click()
    await expect(claimed.locator(".tx--internal_note")).to_contain_text("checking the ingest cluster")
    await claimed.get_by_label("Reply to the customer or add an internal note").fill("We are on it, update in 10 min.")
    await claimed.get_by_role("button", name="Send").click()
    await expect(page.locator("#thread .msg--agent_reply")).to_contain_text("update in 10 min")
    await expect(page.locator("#thread")).not_to_contain_text("ingest cluster")
    assert page.js_errors == []


async def test_edit_and_approve_draft_reaches_customer(page, pg):
    await open_playground(page, pg.url, f"?account={DRAFT_ACCOUNT}")
    await expect(page.locator("#account")).to_have_value(DRAFT_ACCOUNT)
    await send(page, QUESTION)
    ticket = page.locator("#console article.ticket[data-state=draft]")
    await expect(ticket).to_contain_text("Draft reply awaiting approval")
    await expect(ticket).to_contain_text("Globex Corporation")
    await expect(ticket).to_contain_text("enterprise")
    await expect(page.locator("#thread .msg--bot_answer")).to_have_count(0)  # the customer never sees a draft
    await ticket.locator("summary", has_text="Edit").click()
    editor = ticket.get_by_label("Reply to send")
    await editor.fill("Hi Globex team! Settings → Billing → Invoices → Download PDF. — Sam")
    await ticket.get_by_role("button", name="Send edited reply").click()
    reply = page.locator("#thread .msg--agent_reply")
    await expect(reply).to_contain_text("Hi Globex team!")
    await expect(reply.locator(".cites a")).to_have_text("Downloading invoices and receipts")
    await expect(page.locator("#console article.ticket[data-state=draft]")).to_have_count(0)
    assert page.js_errors == []


async def test_hostile_input_renders_as_text(page, pg):
    await open_playground(page, pg.url)
    await send(page, HOSTILE)
    mine = page.locator("#thread .msg--customer").first
    await expect(mine).to_have_text(re.compile(re.escape(HOSTILE)))
    ticket = page.locator("#console article.ticket").first
    await expect(ticket.locator(".transcript")).to_contain_text(HOSTILE)
    # after a reload the server-rendered page shows it as text as well
    await page.reload()
    await expect(page.locator("#thread .msg--customer").first).to_contain_text(HOSTILE)
    await expect(page.locator("#console .transcript").first).to_contain_text(HOSTILE)
    assert await page.locator("#thread img, #console img, #thread script, #console script").count() == 0
    assert page.dialogs == []
    assert page.js_errors == []
