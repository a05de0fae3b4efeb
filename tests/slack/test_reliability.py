"""Retries, rate limits, outages, signatures and restarts."""

from __future__ import annotations

import json
from datetime import timedelta

from supportbot.bot.domain import OutboundKind, OutboxStatus
from tests.slack.conftest import (
    ALICE,
    SHARED,
    SHARED_BIG,
    TRIAGE,
    build_app,
    message_event,
    sign,
    slack_service,
    slack_settings,
)


async def test_slack_retry_header_and_duplicate_event_give_one_reply(slack):
    payload = message_event(ALICE, "How do I download my invoice?", user_team="TSMALL")
    assert (await slack.event(payload))[0] == 200
    # Slack retries the same event (same event_id and ts) with X-Slack-Retry-Num.
    status, _ = await slack.event(payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert status == 200
    assert (await slack.event(payload, headers={"X-Slack-Retry-Num": "2"}))[0] == 200
    assert len(slack.fake.posts(SHARED)) == 1
    assert len(slack.fake.of("reactions.add")) == 1
    with slack.app.core.uow() as uow:
        assert len(uow.messages.list()) == 2  # the question and the answer


async def test_concurrent_duplicate_deliveries_give_one_reply(slack):
    payload = message_event(ALICE, "How do I download my invoice?", user_team="TSMALL")
    import asyncio

    results = await asyncio.gather(*(slack.event(payload, drain=False) for _ in range(3)))
    assert [s for s, _ in results] == [200, 200, 200]
    await slack.service.drain(10)
    assert len(slack.fake.posts(SHARED)) == 1


async def test_429_on_post_is_retried_after_retry_after(slack, clock):
    slack.fake.fail("chat.postMessage", 429, retry_after=1)
    event = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    (limited,) = [c for c in slack.fake.calls if c.method == "chat.postMessage" and c.status == 429]
    # the post that got the 429 waits; the other side (customer thread or triage) is not held up by it
    held_back = TRIAGE if limited.params["channel"] == TRIAGE else SHARED
    went_on = SHARED if held_back == TRIAGE else TRIAGE
    assert slack.fake.posts(held_back) == [] and slack.fake.posts(went_on)
    with slack.app.core.uow() as uow:
        pending = [o for o in uow.outbox.list() if o.status is OutboxStatus.PENDING]
    assert pending and all(
        o.next_attempt_at <= clock.now() + timedelta(seconds=1) for o in pending if o.next_attempt_at
    )
    assert any("retry after 1s" in (o.last_error or "") for o in pending)
    await slack.app.core.dispatch_outbox()  # not yet due: nothing is sent before Retry-After
    assert slack.fake.posts(held_back) == []
    clock.advance(seconds=1)
    await slack.app.core.dispatch_outbox()
    answers = slack.fake.posts(SHARED)
    assert len(answers) == 1 and answers[0]["thread_ts"] == event["ts"]
    assert len(slack.fake.posts(TRIAGE)) >= 1
    assert len([c for c in slack.fake.calls if c.method == "chat.postMessage" and c.status == 429]) == 1


async def test_5xx_keeps_the_reply_pending_then_sends_it(slack, clock):
    slack.fake.fail("chat.postMessage", 503, times=2)
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    assert slack.fake.posts(SHARED) == []
    with slack.app.core.uow() as uow:
        answer = next(o for o in uow.outbox.list() if o.kind is OutboundKind.ANSWER)
    assert answer.status is OutboxStatus.PENDING
    clock.advance(seconds=5)
    await slack.app.core.dispatch_outbox()
    clock.advance(seconds=5)
    await slack.app.core.dispatch_outbox()
    assert len(slack.fake.posts(SHARED)) == 1


async def test_channel_not_found_is_permanent(slack):
    slack.fake.fail("chat.postMessage", 200, error="not_in_channel", times=10)
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    with slack.app.core.uow() as uow:
        statuses = {o.kind: o.status for o in uow.outbox.list()}
    assert statuses[OutboundKind.MIRROR_OPEN] is OutboxStatus.FAILED


async def test_users_info_429_is_waited_out(slack):
    slack.fake.fail("users.info", 429, retry_after=1)
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    assert len(slack.fake.posts(SHARED)) == 1
    assert len([c for c in slack.fake.calls if c.method == "users.info"]) == 2


async def _raw_post(slack, body: str, headers: dict) -> int:
    async with slack.session.post(
        slack.url, data=body.encode(), headers={"Content-Type": "application/json", **headers}
    ) as resp:
        return resp.status


async def test_bad_signature_gets_401_and_nothing_is_stored(slack):
    body = json.dumps(message_event(ALICE, "How do I download my invoice?", user_team="TSMALL"))
    assert await _raw_post(slack, body, sign(body, secret="wrong-secret")) == 401
    tampered = sign(body)
    assert await _raw_post(slack, body.replace("invoice", "refund"), tampered) == 401
    assert await _raw_post(slack, body, {}) == 401
    await slack.service.drain(5)
    with slack.app.core.uow() as uow:
        assert uow.messages.list() == []
    assert slack.fake.of("chat.postMessage") == []


async def test_stale_timestamp_gets_401(slack):
    import time

    body = json.dumps(message_event(ALICE, "How do I download my invoice?", user_team="TSMALL"))
    assert await _raw_post(slack, body, sign(body, timestamp=int(time.time()) - 6 * 60)) == 401
    await slack.service.drain(5)
    with slack.app.core.uow() as uow:
        assert uow.messages.list() == []


async def test_url_verification_challenge(slack):
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}
    )
    async with slack.session.post(
        slack.url, data=body, headers={"Content-Type": "application/json", **sign(body)}
    ) as resp:
        assert resp.status == 200
        assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in await resp.text()


