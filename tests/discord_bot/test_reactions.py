"""Agents' emoji workflows over Discord's MESSAGE_REACTION_ADD gateway events (issue 12)."""

from __future__ import annotations

import asyncio

from supportbot.bot.domain import ConversationStatus, HandoffStatus


async def settle(bot) -> None:
    await asyncio.sleep(0.2)
    await bot.app.core.intake.drain()
    await bot.app.core.dispatcher.drain()
    await bot.client.idle()


def state(bot):
    with bot.app.uow() as uow:
        return uow.conversations.list(), uow.handoffs.list()


async def test_agent_tickets_a_skipped_message_then_claims_and_resolves_it(fake, bot):
    skipped = await fake.customer_message(fake.text_id, "ok")
    await settle(bot)
    assert state(bot)[0] == []
    await fake.reaction_add(fake.text_id, skipped["id"], "🎫", user=fake.agent)
    await fake.wait_until(lambda: state(bot)[0], what="a conversation from the 🎫")
    await settle(bot)
    (conv,), _ = state(bot)
    assert conv.thread_id == skipped["id"]
    await fake.reaction_add(fake.text_id, skipped["id"], "👀", user=fake.agent)
    await fake.wait_until(lambda: any(h.status is HandoffStatus.CLAIMED for h in state(bot)[1]), what="claimed")
    await fake.reaction_add(fake.text_id, skipped["id"], "✅", user=fake.agent)
    await fake.wait_until(lambda: state(bot)[0][0].status is ConversationStatus.RESOLVED, what="resolved by ✅")


async def test_agent_reacts_inside_a_forum_post(fake, bot):
    post = await fake.forum_post("Invoices", "Where do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{post['id']}/messages")
    await fake.reaction_add(post["id"], post["id"], "👀", user=fake.agent)
    await fake.wait_until(lambda: state(bot)[1], what="a claimed hand-off")
    (handoff,) = state(bot)[1]
    assert handoff.status is HandoffStatus.CLAIMED and handoff.claimed_by == fake.agent


async def test_customers_reactions_do_nothing(fake, bot):
    skipped = await fake.customer_message(fake.text_id, "ok")
    question = await fake.customer_message(fake.text_id, "How do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    await settle(bot)
    before = len(fake.requests)
    for emoji in ("🎫", "👀", "✅", "👍"):
        await fake.reaction_add(fake.text_id, skipped["id"], emoji, user=fake.customer)
        await fake.reaction_add(fake.text_id, question["id"], emoji, user=fake.customer)
    await settle(bot)
    convs, handoffs = state(bot)
    assert len(convs) == 1 and handoffs == [] and convs[0].status is not ConversationStatus.RESOLVED
    assert fake.requests[before:] == []


async def test_a_customers_thumbs_down_on_the_bots_answer_rates_it_and_hands_off(fake, bot):
    question = await fake.customer_message(fake.text_id, "How do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    await settle(bot)
    (answer_id,) = [
        m["id"]
        for m in fake.messages.values()
        if m.get("channel_id") == question["id"]
        and m["author"]["id"] == fake.bot_user["id"]
        and "docs.example.com" in m.get("content", "")
    ]
    await fake.reaction_add(question["id"], answer_id, "👎", user=fake.customer)
    await fake.wait_until(lambda: state(bot)[1], what="a hand-off from the 👎")
    (handoff,) = state(bot)[1]
    assert handoff.reason.startswith("The customer said the bot's answer did not help")
    await fake.reaction_add(question["id"], answer_id, "👍", user=fake.customer)  # rated already
    await settle(bot)
    with bot.app.uow() as uow:
        assert len(uow.actions.list(action="csat")) == 1
