"""Per-channel modes, mentions and greetings over the real gateway and REST payloads (issue 12)."""

from __future__ import annotations

import asyncio
import re

from supportbot.bot.commands import Actor, ResolveConversation
from supportbot.bot.domain import Role
from tests.discord_bot.conftest import start_bot
from tests.discord_bot.helpers import ACK_MARK, ephemeral, mirror_of


async def settle(bot) -> None:
    await asyncio.sleep(0.2)
    await bot.app.core.intake.drain()
    await bot.app.core.dispatcher.drain()
    await bot.client.idle()


def customer_side(fake) -> list:
    """Every write the bot made where customers read: support channels, their threads, reactions, tags."""
    staff = {fake.triage_id} | {t["id"] for t in fake.threads_of(fake.triage_id)}
    writes = []
    for r in fake.requests:
        match = re.match(r"^/channels/(\d+)", r.path)
        if r.method in ("POST", "PUT", "PATCH", "DELETE") and match and match.group(1) not in staff:
            writes.append(r)
    return writes


async def _run(fake, command, options, *, user):
    interaction = await fake.slash_command(command, options, user=user)
    response = await fake.wait_for_response(interaction)
    assert ephemeral(response)
    return response["data"]["content"]


async def test_shadow_mode_never_posts_in_a_customer_channel(fake, tmp_path):
    modes = {fake.text_id: "shadow", fake.forum_id: "shadow"}
    bot = await start_bot(fake, tmp_path, channel_modes=modes)
    try:
        question = await fake.customer_message(fake.text_id, "How do I download my invoice?")
        staff_thread = await mirror_of(fake, bot)
        await settle(bot)
        bot.clock.advance(minutes=5)
        await fake.customer_message(fake.text_id, "none of our users can log in since 9am")
        await fake.customer_message(fake.text_id, "hi")
        await fake.forum_post("Invoices", "Where do I download my invoice?")
        await settle(bot)
        await fake.customer_message(staff_thread, "Hi Alice, it is under Billing.", author=fake.agent)
        await settle(bot)
        with bot.app.uow() as uow:
            conv = next(c for c in uow.conversations.list() if c.thread_id == question["id"])
        await bot.app.core.commands.execute(ResolveConversation(conv.id, Actor(fake.agent, Role.AGENT, "sam")))
        await settle(bot)
        assert customer_side(fake) == []  # no thread, answer, acknowledgement, reaction, prompt, tag or CSAT
        notices = [m["content"] for m in fake.bot_messages(staff_thread)]
        assert any(n.startswith("Shadow mode: nothing was posted") and "Settings → Billing" in n for n in notices)
        assert any(n.startswith("Shadow mode: not posted to the customer") for n in notices)
        with bot.app.uow() as uow:
            decisions = uow.decisions.list()
        assert len(decisions) == 3 and all(d.shadow for d in decisions)
    finally:
        await bot.stop()


async def test_shadow_compares_the_agents_reply_in_the_thread(fake, tmp_path):
    bot = await start_bot(fake, tmp_path, channel_modes={fake.forum_id: "shadow"})
    try:
        post = await fake.forum_post("Invoices", "Where do I download my invoice?")
        await settle(bot)
        await fake.customer_message(post["id"], "It's https://docs.example.com/download-invoices", author=fake.agent)
        await settle(bot)
        with bot.app.uow() as uow:
            (decision,) = uow.decisions.list()
        assert decision.shadow_agreement == "article"
        assert customer_side(fake) == []
    finally:
        await bot.stop()


async def test_draft_only_drafts_and_a_mention_is_answered(fake, tmp_path):
    bot = await start_bot(fake, tmp_path, channel_modes={fake.text_id: "draft-only"})
    try:
        question = await fake.customer_message(fake.text_id, "How do I download my invoice?")
        ack = await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
        assert ACK_MARK in ack.json["content"]
        await settle(bot)
        with bot.app.uow() as uow:
            assert [d.decision.rule for d in uow.decisions.list()] == ["draft_only_channel"]
        bot.clock.advance(seconds=10)
        mention = await fake.customer_message(fake.text_id, f"<@{fake.app_id}> how do I download my invoice?")
        reply = await fake.wait_for_request("POST", rf"/channels/{mention['id']}/messages")
        assert "Settings → Billing → Invoices" in reply.json["content"]
    finally:
        await bot.stop()


async def test_a_mention_is_a_request_even_when_it_would_be_grouped_or_noise(fake, bot):
    first = await fake.customer_message(fake.text_id, "hey, a question about billing")
    hello = await fake.customer_message(fake.text_id, f"<@{fake.app_id}> hello")
    await settle(bot)
    with bot.app.uow() as uow:
        assert {c.thread_id for c in uow.conversations.list()} == {first["id"], hello["id"]}


async def test_off_mode_ignores_the_channel(fake, tmp_path):
    bot = await start_bot(fake, tmp_path, channel_modes={fake.text_id: "off"})
    try:
        await fake.customer_message(fake.text_id, "How do I download my invoice?")
        await fake.customer_message(fake.text_id, f"<@{fake.app_id}> hello?")
        await settle(bot)
        assert customer_side(fake) == [] and fake.bot_messages(fake.triage_id) == []
    finally:
        await bot.stop()


async def test_managers_switch_a_channel_with_support_mode(fake, bot):
    refused = await _run(fake, "mode", {"channel": f"<#{fake.text_id}>", "mode": "shadow"}, user=fake.agent)
    assert "for managers" in refused
    done = await _run(fake, "mode", {"channel": f"<#{fake.text_id}>", "mode": "shadow"}, user=fake.manager)
    assert "now in shadow mode" in done
    assert fake.text_id in await _run(fake, "mode", {}, user=fake.agent)
    await fake.customer_message(fake.text_id, "How do I download my invoice?")
    await settle(bot)
    assert customer_side(fake) == []


async def test_a_greeting_gets_a_prompt_in_its_thread_and_no_ticket(fake, bot):
    hello = await fake.customer_message(fake.text_id, "hello team")
    prompt = await fake.wait_for_request("POST", rf"/channels/{hello['id']}/messages")
    assert "What can we help you with?" in prompt.json["content"]
    await settle(bot)
    with bot.app.uow() as uow:
        assert uow.conversations.list() == []
