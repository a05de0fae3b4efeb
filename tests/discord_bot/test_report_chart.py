"""The weekly report: summary text plus the chart as an attachment (multipart/form-data) in triage."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from supportbot.bot.domain import OutboundKind


async def test_weekly_report_sends_the_summary_with_the_chart_attached(fake, bot):
    bot.clock.current = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday, after the report hour (UTC)
    assert await bot.app.core.weekly_report.post() is True
    with bot.app.uow() as uow:
        (report,) = [o for o in uow.outbox.list() if o.kind is OutboundKind.REPORT]
    chart = report.payload["chart"]

    def posted():
        return [m for m in fake.bot_messages(fake.triage_id) if m["content"].startswith("Weekly support summary")]

    (message,) = await fake.wait_until(posted, what="the weekly summary in triage")
    (attachment,) = message["attachments"]
    assert attachment["filename"] == chart["filename"] and chart["filename"].endswith(".svg")
    data = fake.attachment_data[attachment["id"]]
    assert data == base64.b64decode(chart["base64"]) and data.startswith(b"<svg")
    (request,) = [r for r in fake.find_requests("POST", rf"/channels/{fake.triage_id}/messages") if r.files]
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert request.json["attachments"] == [
        {"id": 0, "filename": chart["filename"], "description": "Weekly support chart"}
    ]
    assert request.files[0]["field"] == "files[0]" and request.files[0]["filename"] == chart["filename"]
