"""The client connects to the fake gateway and answers questions in threads."""

from __future__ import annotations

from tests.discord_bot.conftest import start_bot
from tests.discord_bot.fake_discord import (
    GUILD_MESSAGE_REACTIONS,
    GUILD_MESSAGES,
    GUILDS,
    MESSAGE_CONTENT,
    FakeDiscord,
)


async def test_client_identifies_with_intents_and_gets_the_guild(fake, bot):
    (connection,) = fake.connections
    assert connection["path"] == "/gateway"  # learned from GET /gateway/bot on our REST base
    assert connection["query"] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    identify = connection["identify"]
    assert identify["intents"] == GUILDS | GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS | MESSAGE_CONTENT
    assert fake.find_requests("GET", "/gateway/bot") and fake.find_requests("GET", "/users/@me")
    guild = bot.client.get_guild(int(fake.guild_id))
    assert guild is not None and guild.get_channel(int(fake.forum_id)).type.value == 15
    assert fake.heartbeats >= 1  # discord.py heartbeats right after HELLO; the fake ACKs with op 11


async def test_heartbeats_follow_hello_interval_and_are_acknowledged(tmp_path):
    fake = await FakeDiscord(heartbeat_interval_ms=100).start()
    try:
        bot = await start_bot(fake, tmp_path)
        try:
            await fake.wait_until(lambda: fake.heartbeats >= 4, what="four heartbeats")
            assert bot.client.latency < 1.0  # measured from our op 11 ACKs
            assert fake.connected() and len(fake.connections) == 1  # ACKed: no zombie reconnect
        finally:
            await bot.stop()
    finally:
        await fake.close()


async def test_question_in_text_channel_is_answered_in_a_new_thread(fake, bot):
    question = await fake.customer_message(fake.text_id, "How do I download my invoice?")
    reply = await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    thread = fake.find_requests("POST", rf"/channels/{fake.text_id}/messages/{question['id']}/threads")[0]
    assert thread.json["name"] == "How do I download my invoice?"
    assert thread.at < reply.at
    assert "Settings → Billing → Invoices" in reply.json["content"]
    content = reply.json["content"]
    assert "https://docs.example.com/download-invoices" in content
    # Discord markdown: the source once, as a masked link, link previews suppressed; no > quoting
    assert content.count("https://docs.example.com/download-invoices") == 1
    assert "[Downloading invoices](https://docs.example.com/download-invoices)" in content
    assert reply.json["flags"] & 4  # SUPPRESS_EMBEDS
    assert not any(line.startswith(">") for line in content.splitlines())
    assert reply.json["allowed_mentions"] == {"parse": []}
    # 👀 on the question, in the channel it was asked in
    await fake.wait_for_request("PUT", rf"/channels/{fake.text_id}/messages/{question['id']}/reactions/.+/@me")


async def test_reply_in_the_thread_continues_the_conversation(fake, bot):
    question = await fake.customer_message(fake.text_id, "How do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    await fake.customer_message(question["id"], "That worked, but what about my password?")
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages", count=2)
    with bot.app.uow() as uow:
        conversations = uow.conversations.list()
    assert len(conversations) == 1
    assert conversations[0].thread_id == question["id"] and conversations[0].channel_id == fake.text_id
    assert conversations[0].workspace_id == fake.guild_id
