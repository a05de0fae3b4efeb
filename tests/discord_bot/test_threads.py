"""Threading rules over the real gateway and REST payloads: each question its own thread (issue 12)."""

from __future__ import annotations

import asyncio


def conversations(bot):
    with bot.app.uow() as uow:
        return uow.conversations.list()


async def settle(fake, bot) -> None:
    """Let the gateway events reach the client, then wait until the core processed and posted them."""
    await asyncio.sleep(0.2)
    await bot.app.core.intake.drain()
    await bot.app.core.dispatcher.drain()
    await bot.client.idle()


async def test_two_questions_seconds_apart_after_an_answer_get_two_threads(fake, bot):
    first = await fake.customer_message(fake.text_id, "How do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{first['id']}/messages")
    bot.clock.advance(seconds=8)
    second = await fake.customer_message(fake.text_id, "How do I reset my password?")
    reply = await fake.wait_for_request("POST", rf"/channels/{second['id']}/messages")
    assert "Settings → Billing → Invoices" not in reply.json["content"]
    await fake.wait_for_request("POST", rf"/channels/{fake.text_id}/messages/{second['id']}/threads")
    assert {c.thread_id for c in conversations(bot)} == {first["id"], second["id"]}
    assert len(fake.find_requests("POST", rf"/channels/{first['id']}/messages")) == 1


async def test_a_burst_of_three_lines_before_any_reply_is_one_conversation(fake, bot):
    lines = ["hey, a question about billing", "How do I download my invoice?", "the October one"]
    sent = [await fake.customer_message(fake.text_id, line) for line in lines]
    await fake.wait_for_request("POST", rf"/channels/{sent[0]['id']}/messages")
    await settle(fake, bot)
    (conv,) = conversations(bot)
    assert conv.thread_id == sent[0]["id"]
    for later in sent[1:]:  # no thread and no reply under the follow-up lines
        assert not fake.find_requests("POST", rf"/channels/{later['id']}/messages")
        assert not fake.find_requests("POST", rf"/channels/{fake.text_id}/messages/{later['id']}/threads")


async def test_follow_up_in_the_thread_after_a_handoff_stays_in_it(fake, bot):
    question = await fake.customer_message(fake.text_id, "Quick question: none of our users can log in since 9am")
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    bot.clock.advance(minutes=20)
    await fake.customer_message(question["id"], "still down for everyone, any news?")
    await settle(fake, bot)
    (conv,) = conversations(bot)
    assert conv.thread_id == question["id"]
    with bot.app.uow() as uow:
        texts = [m.text for m in uow.messages.for_conversation(conv.id)]
    assert "still down for everyone, any news?" in texts


async def test_forum_posts_and_their_replies_keep_their_threads(fake, bot):
    post = await fake.forum_post("Invoices", "Where do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{post['id']}/messages")
    bot.clock.advance(seconds=5)
    other = await fake.forum_post("Password", "How do I reset my password?")
    await fake.wait_for_request("POST", rf"/channels/{other['id']}/messages")
    await fake.customer_message(post["id"], "and where is the VAT number?")
    await settle(fake, bot)
    convs = conversations(bot)
    assert {c.thread_id for c in convs} == {post["id"], other["id"]}
