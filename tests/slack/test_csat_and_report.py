"""CSAT buttons in the customer's thread and the weekly report's chart upload (files upload v2)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from supportbot.adapters.slack.handlers import CSAT_THANKS
from supportbot.bot.domain import OutboundKind
from tests.slack.conftest import AGENT, ALICE, BOB, SHARED, TRIAGE, block_actions
from tests.slack.fake_slack import OUR_TEAM


def _ratings(slack):
    with slack.app.core.uow() as uow:
        return uow.actions.list(action="csat")


def _prompt(slack) -> dict:
    """The CSAT prompt as posted in the customer's channel, shaped as a block_actions ``message``."""
    for call in slack.fake.of("chat.postMessage"):
        if call.params.get("channel") == SHARED and call.params.get("blocks"):
            return {
                "ts": call.result["ts"],
                "thread_ts": call.params.get("thread_ts"),
                "text": call.params["text"],
                "blocks": call.params["blocks"],
            }
    raise AssertionError("no CSAT prompt with buttons in the customer's channel")


def _click(user: str, team: str, prompt: dict, action_id: str, value: str) -> dict:
    payload = block_actions(user, team, action_id, value, message=prompt, channel=SHARED)
    payload["container"]["thread_ts"] = prompt["thread_ts"]
    payload["message"]["thread_ts"] = prompt["thread_ts"]
    payload["actions"][0]["block_id"] = "csat_scores"
    return payload


async def _resolved_conversation(slack) -> dict:
    event = await slack.says(ALICE, "The dashboard is down, none of our users can log in", user_team="TSMALL")
    card = slack.card("handoff_claim")
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "handoff_resolve", card["value"], message=card))
    return event


async def test_csat_prompt_has_buttons_and_only_the_customer_can_rate_once(slack):
    event = await _resolved_conversation(slack)
    prompt = _prompt(slack)
    assert prompt["thread_ts"] == event["ts"] and "How did we do?" in prompt["text"]
    buttons = [e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"]]
    conv_id = buttons[0]["value"].split(":")[0]
    assert [(e["action_id"], e["value"]) for e in buttons] == [
        (f"csat_rate_{v}", f"{conv_id}:{v}") for v in ("up", "down", "1", "2", "3", "4", "5")
    ]
    for block in prompt["blocks"]:  # Block Kit: action_ids unique within their block
        ids = [e["action_id"] for e in block.get("elements", [])]
        assert len(ids) == len(set(ids))

    status, _ = await slack.interactive(_click(BOB, "TBIG", prompt, "csat_rate_1", f"{conv_id}:1"))
    assert status == 200
    (refusal,) = slack.fake.of("chat.postEphemeral")
    assert refusal.params["user"] == BOB and refusal.params["channel"] == SHARED
    assert refusal.params["thread_ts"] == event["ts"] and "only the customer" in refusal.params["text"]
    assert _ratings(slack) == []
    updates_before = len(slack.fake.of("chat.update"))

    await slack.interactive(_click(ALICE, "TSMALL", prompt, "csat_rate_4", f"{conv_id}:4"))
    (rating,) = _ratings(slack)
    assert rating.actor_id == ALICE
    assert rating.conversation_id == conv_id and rating.detail["score"] == 4 and rating.detail["positive"] is True
    update = slack.fake.of("chat.update")[-1].params
    assert len(slack.fake.of("chat.update")) == updates_before + 1
    assert update["channel"] == SHARED and update["ts"] == prompt["ts"] and update["text"] == CSAT_THANKS
    assert not [b for b in update["blocks"] if b["type"] == "actions"]
    assert CSAT_THANKS in str(update["blocks"][-1])

    # A second click (say, from a stale client that still shows the buttons) stores nothing more.
    await slack.interactive(_click(ALICE, "TSMALL", prompt, "csat_rate_1", f"{conv_id}:1"))
    assert len(_ratings(slack)) == 1
    second = slack.fake.of("chat.postEphemeral")[-1].params
    assert second["user"] == ALICE and "already rated" in second["text"]


async def test_weekly_report_posts_summary_and_uploads_the_chart_to_triage(slack, clock):
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    clock.current = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday, after the report hour (UTC)
    assert await slack.app.core.weekly_report.post() is True
    with slack.app.core.uow() as uow:
        (report,) = [o for o in uow.outbox.list() if o.kind is OutboundKind.REPORT]
    chart = report.payload["chart"]

    summary = [p for p in slack.fake.posts(TRIAGE) if p["text"].startswith("Weekly support summary")]
    assert len(summary) == 1 and "Conversations: 1" in summary[0]["text"]
    summary_ts = next(
        c.result["ts"]
        for c in slack.fake.of("chat.postMessage")
        if c.params["text"].startswith("Weekly support summary")
    )
    (get_url,) = slack.fake.of("files.getUploadURLExternal")
    assert get_url.params["filename"] == chart["filename"] and chart["filename"].endswith(".svg")
    (complete,) = slack.fake.of("files.completeUploadExternal")
    assert complete.params["channel_id"] == TRIAGE and complete.params["thread_ts"] == summary_ts
    (upload,) = slack.fake.uploads.values()
    assert upload["data"] == base64.b64decode(chart["base64"]) and upload["data"].startswith(b"<svg")
    assert upload["filename"] == chart["filename"] and upload["shared"]["channel"] == TRIAGE


async def test_failed_upload_is_retried_without_reposting_the_summary(slack, clock):
    slack.fake.fail("files.completeUploadExternal", 500)
    clock.current = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert await slack.app.core.weekly_report.post() is True
    assert slack.fake.of("files.completeUploadExternal") == []
    clock.advance(minutes=10)
    await slack.app.core.dispatch_outbox()
    assert len(slack.fake.of("files.completeUploadExternal")) == 1
    assert len([p for p in slack.fake.posts(TRIAGE) if p["text"].startswith("Weekly support summary")]) == 1
