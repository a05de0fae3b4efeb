"""Per-channel modes, mentions and greetings over the real Slack payloads (issue 12)."""

from __future__ import annotations

import contextlib

import aiohttp

from supportbot.bot.commands import Actor, ResolveConversation
from supportbot.bot.domain import Role
from tests.slack.conftest import (
    AGENT,
    ALICE,
    BOB,
    MANAGER,
    SHARED,
    SHARED_BIG,
    TRIAGE,
    Driver,
    build_app,
    slack_service,
    slack_settings,
)
from tests.slack.fake_slack import BOT_USER, OUR_TEAM

CUSTOMER_CHANNELS = (SHARED, SHARED_BIG)


@contextlib.asynccontextmanager
async def running(tmp_path, fake, clock, **overrides):
    app = build_app(slack_settings(tmp_path, fake, **overrides), clock)
    service = slack_service(app, port=0)
    await service.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Driver(app, service, fake, session)
    finally:
        await service.stop()


def customer_calls(fake) -> list:
    """Every Web API call that a customer could see: posts, ephemerals, updates and reactions in their channels."""
    return [
        c
        for c in fake.calls
        if c.method in ("chat.postMessage", "chat.postEphemeral", "chat.update", "reactions.add")
        and c.params.get("channel") in CUSTOMER_CHANNELS
    ]


async def test_shadow_mode_never_posts_in_a_customer_channel(tmp_path, fake_slack, clock):
    modes = {SHARED: "shadow", SHARED_BIG: "shadow"}
    async with running(tmp_path, fake_slack, clock, channel_modes=modes) as slack:
        answerable = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
        clock.advance(minutes=5)
        await slack.says(ALICE, "none of our users can log in since 9am", user_team="TSMALL")
        await slack.says(ALICE, "hi", user_team="TSMALL")
        await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
        await slack.says(ALICE, "that didn't help", thread_ts=answerable["ts"], user_team="TSMALL")
        # an agent writing in the mirror thread, and resolving: still nothing customer-side
        await slack.says(AGENT, "Hi Alice, here is how.", channel=TRIAGE, thread_ts=slack.mirror_ts(0))
        with slack.app.core.uow() as uow:
            conv = next(c for c in uow.conversations.list() if c.thread_id == answerable["ts"])
        await slack.app.core.commands.execute(ResolveConversation(conv.id, Actor(AGENT, Role.AGENT, "Sam")))
        await slack.service.drain(10)
        assert customer_calls(slack.fake) == []
        triage = [p["text"] for p in slack.fake.posts(TRIAGE)]
        shadow = [t for t in triage if t.startswith("Shadow mode: nothing was posted")]
        assert len(shadow) >= 3
        assert any("Settings → Billing → Invoices" in t for t in shadow)
        assert any(t.startswith("Shadow mode: not posted to the customer") for t in triage)
        with slack.app.core.uow() as uow:
            assert uow.decisions.list() and all(d.shadow for d in uow.decisions.list())


async def test_shadow_compares_the_agents_own_reply(tmp_path, fake_slack, clock):
    async with running(tmp_path, fake_slack, clock, channel_modes={SHARED: "shadow"}) as slack:
        question = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
        await slack.says(
            AGENT, "It's under https://docs.example.com/download-invoices", thread_ts=question["ts"], user_team=OUR_TEAM
        )
        with slack.app.core.uow() as uow:
            (record,) = uow.decisions.list()
        assert record.shadow and record.shadow_agreement == "article"
        await slack.command(MANAGER, OUR_TEAM, "stats 24h")
        assert "Shadow mode" in slack.fake.responses[-1]["text"] and "100%" in slack.fake.responses[-1]["text"]
        assert customer_calls(slack.fake) == []


async def test_draft_only_drafts_every_answer_and_a_mention_is_answered(tmp_path, fake_slack, clock):
    async with running(tmp_path, fake_slack, clock, channel_modes={SHARED: "draft-only"}) as slack:
        question = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
        assert slack.card("draft_approve")
        (ack,) = slack.fake.posts(SHARED)
        assert ack["thread_ts"] == question["ts"] and "A teammate will reply here" in ack["text"]
        clock.advance(seconds=10)
        mention = await slack.says(ALICE, f"<@{BOT_USER}> how do I download my invoice?", user_team="TSMALL")
        answers = [p for p in slack.fake.posts(SHARED) if "Settings → Billing → Invoices" in p["text"]]
        assert [a["thread_ts"] for a in answers] == [mention["ts"]]


async def test_a_mention_is_a_request_even_when_it_would_be_grouped_or_noise(slack):
    first = await slack.says(ALICE, "hey, a question about billing", user_team="TSMALL")
    hello = await slack.says(ALICE, f"<@{BOT_USER}> hello", user_team="TSMALL")
    with slack.app.core.uow() as uow:
        threads = {c.thread_id for c in uow.conversations.list()}
    assert threads == {first["ts"], hello["ts"]}


async def test_off_mode_ignores_the_channel(tmp_path, fake_slack, clock):
    async with running(tmp_path, fake_slack, clock, channel_modes={SHARED: "off"}) as slack:
        await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
        await slack.says(ALICE, f"<@{BOT_USER}> hello?", user_team="TSMALL")
        assert customer_calls(slack.fake) == [] and slack.fake.posts(TRIAGE) == []


async def test_managers_switch_a_channel_with_support_mode(slack, clock):
    await slack.command(AGENT, OUR_TEAM, f"mode <#{SHARED}|small-co-support> shadow")
    assert "for managers" in slack.fake.responses[-1]["text"]
    await slack.command(MANAGER, OUR_TEAM, f"mode <#{SHARED}|small-co-support> shadow")
    assert "now in shadow mode" in slack.fake.responses[-1]["text"]
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    assert customer_calls(slack.fake) == []
    await slack.command(MANAGER, OUR_TEAM, f"mode <#{SHARED}|small-co-support> auto")
    clock.advance(minutes=5)
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    assert [p for p in slack.fake.posts(SHARED) if "Settings → Billing → Invoices" in p["text"]]


async def test_a_greeting_gets_a_prompt_in_its_thread_and_no_ticket(slack):
    hello = await slack.says(ALICE, "hello team", user_team="TSMALL")
    (prompt,) = slack.fake.posts(SHARED)
    assert prompt["thread_ts"] == hello["ts"] and "What can we help you with?" in prompt["text"]
    assert slack.fake.posts(TRIAGE) == []
    with slack.app.core.uow() as uow:
        assert uow.conversations.list() == []
