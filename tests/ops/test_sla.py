"""SLA due times, business hours, the waiting pause and the sweep's claims."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest

from supportbot.bot.domain import Audience, Conversation, ConversationStatus, OutboundKind, Urgency
from supportbot.bot.settings import SlaSettings
from supportbot.bot.sla import BusinessCalendar, SlaPolicy
from tests.fakes.core import FakeChannel
from tests.ops.conftest import message

BERLIN = BusinessCalendar("Europe/Berlin", [0, 1, 2, 3, 4], time(9), time(18), [date(2026, 12, 25)])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- business calendar
def test_business_minutes_skip_nights_weekends_and_holidays():
    # Fri 27 Nov 2026 16:00 Berlin (15:00 UTC) + 4 business hours: 2 h on Friday, 2 h on Monday -> Mon 11:00 Berlin
    assert BERLIN.add(utc(2026, 11, 27, 15, 0), 240) == utc(2026, 11, 30, 10, 0)
    # Saturday counts nothing: starts Monday 09:00 Berlin (08:00 UTC)
    assert BERLIN.add(utc(2026, 11, 28, 12, 0), 30) == utc(2026, 11, 30, 8, 30)
    # Thu 24 Dec 17:00 Berlin + 2 h: 1 h on Thursday, Fri 25th is a holiday, weekend -> Mon 28 Dec 10:00 Berlin
    assert BERLIN.add(utc(2026, 12, 24, 16, 0), 120) == utc(2026, 12, 28, 9, 0)
    # elapsed is the inverse of add
    assert BERLIN.elapsed(utc(2026, 11, 27, 15, 0), utc(2026, 11, 30, 10, 0)) == pytest.approx(240)
    assert BERLIN.elapsed(utc(2026, 11, 28, 0, 0), utc(2026, 11, 29, 23, 0)) == 0


def test_business_hours_follow_daylight_saving_time():
    # Berlin switches to CEST on Sun 29 Mar 2026: 09:00 local is 08:00 UTC before and 07:00 UTC after
    # Fri 17:30 CET + 60 min: 30 min on Friday, 30 min Monday -> Mon 09:30 CEST = 07:30 UTC
    assert BERLIN.add(utc(2026, 3, 27, 16, 30), 60) == utc(2026, 3, 30, 7, 30)


def test_targets_per_tier_and_urgency_with_fallbacks():
    policy = SlaPolicy(SlaSettings())
    enterprise = policy.target("enterprise", Urgency.CRITICAL)
    assert (enterprise.first_response_minutes, enterprise.business_hours) == (15, False)
    assert policy.target("pro", Urgency.NORMAL).first_response_minutes == 240
    assert policy.target("free", Urgency.CRITICAL).first_response_minutes == 540  # free: one business day
    assert policy.target(None, Urgency.HIGH).first_response_minutes == 540  # unknown account: "*"
    assert policy.target("platinum", Urgency.LOW).first_response_minutes == 540


def test_standing_is_the_clock_due_first_and_its_risk():
    policy = SlaPolicy(SlaSettings())  # enterprise critical: first response in 15 wall-clock minutes, warn at 75%
    opened = utc(2026, 11, 26, 9, 0)
    conv = Conversation("c1", "t", "w", "ch", "th", "cust", "acc", opened, opened, urgency=Urgency.CRITICAL)
    conv.first_response_due_at, conv.resolution_due_at = policy.compute_due(opened, "enterprise", Urgency.CRITICAL)
    on_track = policy.standing(conv, "enterprise", opened + timedelta(minutes=5))
    assert on_track is not None and on_track.risk == "on_track" and on_track.clock.clock == "frt"
    assert on_track.clock.due_at == opened + timedelta(minutes=15)
    assert policy.standing(conv, "enterprise", opened + timedelta(minutes=12)).risk == "at_risk"
    late = policy.standing(conv, "enterprise", opened + timedelta(minutes=17))
    assert late.risk == "breached" and late.clock.remaining_minutes == pytest.approx(-2)
    conv.first_response_at = opened + timedelta(minutes=3)  # answered: the resolution clock is the one due
    assert policy.standing(conv, "enterprise", opened + timedelta(minutes=17)).clock.clock == "resolution"
    conv.status = ConversationStatus.WAITING_ON_CUSTOMER  # no clock runs
    assert policy.standing(conv, "enterprise", opened + timedelta(minutes=17)) is None


# ---------------------------------------------------------------- due times on conversations
async def test_due_times_are_set_when_a_conversation_opens(make_app, clock):
    app = make_app()
    # Thu 26 Nov 09:00 UTC = 10:00 Berlin. pro/normal: FRT 4 business hours -> 14:00 Berlin = 13:00 UTC
    first = await app.core.handle_inbound(message(clock, "I want a refund", message_id="m1"))
    with app.uow() as uow:
        conv = uow.conversations.get(first.conversation_id)
    assert conv.first_response_due_at == utc(2026, 11, 26, 13, 0)
    # resolution: 3 business days of 9 h = 27 h -> Tue 1 Dec 10:00 Berlin (Thu 8 h, Fri 9 h, Mon 9 h, Tue 1 h)
    assert conv.resolution_due_at == utc(2026, 12, 1, 9, 0)


async def test_due_times_tighten_when_urgency_rises_and_keep_the_pause(make_app, clock):
    app = make_app()
    first = await app.core.handle_inbound(message(clock, "How do I download my invoice?", message_id="m1"))
    clock.advance(minutes=5)  # the clock was paused for these 5 minutes (we had answered)
    await app.core.handle_inbound(message(clock, "now the whole system is down", thread="m1", message_id="m2"))
    with app.uow() as uow:
        conv = uow.conversations.get(first.conversation_id)
    assert conv.urgency is Urgency.CRITICAL and conv.status is ConversationStatus.OPEN
    # pro/critical is 24/7: FRT 60 min and resolution 8 h from the start, plus the 5 paused minutes
    assert conv.first_response_due_at == utc(2026, 11, 26, 10, 0)
    assert conv.resolution_due_at == utc(2026, 11, 26, 17, 5)


async def test_waiting_on_the_customer_pauses_the_resolution_clock(make_app, clock):
    app = make_app()
    result = await app.core.handle_inbound(message(clock, "How do I download my invoice?", message_id="q1"))
    with app.uow() as uow:
        conv = uow.conversations.get(result.conversation_id)
    assert conv.status is ConversationStatus.WAITING_ON_CUSTOMER
    before = conv.resolution_due_at
    # The answer went out at 09:00 UTC Thursday; the customer writes back 25 h later, Fri 10:00 UTC.
    # Paused business time: Thu 10:00-18:00 Berlin (8 h) + Fri 09:00-11:00 Berlin (2 h) = 600 min.
    clock.advance(hours=25)
    await app.core.handle_inbound(message(clock, "one more thing about the invoice", thread="q1", message_id="q2"))
    with app.uow() as uow:
        conv = uow.conversations.get(result.conversation_id)
        pauses = uow.sla_events.list(conversation_id=conv.id, kinds=["pause"])
    assert [round(p.detail["business_minutes"]) for p in pauses] == [600]
    assert conv.resolution_due_at == BERLIN.add(before, 600)


# ---------------------------------------------------------------- the sweep
def _sla_notices(channel: FakeChannel, level: str) -> list:
    return [
        o for o, _ in channel.sent if o.kind is OutboundKind.NOTICE and o.payload.get("sla", {}).get("level") == level
    ]


async def test_critical_enterprise_conversation_warns_escalates_and_breaches_on_time(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)
    sweep = app.core.sla.sweep
    result = await app.core.handle_inbound(message(clock, "production is down for everyone", account="acc_ent"))
    assert result.decision.action.value == "handoff"
    # enterprise/critical: 15 min 24/7. Warning at 75% = 11:15, escalation at 90% = 13:30, breach at 15:00.
    clock.advance(minutes=11, seconds=14)
    assert (await sweep()).warnings == 0
    clock.advance(seconds=1)
    assert (await sweep()).warnings == 1
    (warning,) = _sla_notices(channel, "warning")
    assert warning.audience is Audience.STAFF and "first response" in warning.text
    clock.advance(minutes=2, seconds=14)  # 13:29
    assert await sweep() == type(await sweep())()  # nothing new
    clock.advance(seconds=1)  # 13:30
    assert (await sweep()).escalations == 1
    (escalation,) = _sla_notices(channel, "escalation")
    assert escalation.payload["mentions"] == ["U_ONCALL"] and "@U_ONCALL" in escalation.text
    clock.advance(minutes=1, seconds=30)  # 15:00
    assert (await sweep()).breaches == 1
    for _ in range(3):
        await sweep()
    assert len(_sla_notices(channel, "warning")) == len(_sla_notices(channel, "escalation")) == 1
    assert len(_sla_notices(channel, "breach")) == 1
    with app.uow() as uow:
        kinds = sorted(e.kind for e in uow.sla_events.list(conversation_id=result.conversation_id))
    assert kinds == ["frt_breach", "frt_escalation", "frt_warning"]


async def test_escalation_mentions_the_assignee_first(make_app, clock):
    from supportbot.bot.commands import Actor, ClaimHandoff
    from supportbot.bot.domain import Role

    channel = FakeChannel("test")
    app = make_app(channel=channel)
    result = await app.core.handle_inbound(message(clock, "production is down", account="acc_ent"))
    await app.commands.execute(ClaimHandoff(result.handoff_id, Actor("U_SAM", Role.AGENT, "Sam")))
    clock.advance(minutes=14)
    await app.core.sla.sweep()
    (escalation,) = _sla_notices(channel, "escalation")
    assert escalation.payload["mentions"] == ["U_SAM", "U_ONCALL"]
    # a sweep that finds 75% and 90% already passed posts the escalation, records the warning silently
    assert _sla_notices(channel, "warning") == []


async def test_warnings_cross_business_hours_days_and_a_restart(make_app, clock, backend_url):
    channel = FakeChannel("test")
    clock.current = utc(2026, 11, 27, 15, 0)  # Friday 16:00 Berlin
    app = make_app(backend_url, channel=channel)
    result = await app.core.handle_inbound(message(clock, "I want a refund", message_id="r1"))
    # pro/normal FRT = 240 business minutes, due Mon 30 Nov 11:00 Berlin (10:00 UTC).
    # 75% = 180 min: 120 min on Friday + 60 min Monday -> Mon 10:00 Berlin (09:00 UTC).
    # 90% = 216 min -> Mon 10:36 Berlin (09:36 UTC).
    sweep = app.core.sla.sweep
    for moment in (utc(2026, 11, 27, 16, 59), utc(2026, 11, 28, 12, 0), utc(2026, 11, 30, 8, 59)):
        clock.current = moment
        assert (await sweep()).warnings == 0, moment
    clock.current = utc(2026, 11, 30, 9, 0)
    assert (await sweep()).warnings == 1

    # restart: a new core on the same database, with a fresh channel
    channel2 = FakeChannel("test")
    restarted = make_app(backend_url, channel=channel2)
    sweep2 = restarted.core.sla.sweep
    assert await sweep2() == type(await sweep2())()  # the warning is not repeated after the restart
    clock.current = utc(2026, 11, 30, 9, 35)
    assert (await sweep2()).escalations == 0
    clock.current = utc(2026, 11, 30, 9, 36)
    assert (await sweep2()).escalations == 1
    assert (await sweep()).escalations == 0  # the old replica does not escalate again
    assert len(_sla_notices(channel, "warning")) == 1 and len(_sla_notices(channel2, "escalation")) == 1
    with restarted.uow() as uow:
        events = [e.kind for e in uow.sla_events.list(conversation_id=result.conversation_id)]
    assert sorted(events) == ["frt_escalation", "frt_warning"]


async def test_two_schedulers_on_one_database_escalate_exactly_once(make_app, clock, backend_url):
    first = make_app(backend_url)
    second = make_app(backend_url)
    convs = []
    for n in range(6):
        result = await first.core.handle_inbound(
            message(clock, "production is down", account="acc_ent", user=f"U{n}", message_id=f"d{n}")
        )
        convs.append(result.conversation_id)
    clock.advance(minutes=14)  # past 75% and 90% of 15 minutes: one escalation each (warning recorded)

    def run(app) -> None:
        for _ in range(3):
            asyncio.run(app.core.sla.sweep(dispatch=False))

    threads = [threading.Thread(target=run, args=(app,)) for app in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    # whatever lost a race retries on the next sweep, and still nothing is doubled
    await first.core.sla.sweep(dispatch=False)
    await second.core.sla.sweep(dispatch=False)
    with first.uow() as uow:
        events = uow.sla_events.list(kinds=["frt_warning", "frt_escalation"])
        notices = [o for c in convs for o in uow.outbox.list(conversation_id=c) if o.payload.get("sla")]
    assert sorted((e.conversation_id, e.kind) for e in events) == sorted(
        (c, k) for c in convs for k in ("frt_escalation", "frt_warning")
    )
    assert sorted((o.conversation_id, o.payload["sla"]["level"]) for o in notices) == sorted(
        (c, "escalation") for c in convs
    )


async def test_answered_and_waiting_conversations_are_not_swept(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)
    await app.core.handle_inbound(message(clock, "How do I download my invoice?"))
    clock.advance(days=10)
    assert await app.core.sla.sweep() == type(await app.core.sla.sweep())()
    assert _sla_notices(channel, "breach") == []


def test_sla_settings_validate():
    from supportbot.adapters.settings import load_settings
    from supportbot.bot.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="SUPPORTBOT_SLA__TIMEZONE"):
        load_settings(sla={"timezone": "Mars/Olympus"})
    with pytest.raises(ConfigurationError):
        load_settings(sla={"warn_at": 0.9, "escalate_at": 0.8})
    assert load_settings(sla={"timezone": "America/New_York"}).sla.timezone == "America/New_York"
    assert timedelta(minutes=SlaSettings().targets["enterprise"]["critical"].first_response_minutes) == timedelta(
        minutes=15
    )


def test_configured_targets_merge_over_the_defaults():
    from supportbot.adapters.settings import load_settings

    sla = load_settings(
        sla={
            "targets": {
                "enterprise": {
                    "critical": {"first_response_minutes": 5, "resolution_minutes": 60, "business_hours": False}
                }
            }
        }
    ).sla
    policy = SlaPolicy(sla)
    assert policy.target("enterprise", Urgency.CRITICAL).first_response_minutes == 5
    assert policy.target("enterprise", Urgency.HIGH).first_response_minutes == 60  # default kept
    assert policy.target(None, Urgency.LOW).first_response_minutes == 540


async def test_scheduler_jobs_are_registered_and_run_the_sweeps(make_app, clock):
    from supportbot.adapters.runtime import build_scheduler

    channel = FakeChannel("test")
    app = make_app(channel=channel)
    scheduler = build_scheduler(app)
    assert {"sla_sweep", "lifecycle_sweep", "alerts", "weekly_report"} <= {job.id for job in scheduler.get_jobs()}
    await app.core.handle_inbound(message(clock, "production is down", account="acc_ent"))
    clock.advance(minutes=14)
    (job,) = [j for j in app.jobs if j.name == "sla_sweep"]
    assert job.seconds == app.settings.sla.sweep_seconds  # the configured interval is the scheduler's
    await job.run()
    await job.run()  # claimed: a second run (or replica) posts nothing new
    assert len(_sla_notices(channel, "escalation")) == 1
