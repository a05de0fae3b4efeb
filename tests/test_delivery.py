"""Delivery through the outbox, against a fake channel: pacing, giving up by time, dead letters, re-sends."""

from __future__ import annotations

from datetime import timedelta

from supportbot.bot.commands import Actor
from supportbot.bot.domain import OutboundKind, OutboxStatus, Role
from supportbot.bot.errors import DeliveryError, RateLimited
from supportbot.bot.ports import Pace
from tests.conftest import Customer

MANAGER = Actor("U_BOSS", Role.MANAGER, "Morgan")
AGENT = Actor("U_AGENT", Role.AGENT, "Sam")


def _outbox(app):
    with app.core.uow() as uow:
        return uow.outbox.list()


async def _questions(app, clock, count: int) -> None:
    for n in range(count):
        await Customer(app, clock, user=f"U_{n}").says("How do I download my invoice?")


async def test_staff_posts_follow_the_channel_budget(app, clock, channel):
    channel.budget = Pace("triage", per_second=1.0, burst=2)
    await _questions(app, clock, 5)

    def staff_sent() -> int:
        return len([o for o, _ in channel.sent if o.audience.value != "customer"])

    assert staff_sent() == 2  # the burst; the rest wait for the budget, they are not failed
    assert len(channel.texts(audience="customer", kind="answer")) == 5  # customers are not held up
    clock.advance(seconds=1)
    await app.core.dispatch_outbox()
    assert staff_sent() == 3
    staff_total = len([o for o in _outbox(app) if o.audience.value != "customer"])
    for _ in range(staff_total):
        clock.advance(seconds=1)
        await app.core.dispatch_outbox()
    assert staff_sent() == staff_total and all(o.status is OutboxStatus.SENT for o in _outbox(app))


async def test_a_429_holds_every_post_of_its_budget_until_retry_after(app, clock, channel):
    channel.budget = Pace("triage", per_second=10.0, burst=10)
    channel.fail_next(RateLimited(30), kind=OutboundKind.MIRROR_OPEN)
    await _questions(app, clock, 3)
    staff = [o for o, _ in channel.sent if o.audience.value != "customer"]
    assert staff == []  # after the 429 nobody hammers the triage channel
    clock.advance(seconds=29)
    await app.core.dispatch_outbox()
    assert [o for o, _ in channel.sent if o.audience.value != "customer"] == []
    clock.advance(seconds=2)
    await app.core.dispatch_outbox()  # one post probes the platform first...
    probes = [c for c, _ in channel.sent if c.audience.value != "customer"]
    assert len(probes) == 1
    clock.advance(seconds=2)
    await app.core.dispatch_outbox()  # ...and once it went through, the rest follow
    assert len([o for o, _ in channel.sent if o.kind is OutboundKind.MIRROR_OPEN]) == 3


async def test_a_long_rate_limit_delays_delivery_but_never_fails_it_early(app, clock, channel, alice):
    for _ in range(60):
        channel.fail_next(RateLimited(60), kind=OutboundKind.ANSWER)
    await alice.says("How do I download my invoice?")
    for _ in range(40):  # 40 minutes of 429s: many more attempts than any fixed count
        clock.advance(seconds=61)
        await app.core.dispatch_outbox()
    (answer,) = [o for o in _outbox(app) if o.kind is OutboundKind.ANSWER]
    assert answer.status is OutboxStatus.PENDING and answer.attempts > 8
    channel.failures.clear()
    clock.advance(seconds=61)
    await app.core.dispatch_outbox()
    assert len(channel.texts(kind="answer")) == 1


async def test_after_the_give_up_time_it_is_a_dead_letter_that_a_manager_can_send_again(app, clock, channel, alice):
    for _ in range(100):
        channel.fail_next(DeliveryError("Slack is down (HTTP 503)"), kind=OutboundKind.ANSWER)
    await alice.says("How do I download my invoice?")
    for _ in range(30):
        clock.advance(hours=1)
        await app.core.dispatch_outbox()
    (answer,) = [o for o in _outbox(app) if o.kind is OutboundKind.ANSWER]
    assert answer.status is OutboxStatus.FAILED and "gave up after 1 day" in answer.last_error
    listed = await app.core.support.run(AGENT, "failed")
    assert answer.id in listed.text and "HTTP 503" in listed.text
    assert not (await app.core.support.run(AGENT, f"retry {answer.id}")).ok  # managers only
    channel.failures.clear()
    reply = await app.core.support.run(MANAGER, f"retry {answer.id}")
    assert reply.ok and "1 failed item" in reply.text
    await app.core.dispatch_outbox()
    assert len(channel.texts(kind="answer")) == 1
    (answer,) = [o for o in _outbox(app) if o.kind is OutboundKind.ANSWER]
    assert answer.status is OutboxStatus.SENT
    assert "Nothing failed" in (await app.core.support.run(AGENT, "failed")).text


async def test_a_lapsed_claim_is_checked_with_the_platform_before_posting_again(app, clock, channel, alice):
    await alice.says("How do I download my invoice?")
    (answer,) = [o for o in _outbox(app) if o.kind is OutboundKind.ANSWER]
    with app.core.uow() as uow:  # the sender posted it, then died before recording: claimed, lease ran out
        item = uow.outbox.get(answer.id)
        item.status, item.external_id = OutboxStatus.PENDING, None
        item.claimed_by, item.claimed_until = "dead-replica", clock.now() - timedelta(seconds=1)
        uow.outbox.save_delivery(item)
        uow.commit()
    await app.core.dispatch_outbox()
    assert channel.lookups == [answer.id]
    assert len(channel.texts(kind="answer")) == 1  # found, not posted again
    (answer,) = [o for o in _outbox(app) if o.kind is OutboundKind.ANSWER]
    assert answer.status is OutboxStatus.SENT and answer.external_id == f"found-{answer.id}"


async def test_items_behind_a_mirror_that_failed_for_good_fail_with_it(app, clock, channel, alice):
    channel.fail_next(DeliveryError("channel_not_found", permanent=True), kind=OutboundKind.MIRROR_OPEN)
    await alice.says("Our whole team is locked out, production is down!")
    await app.core.dispatch_outbox()
    staff = [o for o in _outbox(app) if o.audience.value == "staff"]
    assert staff and all(o.status is OutboxStatus.FAILED for o in staff)  # none left pending forever
