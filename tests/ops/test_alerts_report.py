"""Alerts post once per level crossing; the weekly report posts once a week; the HTML report renders."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from supportbot.bot.domain import Audience, OutboundKind
from supportbot.bot.metrics import compute_metrics
from supportbot.bot.report import frt_histogram, render_html
from tests.fakes.core import FakeChannel
from tests.ops.conftest import message


def _reports(channel: FakeChannel) -> list:
    return [o for o, _ in channel.sent if o.kind is OutboundKind.REPORT and o.audience is Audience.MANAGERS]


async def test_alerts_post_once_per_crossing_and_on_recovery(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel, operations={"csat_platforms": ["test"], "alert_min_ratings": 3})
    alerts = app.core.alerts
    assert await alerts.check() == []  # all green, nothing posted
    # Four questions answered by the bot; three customers rate the answer 👎 -> CSAT on bot answers 1/4 = 25%
    convs = []
    for n in range(4):
        result = await app.core.handle_inbound(message(clock, "How do I download my invoice?", user=f"U{n}"))
        convs.append(result.conversation_id)
    for n in range(3):
        await app.core.record_feedback(convs[n], positive=False, user_id=f"U{n}")
    await app.core.record_feedback(convs[3], positive=True, user_id="U3")
    posted = await alerts.check()
    assert [(r.name, r.level) for r in posted] == [("csat_auto", "red")]
    assert await alerts.check() == []  # the same level is not posted again
    (alert,) = _reports(channel)
    assert "RED" in alert.text and alert.payload["alert"] == {
        "name": "csat_auto",
        "level": "red",
        "previous": "green",
        "value": 0.25,
    }
    # a second replica sharing the database does not repeat it either
    other = make_app(channel=FakeChannel("test"), uow=app.uow)
    assert await other.core.alerts.check() == []
    # eight days later the bad week is out of the window... and automation fell from 4/4 answered to 0
    clock.advance(days=8)
    await app.core.handle_inbound(message(clock, "I want a refund", user="U9"))
    posted = await alerts.check()
    assert {(r.name, r.level) for r in posted} == {("automation_drop", "red")}
    # csat_auto has too few ratings now: no reading, so no flapping back to green
    assert len(_reports(channel)) == 2


async def test_sla_breach_alert_turns_yellow_then_recovers(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)
    ops = app.core
    await app.core.handle_inbound(message(clock, "production is down", account="acc_ent"))
    clock.advance(minutes=16)
    assert (await ops.sla.sweep()).breaches == 1
    assert [(r.name, r.level) for r in await ops.alerts.check()] == [("sla_breaches", "yellow")]
    clock.advance(hours=25)
    assert [(r.name, r.level) for r in await ops.alerts.check()] == [("sla_breaches", "green")]
    assert "recovered" in _reports(channel)[-1].text
    assert await ops.alerts.check() == []


async def test_weekly_report_is_posted_once_on_the_configured_day(make_app, clock):
    channel = FakeChannel("test")
    app = make_app(channel=channel)  # report Monday from 09:00 in Europe/Berlin
    ops = app.core
    await app.core.handle_inbound(message(clock, "How do I download my invoice?"))
    clock.current = datetime(2026, 11, 30, 7, 59, tzinfo=UTC)  # Monday 08:59 Berlin
    assert await ops.weekly_report.post() is False
    clock.current = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 Berlin
    assert await ops.weekly_report.post() is True
    assert await ops.weekly_report.post() is False
    clock.advance(hours=5)
    assert await ops.weekly_report.post() is False
    (report,) = _reports(channel)
    assert report.text.startswith("Weekly support summary") and "Conversations: 1" in report.text
    svg = base64.b64decode(report.payload["chart"]["base64"]).decode()
    assert svg.startswith("<svg") and report.payload["chart"]["mime_type"] == "image/svg+xml"
    clock.advance(days=7)
    assert await ops.weekly_report.post() is True
    assert len(_reports(channel)) == 2


async def test_html_report_is_self_contained_and_shows_the_numbers(make_app, clock):
    app = make_app()
    await app.core.handle_inbound(message(clock, "How do I download my invoice?", user="U1"))
    await app.core.handle_inbound(message(clock, "I want a <script>refund</script>", user="U2"))
    with app.uow() as uow:
        metrics = compute_metrics(uow, clock.now() - timedelta(days=7), clock.now() + timedelta(hours=1))
    page = render_html(metrics)
    assert page.count("<svg") == 4
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "Automated resolution" in page and "Knowledge gaps" in page
    assert "SLA compliance by account tier" in page
    assert ">50%<" in page  # 1 of 2 conversations resolved automatically (provisionally)


def test_frt_histogram_buckets():
    assert [c for _, c in frt_histogram([10, 59, 60, 400, 5000, 90000])] == [2, 1, 1, 0, 1, 0, 1]


async def test_support_stats_shows_sla_and_csat(make_app, clock):
    from supportbot.bot.commands import Actor
    from supportbot.bot.domain import Role

    app = make_app()
    result = await app.core.handle_inbound(message(clock, "How do I download my invoice?", user="U1"))
    await app.core.record_feedback(result.conversation_id, positive=True, user_id="U1", score=5)
    reply = await app.support.run(Actor("U_BOSS", Role.MANAGER, "Boss"), "stats 7d")
    assert "CSAT: 100% of 1 ratings (bot answers 100%)" in reply.text
    assert "SLA compliance:" in reply.text
