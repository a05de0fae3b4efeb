"""Agents' emoji workflows over Slack's reaction_added events (issue 12)."""

from __future__ import annotations

import time

from supportbot.bot.domain import ConversationStatus, HandoffStatus
from tests.slack.conftest import AGENT, ALICE, SHARED, TRIAGE, uuid_hex
from tests.slack.fake_slack import OUR_TEAM


def reaction_added(user: str, reaction: str, ts: str, *, channel: str = SHARED) -> dict:
    """A reaction_added event_callback as Slack sends it."""
    return {
        "token": "unused",
        "team_id": OUR_TEAM,
        "api_app_id": "A_APP",
        "event": {
            "type": "reaction_added",
            "user": user,
            "reaction": reaction,
            "item_user": ALICE,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": f"{time.time():.6f}",
        },
        "type": "event_callback",
        "event_id": f"Ev{uuid_hex()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": OUR_TEAM, "user_id": "U_BOT", "is_bot": True}],
    }


def conversations(slack):
    with slack.app.core.uow() as uow:
        return uow.conversations.list(), uow.handoffs.list()


async def test_agent_tickets_a_skipped_message_then_claims_and_resolves_it(slack):
    skipped = await slack.says(ALICE, "ok", user_team="TSMALL")
    assert conversations(slack)[0] == []
    status, _ = await slack.event(reaction_added(AGENT, "ticket", skipped["ts"]))
    assert status == 200
    await slack.service.drain(10)
    (conv,), _ = conversations(slack)
    assert conv.thread_id == skipped["ts"]
    assert slack.fake.posts(TRIAGE)  # mirrored for the team
    await slack.event(reaction_added(AGENT, "eyes", skipped["ts"]))
    await slack.service.drain(10)
    _, handoffs = conversations(slack)
    assert [h.status for h in handoffs] == [HandoffStatus.CLAIMED] and handoffs[0].claimed_by == AGENT
    await slack.event(reaction_added(AGENT, "white_check_mark::skin-tone-2", skipped["ts"]))
    await slack.service.drain(10)
    (conv,), _ = conversations(slack)
    assert conv.status is ConversationStatus.RESOLVED


async def test_agent_claims_a_conversation_the_bot_answered(slack):
    question = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    await slack.event(reaction_added(AGENT, "eyes", question["ts"]))
    await slack.service.drain(10)
    _, (handoff,) = conversations(slack)
    assert handoff.status is HandoffStatus.CLAIMED
    assert any("Claimed by" in p["text"] for p in slack.fake.posts(TRIAGE))


async def test_customers_reactions_do_nothing(slack):
    skipped = await slack.says(ALICE, "ok", user_team="TSMALL")
    question = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    calls = len(slack.fake.calls)
    for emoji in ("ticket", "eyes", "white_check_mark", "+1"):
        await slack.event(reaction_added(ALICE, emoji, skipped["ts"]))
        await slack.event(reaction_added(ALICE, emoji, question["ts"]))
    await slack.service.drain(10)
    convs, handoffs = conversations(slack)
    assert len(convs) == 1 and handoffs == [] and convs[0].status is not ConversationStatus.RESOLVED
    assert [c.method for c in slack.fake.calls[calls:] if c.method != "users.info"] == []


def test_manifest_subscribes_reaction_added_with_its_scope():
    from supportbot.adapters.slack.manifest import manifest

    m = manifest(socket_mode=True)
    assert "reaction_added" in m["settings"]["event_subscriptions"]["bot_events"]
    assert "reactions:read" in m["oauth_config"]["scopes"]["bot"]


async def test_the_bots_own_reactions_do_nothing(slack):
    question = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    calls = len(slack.fake.calls)
    await slack.event(reaction_added("U_BOT", "eyes", question["ts"]))  # our own 👀, echoed by Slack
    await slack.service.drain(10)
    assert conversations(slack)[1] == [] and slack.fake.calls[calls:] == []


async def test_a_customers_thumbs_down_on_the_bots_answer_rates_it_once_and_hands_off(slack):
    question = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    await slack.service.drain(10)
    (answer,) = [
        c
        for c in slack.fake.of("chat.postMessage")
        if c.params.get("channel") == SHARED and "Source" in c.params["text"]
    ]
    await slack.event(reaction_added(AGENT, "-1", answer.result["ts"]))  # an agent's 👎 is no rating
    await slack.service.drain(10)
    assert conversations(slack)[1] == []
    await slack.event(reaction_added(ALICE, "-1", answer.result["ts"]))
    await slack.event(reaction_added(ALICE, "+1", answer.result["ts"]))  # rated already: ignored
    await slack.service.drain(10)
    _, (handoff,) = conversations(slack)
    assert handoff.reason.startswith("The customer said the bot's answer did not help")
    with slack.app.core.uow() as uow:
        ratings = uow.actions.list(action="csat")
    assert len(ratings) == 1 and ratings[0].actor_id == ALICE
    assert question["ts"]
