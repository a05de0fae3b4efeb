"""Gateway drops and RESUME, replayed events, 429s and failed deliveries."""

from __future__ import annotations

import pytest

from supportbot.bot.domain import OutboxStatus
from tests.discord_bot.conftest import start_bot


async def _resumed(fake, index: int = 1) -> dict:
    return await fake.wait_until(
        lambda: len(fake.connections) > index and fake.connections[index].get("resumed") and fake.connections[index],
        what="a resumed gateway connection",
    )


async def test_dropped_gateway_resumes_and_replays_missed_events(fake, bot):
    first_session = fake.session.session_id
    await fake.drop_connection(code=4000)
    question = await fake.forum_post("Invoices", "Where do I download my invoice?")  # sent while disconnected
    connection = await _resumed(fake)
    assert connection["path"] == "/resume-gateway"  # READY's resume_gateway_url
    assert connection["resume"]["session_id"] == first_session and connection["resume"]["seq"] >= 2
    assert "identify" not in connection
    reply = await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    assert "Settings → Billing → Invoices" in reply.json["content"]


async def test_events_replayed_after_resume_never_cause_a_second_reply(fake, bot):
    question = await fake.forum_post("Invoices", "Where do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    # Discord delivers at least once: on resume it re-sends the question the bot already answered.
    fake.replay_after = fake.seq_of("MESSAGE_CREATE", question["id"]) - 1
    await fake.drop_connection(code=4000)
    await _resumed(fake)
    replayed = [e for e in fake.session.events if e["t"] == "MESSAGE_CREATE" and e["d"]["id"] == question["id"]]
    assert len(replayed) == 1  # the same event object, sent twice over the wire
    barrier = await fake.forum_post("Password", "How do I reset my password?")
    await fake.wait_for_request("POST", rf"/channels/{barrier['id']}/messages")
    assert len(fake.find_requests("POST", rf"/channels/{question['id']}/messages")) == 1
    with bot.app.uow() as uow:
        assert len([m for m in uow.messages.list() if m.external_id == question["id"]]) == 1


@pytest.mark.parametrize("is_global", [False, True])
async def test_429_is_retried_after_retry_after(fake, bot, is_global):
    thread = fake.snowflake()
    fake.rate_limit("POST", rf"/channels/{thread}/messages", retry_after=0.5, is_global=is_global)
    await fake.customer_message(fake.text_id, "How do I download my invoice?", message_id=thread)
    await fake.wait_for_request("POST", rf"/channels/{thread}/messages", count=2)
    limited, sent = fake.find_requests("POST", rf"/channels/{thread}/messages")
    assert limited.status == 429 and sent.status == 200
    assert sent.at - limited.at >= 0.45

    def all_sent():
        with bot.app.uow() as uow:
            return all(o.status is OutboxStatus.SENT for o in uow.outbox.list())

    await fake.wait_until(all_sent, what="every outbound sent")


async def test_long_429_leaves_the_reply_pending_and_it_is_sent_after_a_restart(fake, tmp_path):
    bot = await start_bot(fake, tmp_path)
    thread = fake.snowflake()
    fake.rate_limit("POST", rf"/channels/{thread}/messages", retry_after=60)
    await fake.customer_message(fake.text_id, "How do I download my invoice?", message_id=thread)
    await fake.wait_for_request("POST", rf"/channels/{thread}/messages")

    def answer():
        with bot.app.uow() as uow:
            return next((o for o in uow.outbox.list() if o.kind.value == "answer"), None)

    pending = await fake.wait_until(
        lambda: (lambda o: o if o and o.attempts else None)(answer()), what="the rate-limited answer"
    )
    assert pending.status is OutboxStatus.PENDING and "retry after 60s" in pending.last_error
    await bot.stop()
    bot.clock.advance(seconds=61)
    restarted = await start_bot(fake, tmp_path, clock=bot.clock)  # start() dispatches what is due
    try:
        sent = await fake.wait_for_request("POST", rf"/channels/{thread}/messages", count=2)
        assert sent.status == 200 and "Settings → Billing → Invoices" in sent.json["content"]
        assert len([r for r in fake.find_requests("POST", rf"/channels/{thread}/messages") if r.status == 200]) == 1
    finally:
        await restarted.stop()


async def test_network_failure_stays_pending_and_is_retried(fake, bot):
    thread = fake.snowflake()
    fake.drop_http("POST", rf"/channels/{thread}/messages")
    await fake.customer_message(fake.text_id, "How do I download my invoice?", message_id=thread)
    await fake.wait_for_request("POST", rf"/channels/{thread}/messages")

    def answer():
        with bot.app.uow() as uow:
            return next((o for o in uow.outbox.list() if o.kind.value == "answer" and o.attempts), None)

    pending = await fake.wait_until(answer, what="the failed answer")
    assert pending.status is OutboxStatus.PENDING and "network error" in pending.last_error
    bot.clock.advance(seconds=5)
    await bot.app.core.dispatch_outbox()
    sent = await fake.wait_for_request("POST", rf"/channels/{thread}/messages", count=2)
    assert sent.status == 200


async def test_missing_access_is_a_permanent_failure(fake, bot):
    thread = fake.snowflake()
    fake.denied_channels.add(thread)
    fake.fail(
        "POST",
        rf"/channels/{fake.text_id}/messages/{thread}/threads",
        status=403,
        body={"message": "Missing Access", "code": 50001},
    )
    await fake.customer_message(fake.text_id, "How do I download my invoice?", message_id=thread)

    def answer():
        with bot.app.uow() as uow:
            return next((o for o in uow.outbox.list() if o.kind.value == "answer" and o.attempts), None)

    failed = await fake.wait_until(answer, what="the failed answer")
    assert failed.status is OutboxStatus.FAILED and "Missing Access" in failed.last_error


async def test_unknown_channel_is_a_permanent_failure(fake, bot):
    thread = fake.snowflake()
    fake.fail("POST", rf"/channels/{thread}/messages", status=404, body={"message": "Unknown Channel", "code": 10003})
    await fake.customer_message(fake.text_id, "How do I download my invoice?", message_id=thread)

    def answer():
        with bot.app.uow() as uow:
            return next((o for o in uow.outbox.list() if o.kind.value == "answer" and o.attempts), None)

    failed = await fake.wait_until(answer, what="the failed answer")
    assert failed.status is OutboxStatus.FAILED and "Unknown Channel" in failed.last_error
    assert len(fake.find_requests("POST", rf"/channels/{thread}/messages")) == 1  # not retried


async def test_reconnect_request_is_resumed(fake, bot):
    await fake.request_reconnect()
    connection = await _resumed(fake)
    assert connection["path"] == "/resume-gateway" and "identify" not in connection
    post = await fake.forum_post("Invoices", "Where do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{post['id']}/messages")


async def test_invalid_session_identifies_again_and_keeps_working(fake, bot):
    fake.forget_sessions()
    await fake.drop_connection(code=4000)
    identified = await fake.wait_until(
        lambda: [c for c in fake.connections[1:] if "identify" in c],
        timeout=15,
        what="a new IDENTIFY after INVALID_SESSION",
    )
    assert "resume" in fake.connections[1]  # it tried to resume first
    assert identified[0]["identify"]["intents"] == fake.connections[0]["identify"]["intents"]
    post = await fake.forum_post("Invoices", "Where do I download my invoice?")
    await fake.wait_for_request("POST", rf"/channels/{post['id']}/messages", timeout=10)


async def test_a_resend_after_a_crash_returns_the_first_message(fake, bot):
    """A sender that posted and died before recording it: the re-send carries the same nonce."""
    thread = fake.snowflake()
    await fake.customer_message(fake.text_id, "How do I download my invoice?", message_id=thread)
    first = await fake.wait_for_request("POST", rf"/channels/{thread}/messages")
    assert first.json["nonce"] and first.json["enforce_nonce"] is True

    def answer():
        with bot.app.uow() as uow:
            return next(o for o in uow.outbox.list() if o.kind.value == "answer")

    await fake.wait_until(lambda: answer().status is OutboxStatus.SENT, what="the answer recorded")
    with bot.app.uow() as uow:  # as if the recording never happened: claimed, lease run out
        item = uow.outbox.get(answer().id)
        item.status, item.external_id = OutboxStatus.PENDING, None
        item.claimed_by, item.claimed_until = "crashed-worker", bot.clock.now()
        uow.outbox.save_delivery(item)
        uow.commit()
    bot.clock.advance(seconds=1)
    await bot.app.core.dispatch_outbox()
    assert len(fake.find_requests("POST", rf"/channels/{thread}/messages")) == 2
    posted = [m for m in fake.messages.values() if m["channel_id"] == thread and m["author"]["id"] == fake.app_id]
    assert len(posted) == 1 and answer().status is OutboxStatus.SENT and answer().external_id == posted[0]["id"]