async def test_pending_outbox_survives_restart(tmp_path, fake_slack, clock):
    settings = slack_settings(tmp_path, fake_slack)
    first_app = build_app(settings, clock)
    first = slack_service(first_app, port=0)
    await first.start()
    fake_slack.fail("chat.postMessage", 503, times=100)
    import aiohttp

    from tests.slack.conftest import Driver

    async with aiohttp.ClientSession() as session:
        await Driver(first_app, first, fake_slack, session).says(
            "U_BOB", "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG"
        )
    await first.stop()
    assert fake_slack.posts() == []
    fake_slack.faults.clear()
    # A new process: a new App on the same SQLite file.
    second_app = build_app(settings, clock)
    second = slack_service(second_app, port=0)
    await second.start()
    try:
        clock.advance(minutes=10)
        await second_app.core.recover()
        triage = fake_slack.posts(TRIAGE)
        assert any("Draft reply awaiting approval" in json.dumps(p.get("blocks")) for p in triage)
        assert fake_slack.replies(SHARED_BIG) == []  # the draft stays internal
    finally:
        await second.stop()


async def test_http_ack_returns_before_processing_finishes(slack):
    gate = slack.fake.hold("users.info")  # processing cannot finish until the test lets it
    payload = message_event(ALICE, "How do I download my invoice?", user_team="TSMALL")
    status, _ = await slack.event(payload, drain=False)
    assert status == 200
    await slack.fake.wait_for(
        lambda: slack.fake.calls and slack.fake.calls[-1].method == "users.info", what="users.info to be called"
    )
    assert slack.fake.posts() == [] and slack.app.core.intake.busy  # acked (stored), still working
    gate.set()
    await slack.service.drain(10)
    assert len(slack.fake.posts(SHARED)) == 1


async def test_stop_waits_for_work_in_flight(tmp_path, fake_slack, clock):
    import aiohttp

    from tests.slack.conftest import Driver

    app = build_app(slack_settings(tmp_path, fake_slack), clock)
    service = slack_service(app, port=0)
    await service.start()
    gate = fake_slack.hold("users.info")
    async with aiohttp.ClientSession() as session:
        driver = Driver(app, service, fake_slack, session)
        await driver.event(message_event(ALICE, "How do I download my invoice?", user_team="TSMALL"), drain=False)
    await fake_slack.wait_for(lambda: any(c.method == "users.info" for c in fake_slack.calls), what="users.info")
    gate.set()
    await service.stop()
    assert len(fake_slack.posts(SHARED)) == 1


async def test_question_and_quick_follow_up_make_one_conversation(slack):
    """Delivered back to back (Slack does not wait for our ack): processed in channel order.

    The CRM answers over the network in production (it yields to the event loop); without ordering the
    follow-up would look for the conversation while the question is still waiting for its account.
    """
    import asyncio
    import contextlib

    class NetworkCRM:
        """Answers once two lookups are in flight (or after 0.5 s): a race shows up deterministically."""

        def __init__(self, inner) -> None:
            self.inner, self.calls, self.two_in_flight = inner, 0, asyncio.Event()

        async def find_account(self, lookup):
            self.calls += 1
            if self.calls >= 2:
                self.two_in_flight.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.two_in_flight.wait(), 0.5)
            return await self.inner.find_account(lookup)

        async def list_accounts(self):
            return await self.inner.list_accounts()

    slack.app.core.crm = NetworkCRM(slack.app.core.crm)
    root = message_event(ALICE, "The dashboard is down, none of our users can log in", user_team="TSMALL")
    follow = message_event(ALICE, "Still down for all of us", user_team="TSMALL", thread_ts=root["event"]["ts"])
    burst = message_event(ALICE, "Also our exports fail", user_team="TSMALL")
    gate = slack.fake.hold("users.info")
    for payload in (root, follow, burst):
        assert (await slack.event(payload, drain=False))[0] == 200
    gate.set()
    await slack.service.drain(10)
    with slack.app.core.uow() as uow:
        conversations = uow.conversations.list()
        states = [m.state.value for m in uow.messages.list() if m.author_id == ALICE]
    assert states == ["processed", "processed", "processed"]
    assert len(conversations) == 1
    mirrors = [p for p in slack.fake.posts(TRIAGE) if "thread_ts" not in p]
    assert len(mirrors) == 1
    relayed = [p["text"] for p in slack.fake.posts(TRIAGE) if p.get("thread_ts")]
    assert any("Still down for all of us" in t for t in relayed) and any("exports fail" in t for t in relayed)


async def test_an_over_long_message_is_stored_as_rejected_and_answered_in_its_thread(slack):
    from supportbot.bot.domain import MessageState

    event = await slack.says(ALICE, "my invoice " + "x" * 40_020, user_team="TSMALL")
    (reply,) = slack.fake.posts(SHARED)
    assert reply["thread_ts"] == event["ts"] and "40,000" in reply["text"]
    assert slack.fake.posts(TRIAGE) == []  # nothing for agents: nothing was read
    with slack.app.core.uow() as uow:
        (stored,) = uow.messages.list()
    assert stored.state is MessageState.REJECTED and "limit" in (stored.error or "")
    assert stored.external_id == event["ts"] and len(stored.text) == 40_000
    await slack.event(message_event(ALICE, "my invoice " + "x" * 40_020, user_team="TSMALL", ts=event["ts"]))
    assert len(slack.fake.posts(SHARED)) == 1  # Slack's retry: told once
