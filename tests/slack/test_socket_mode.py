"""Socket Mode against the fake's websocket endpoint: acks, redeliveries, buttons, /support."""

from __future__ import annotations

import pytest

from supportbot.bot.domain import DraftStatus
from tests.slack.conftest import (
    AGENT,
    ALICE,
    BOB,
    SHARED,
    SHARED_BIG,
    block_actions,
    build_app,
    message_event,
    slack_service,
    slack_settings,
)
from tests.slack.fake_slack import OUR_TEAM


@pytest.fixture
async def socket_service(tmp_path, fake_slack, clock):
    settings = slack_settings(tmp_path, fake_slack, slack_app_token="xapp-1-A_APP-1-test", slack_signing_secret=None)
    service = slack_service(build_app(settings, clock), port=0)
    await service.start()
    assert service.mode == "socket"
    yield service
    await service.stop()


async def _deliver(fake, service, type_, payload, **kwargs) -> dict:
    envelope_id = await fake.send_envelope(type_, payload, **kwargs)
    ack = await fake.wait_for(
        lambda: next((a for a in fake.acks if a.get("envelope_id") == envelope_id), None),
        what=f"the ack of {envelope_id}",
    )
    await service.drain(10)
    return ack


async def test_event_is_acked_and_answered_once_despite_redelivery(fake_slack, socket_service):
    payload = message_event(ALICE, "How do I download my invoice?", user_team="TSMALL")
    await _deliver(fake_slack, socket_service, "events_api", payload)
    await _deliver(fake_slack, socket_service, "events_api", payload, retry_attempt=1, retry_reason="timeout")
    answers = fake_slack.posts(SHARED)
    assert len(answers) == 1 and answers[0]["thread_ts"] == payload["event"]["ts"]
    assert len(fake_slack.of("reactions.add")) == 1
    assert any(c.method == "apps.connections.open" for c in fake_slack.calls)


async def test_interactive_approve_over_socket_mode(fake_slack, socket_service):
    payload = message_event(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    await _deliver(fake_slack, socket_service, "events_api", payload)
    post = next(
        c
        for c in fake_slack.of("chat.postMessage")
        if any(b.get("type") == "actions" for b in c.params.get("blocks") or [])
    )
    card = {"ts": post.result["ts"], "text": post.params["text"], "blocks": post.params["blocks"]}
    draft_id = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]][0]["value"]
    # A customer first: refused; then the agent.
    await _deliver(
        fake_slack, socket_service, "interactive", block_actions(BOB, "TBIG", "draft_approve", draft_id, message=card)
    )
    assert fake_slack.replies(SHARED_BIG) == [] and len(fake_slack.of("chat.postEphemeral")) == 1
    await _deliver(
        fake_slack,
        socket_service,
        "interactive",
        block_actions(AGENT, OUR_TEAM, "draft_approve", draft_id, message=card),
    )
    assert len(fake_slack.replies(SHARED_BIG)) == 1
    with socket_service.core.uow() as uow:
        assert uow.drafts.get(draft_id).status is DraftStatus.APPROVED


async def test_slash_command_over_socket_mode(fake_slack, socket_service):
    form = {
        "token": "x",
        "team_id": OUR_TEAM,
        "team_domain": "ours",
        "channel_id": SHARED,
        "channel_name": "x",
        "user_id": AGENT,
        "user_name": "sam",
        "command": "/support",
        "text": "help",
        "api_app_id": "A_APP",
        "response_url": fake_slack.response_url("sock"),
        "trigger_id": "trig.1",
    }
    await _deliver(fake_slack, socket_service, "slash_commands", form)
    [reply] = fake_slack.responses
    assert reply["response_type"] == "ephemeral" and "/support queue" in reply["text"]


async def test_socket_mode_serves_healthz_but_no_events_endpoint(socket_service):
    import aiohttp

    base = f"http://127.0.0.1:{socket_service.bound_port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/healthz") as resp:
            body = await resp.json()
            assert resp.status == 200 and body["checks"]["slack"] == {"ok": True, "mode": "socket", "connected": True}
        async with session.post(f"{base}/slack/events", data="{}") as resp:
            assert resp.status in (404, 405)


async def test_busy_port_is_a_configuration_error_in_http_mode_only(tmp_path, fake_slack, clock):
    import socket

    from supportbot.bot.errors import ConfigurationError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        http = slack_service(build_app(slack_settings(tmp_path, fake_slack), clock), port=port)
        with pytest.raises(ConfigurationError, match="SUPPORTBOT_HTTP_PORT"):
            await http.start()
        settings = slack_settings(tmp_path, fake_slack, slack_app_token="xapp-1-A-1-t", slack_signing_secret=None)
        sock = slack_service(build_app(settings, clock), port=port)
        await sock.start()  # Socket Mode still runs, without /healthz
        try:
            assert sock.bound_port is None and sock.health()["ok"]
        finally:
            await sock.stop()


async def test_reconnects_after_disconnect_and_keeps_working(fake_slack, socket_service):
    assert fake_slack.connections == 1
    await fake_slack.send_raw({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}})
    await fake_slack.wait_for(lambda: fake_slack.connections >= 2, timeout=10, what="a new connection")
    assert len(fake_slack.of("apps.connections.open")) >= 2
    payload = message_event(ALICE, "How do I download my invoice?", user_team="TSMALL")
    await _deliver(fake_slack, socket_service, "events_api", payload)
    assert len(fake_slack.posts(SHARED)) == 1
