"""End to end over HTTP: signed Events API requests -> core -> fake Slack Web API."""

from __future__ import annotations

from bot.domain import DraftStatus
from tests.slack.conftest import ALICE, BOB, SHARED, SHARED_BIG, TRIAGE


async def test_healthz(slack):
    async with slack.session.get(slack.url.replace("/slack/events", "/healthz")) as resp:
        assert resp.status == 200


async def test_customer_question_answered_in_thread_with_eyes(slack):
    event = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    answers = slack.fake.posts(SHARED)
    assert len(answers) == 1
    assert answers[0]["thread_ts"] == event["ts"]
    assert "Settings → Billing → Invoices" in answers[0]["text"]
    reactions = slack.fake.of("reactions.add")
    assert [(r.params["name"], r.params["timestamp"], r.params["channel"]) for r in reactions] == [
        ("eyes", event["ts"], SHARED)]
    # The mirror thread opened in triage with a link to the original message.
    mirror = slack.fake.posts(TRIAGE)[0]
    assert "thread_ts" not in mirror
    assert any("archives/C_SHARED/p" in str(b) for b in mirror["blocks"])


async def test_enterprise_customer_gets_draft_with_three_buttons(slack):
    await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    assert slack.fake.posts(SHARED_BIG) == []  # nothing to the customer but 👀
    card = slack.card("draft_approve")
    actions = [b for b in card["blocks"] if b["type"] == "actions"][0]
    assert [e["action_id"] for e in actions["elements"]] == ["draft_approve", "draft_edit", "draft_reject"]
    assert {e["value"] for e in actions["elements"]} == {card["value"]}
    with slack.app.core.uow() as uow:
        assert uow.drafts.get(card["value"]).status is DraftStatus.PENDING
