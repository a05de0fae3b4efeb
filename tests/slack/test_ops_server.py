"""Under `supportbot run` the Slack service mounts /slack/events on the runtime's ops server."""

from __future__ import annotations

import json

import aiohttp

from supportbot.adapters.bootstrap import build_ops_server
from supportbot.adapters.slack.service import SlackService
from tests.slack.conftest import ALICE, SHARED, build_app, message_event, sign, slack_settings


async def test_http_mode_mounts_events_beside_healthz_and_metrics(tmp_path, fake_slack, clock):
    app = build_app(slack_settings(tmp_path, fake_slack, http_port=0), clock)
    app.ops = build_ops_server(app)
    app.ops.health.cache_seconds = 0
    service = SlackService(app.core, app.settings, ops=app.ops)
    app.core.channels.add(service.channel)
    app.services[service.name] = service
    await app.ops.start()
    try:
        async with aiohttp.ClientSession(base_url=app.ops.url) as session:
            async with session.get("/healthz") as resp:
                body = await resp.json()
                assert body["status"] == "degraded" and body["checks"]["slack"]["ok"] is False  # not started yet
            await service.start()
            assert service.bound_port is None  # no server of its own
            event = json.dumps(message_event(ALICE, "How do I download my invoice?", user_team="TSMALL"))
            headers = {"Content-Type": "application/json", **sign(event)}
            async with session.post("/slack/events", data=event, headers=headers) as resp:
                assert resp.status == 200
            await service.drain(10)
            assert len(fake_slack.posts(SHARED)) == 1
            async with session.get("/healthz") as resp:
                body = await resp.json()
                assert resp.status == 200 and body["status"] == "ok"
                assert body["checks"]["slack"] == {"ok": True, "mode": "http", "receiving": True}
            async with session.get("/metrics") as resp:
                assert 'supportbot_inbound_messages_total{outcome="stored",platform="slack"} 1.0' in await resp.text()
            await service.stop()
            async with session.post("/slack/events", data=event, headers=headers) as resp:
                assert resp.status == 404  # unmounted with the service
    finally:
        await service.stop()
        await app.ops.stop()
