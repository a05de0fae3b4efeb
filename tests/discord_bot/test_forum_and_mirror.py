"""Forum posts, forum tags, and the staff mirror thread in the triage channel."""

from __future__ import annotations

from supportbot.bot.domain import MessageKind
from tests.discord_bot.helpers import conversation, mirror_of


async def test_forum_post_is_answered_in_its_thread_and_tagged(fake, bot):
    post = await fake.forum_post("Invoices", "Where do I download my invoice?")
    reply = await fake.wait_for_request("POST", rf"/channels/{post['id']}/messages")
    assert "Settings → Billing → Invoices" in reply.json["content"]
    # a forum post is its own thread: no thread is created for it
    assert not fake.find_requests("POST", rf"/channels/({fake.forum_id}|{post['id']})/messages/\d+/threads")
    tags = await fake.wait_for_request("PATCH", rf"/channels/{post['id']}")
    assert set(tags.json["applied_tags"]) == {fake.tags["invoice"], fake.tags["waiting_on_customer"]}
    conv = conversation(bot)
    assert (conv.channel_id, conv.thread_id, conv.workspace_id) == (fake.forum_id, post["id"], fake.guild_id)
    # 👀 on the starter message, which lives in the post's thread
    await fake.wait_for_request("PUT", rf"/channels/{post['id']}/messages/{post['id']}/reactions/.+/@me")


async def test_forum_reply_continues_the_post_conversation(fake, bot):
    post = await fake.forum_post("Invoices", "Where do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{post['id']}/messages")
    await fake.customer_message(post["id"], "and how do I reset my password?")
    await fake.wait_for_request("POST", rf"/channels/{post['id']}/messages", count=2)
    conv = conversation(bot)
    with bot.app.uow() as uow:
        customer = [m for m in uow.messages.for_conversation(conv.id) if m.kind is MessageKind.CUSTOMER]
    assert len(customer) == 2


async def test_two_forum_posts_are_two_conversations(fake, bot):
    first = await fake.forum_post("Invoices", "Where do I download my invoice?")
    second = await fake.forum_post("Password", "How do I reset my password?")
    await fake.wait_for_request("POST", rf"/channels/{first['id']}/messages")
    await fake.wait_for_request("POST", rf"/channels/{second['id']}/messages")
    with bot.app.uow() as uow:
        assert {c.thread_id for c in uow.conversations.list()} == {first["id"], second["id"]}


async def test_each_conversation_gets_a_mirror_thread_in_triage(fake, bot):
    question = await fake.customer_message(fake.text_id, "How do I download my invoice?")
    staff_thread = await mirror_of(fake, bot)
    card = fake.messages[staff_thread]  # a thread started from a message has the message's id
    assert card["channel_id"] == fake.triage_id
    (embed,) = card["embeds"]
    assert embed["title"].startswith("New conversation: Alice (Nimbus Fans)")
    assert embed["url"] == f"https://discord.com/channels/{fake.guild_id}/{question['id']}"  # jump to the thread
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Intent"] == "invoice (97%)" and fields["Tier"] == "starter"
    assert fake.channels[staff_thread]["parent_id"] == fake.triage_id
    notice = await fake.wait_for_request("POST", rf"/channels/{staff_thread}/messages")
    assert notice.json["content"].startswith("Answered automatically")
    # the customer's later reply is relayed into the mirror thread
    await fake.customer_message(question["id"], "thanks, and where is the VAT number?")
    relay = await fake.wait_for_request("POST", rf"/channels/{staff_thread}/messages", count=2)
    assert relay.json["content"] == "Alice: thanks, and where is the VAT number?"
    assert relay.json["allowed_mentions"] == {"parse": []}


async def test_agent_message_in_mirror_is_relayed_and_notes_are_not(fake, bot):
    question = await fake.customer_message(fake.text_id, "Our SSO login loops, none of our users can log in")
    staff_thread = await mirror_of(fake, bot)
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")  # hand-off acknowledgement
    await fake.customer_message(staff_thread, "// looks like their IdP cert expired", author=fake.agent)
    await fake.customer_message(
        staff_thread, "Hi @everyone, we're on it: your IdP certificate expired.", author=fake.agent
    )
    relayed = await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages", count=2)
    assert relayed.json["content"] == "Hi @everyone, we're on it: your IdP certificate expired."
    assert relayed.json["allowed_mentions"] == {"parse": []}
    customer_side = [r.json["content"] for r in fake.find_requests("POST", rf"/channels/{question['id']}/messages")]
    assert not any("IdP cert expired" in text for text in customer_side)
    with bot.app.uow() as uow:
        kinds = [m.kind for m in uow.messages.for_conversation(conversation(bot).id)]
    assert MessageKind.INTERNAL_NOTE in kinds


async def test_customer_typing_in_triage_thread_is_ignored(fake, bot):
    await fake.customer_message(fake.text_id, "Our SSO login loops, none of our users can log in")
    staff_thread = await mirror_of(fake, bot)
    await fake.customer_message(staff_thread, "let me answer myself", author=fake.outsider)
    await fake.customer_message(fake.general_id, "random chat")
    barrier = await fake.forum_post("Invoices", "How do I download my invoice?")  # handled after those
    await fake.wait_for_request("POST", rf"/channels/{barrier['id']}/messages")
    with bot.app.uow() as uow:
        texts = [m.text for m in uow.messages.list()]
    assert "let me answer myself" not in texts and "random chat" not in texts


async def test_message_in_a_thread_missing_from_the_cache_is_looked_up(fake, bot):
    thread = fake.archived_thread(fake.forum_id)  # never announced over the gateway
    await fake.customer_message(thread["id"], "Where do I download my invoice?", message_id=thread["id"])
    reply = await fake.wait_for_request("POST", rf"/channels/{thread['id']}/messages")
    assert "Settings → Billing → Invoices" in reply.json["content"]
    assert fake.find_requests("GET", rf"/channels/{thread['id']}")
    assert conversation(bot).channel_id == fake.forum_id


async def test_forum_tags_follow_a_resolution_made_elsewhere(fake, bot):
    from supportbot.bot.commands import Actor, ResolveConversation
    from supportbot.bot.domain import Role

    post = await fake.forum_post("Invoices", "Where do I download my invoice?")
    await fake.wait_for_request("PATCH", rf"/channels/{post['id']}")
    # e.g. from the playground or an operations job: not through a Discord button
    await bot.app.commands.execute(ResolveConversation(conversation(bot).id, Actor("U1", Role.AGENT, "Sam")))
    tagged = await fake.wait_for_request("PATCH", rf"/channels/{post['id']}", count=2)
    assert set(tagged.json["applied_tags"]) == {fake.tags["invoice"], fake.tags["resolved"]}
