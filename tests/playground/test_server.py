"""The playground over plain HTTP (no browser): escaping, CSRF, token, SSE, why panel, roles."""

from __future__ import annotations

import asyncio
import html
import json
import re

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from supportbot.adapters.bootstrap import build_services
from supportbot.adapters.playground.channel import EventHub, PlaygroundChannel
from supportbot.adapters.playground.server import create_app
from supportbot.adapters.playground.service import PlaygroundService
from supportbot.bot.domain import Audience, Delivery, Outbound, OutboundKind
from supportbot.bot.errors import ConfigurationError
from tests.playground.helpers import DRAFT_ACCOUNT, HOSTILE, OUTAGE, QUESTION, build_app

TOKEN = "correct-horse-battery-staple-42"


class Browserless:
    """A cookie-keeping HTTP client that reads the page like the browser does."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.s, self.base = session, base.rstrip("/")
        self.csrf: dict[str, str] = {}
        self.channel = ""

    async def page(self, query: str = "") -> str:
        async with self.s.get(self.base + "/" + query) as r:
            assert r.status == 200
            text = await r.text()
        self.csrf = dict(re.findall(r'<meta name="csrf-(\w+)" content="([0-9a-f]+)">', text))
        self.channel = re.search(r'name="channel_id" value="(pg-[0-9a-f]+)"', text).group(1)
        return text

    async def post(self, path: str, data: dict, *, role: str | None = "customer", json_: bool = True):
        if role:
            data = {"csrf_token": self.csrf[role], **data}
        headers = {"Accept": "application/json"} if json_ else {}
        async with self.s.post(self.base + path, data=data, headers=headers, allow_redirects=False) as r:
            body = await r.text()
            return r.status, (json.loads(body) if r.content_type == "application/json" else body)

    async def say(self, text: str, account: str = "acc_demo", channel: str | None = None):
        return await self.post(
            "/customer/messages", {"channel_id": channel or self.channel, "text": text, "account_id": account}
        )


@pytest.fixture
async def client(pg):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        c = Browserless(session, pg.url)
        await c.page()
        yield c


async def test_security_headers(client):
    async with client.s.get(client.base + "/") as r:
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert "<script>" not in (await r.text()).split("</head>")[1]  # no inline script in the body
    async with client.s.get(client.base + "/static/playground.js") as r:
        assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_hostile_input_is_escaped_everywhere(client, pg):
    status, body = await client.say(HOSTILE)
    assert status == 200, body
    page = await client.page(f"?c={client.channel}")
    async with client.s.get(client.base + "/console") as r:
        console = await r.text()
    conv_id = body["conversation_id"]
    async with client.s.get(client.base + f"/why/{conv_id}") as r:
        why = await r.text()
    for text in (page, console, why):
        assert "<script>alert(1)</script>" not in text
        assert "<img src=x" not in text
        assert html.escape(HOSTILE, quote=True) in text or html.escape(HOSTILE, quote=False) in text


async def test_state_changing_posts_need_the_right_csrf_token(client, pg):
    data = {"channel_id": client.channel, "text": QUESTION, "account_id": "acc_demo"}
    assert (await client.post("/customer/messages", data, role=None))[0] == 403
    assert (await client.post("/customer/messages", {**data, "csrf_token": "0" * 64}, role=None))[0] == 403
    # the agent pane's token is not the customer's and vice versa: the role is checked per endpoint
    assert (await client.post("/customer/messages", {**data, "csrf_token": client.csrf["agent"]}, role=None))[0] == 403
    status, body = await client.say(OUTAGE)
    assert status == 200
    with pg.app.uow() as uow:
        handoff = uow.handoffs.list()[0]
    claim = f"/agent/handoffs/{handoff.id}/claim"
    assert (await client.post(claim, {}, role="customer"))[0] == 403
    assert (await client.post(claim, {}, role=None))[0] == 403
    # a token from another session is refused
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other_session:
        other = Browserless(other_session, pg.url)
        await other.page()
        assert (await other.post(claim, {"csrf_token": client.csrf["agent"]}, role=None))[0] == 403
    status, body = await client.post(claim, {}, role="agent")
    assert status == 200 and body["ok"], body
    with pg.app.uow() as uow:
        assert uow.handoffs.get(handoff.id).claimed_by == "playground-agent"
    # the header form works too (the page script sends it)
    async with client.s.post(
        client.base + "/customer/messages",
        data=data,
        headers={"X-CSRF-Token": client.csrf["customer"], "Accept": "application/json"},
    ) as r:
        assert r.status == 200


async def test_plain_form_post_redirects_back(client):
    status, body = await client.post(
        "/customer/messages", {"channel_id": client.channel, "text": QUESTION, "account_id": "acc_demo"}, json_=False
    )
    assert status == 303
    page = await client.page(f"?c={client.channel}")
    assert "Downloading invoices and receipts" in page


async def test_non_loopback_binding_requires_a_token(tmp_path):
    app = build_app(tmp_path)
    with pytest.raises(ConfigurationError) as err:
        PlaygroundService(app.core, app.settings, host="0.0.0.0", port=0, token=None, announce=False)
    assert err.value.setting == "SUPPORTBOT_PLAYGROUND_TOKEN"
    with pytest.raises(ConfigurationError):
        PlaygroundService(app.core, app.settings, host="0.0.0.0", port=0, token="short", announce=False)
    PlaygroundService(app.core, app.settings, host="::1", port=0, token=None, announce=False)  # loopback: fine


async def test_token_once_in_query_then_cookie_or_bearer(tmp_path):
    app = build_app(tmp_path)
    web_app = create_app(app.core, host="10.20.30.40", token=TOKEN)  # as if bound to a LAN address
    async with TestClient(TestServer(web_app, host="127.0.0.1")) as tc:
        assert (await tc.get("/")).status == 401
        assert (await tc.get("/?token=wrong-token-wrong-token")).status == 401
        assert (await tc.get("/events/staff")).status == 401
        r = await tc.get(f"/?token={TOKEN}&c=x", allow_redirects=False)
        assert r.status == 303
        assert "token" not in r.headers["Location"] and "c=x" in r.headers["Location"]
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        assert (await tc.get("/")).status == 200  # the cookie now authenticates
    async with TestClient(TestServer(web_app, host="127.0.0.1")) as tc:
        assert (await tc.get("/", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200
        assert (await tc.get("/", headers={"Authorization": "Bearer nope"})).status == 401


async def test_loopback_refuses_foreign_host_header(client):
    async with client.s.get(client.base + "/", headers={"Host": "attacker.example"}) as r:
        assert r.status == 403


async def _read_event(response: aiohttp.ClientResponse, wanted: str) -> dict:
    event = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == wanted:
            return json.loads(line[6:])
    raise AssertionError("stream ended")


async def test_sse_streams_deliver_events(client, pg):
    async with (
        client.s.get(client.base + "/events/customer") as customer,
        client.s.get(client.base + "/events/staff") as staff,
    ):
        assert customer.headers["Content-Type"].startswith("text/event-stream")
        await asyncio.wait_for(_read_event(customer, "ready"), 5)
        await asyncio.wait_for(_read_event(staff, "ready"), 5)
        status, _ = await client.say(QUESTION)
        assert status == 200
        message = await asyncio.wait_for(_read_event(customer, "message"), 5)
        assert message["channel_id"] == client.channel
        assert "Settings → Billing → Invoices" in message["text"]
        assert message["citations"][0]["url"].startswith("https://docs.nimbusmetrics.example/")
        changed = await asyncio.wait_for(_read_event(staff, "changed"), 5)
        assert changed["conversation_id"] == message["conversation_id"]


async def test_channel_keeps_drafts_and_notes_off_the_customer_stream():
    hub = EventHub()
    channel = PlaygroundChannel(hub)
    customer, staff = hub.subscribe("customer"), hub.subscribe("staff")
    from datetime import UTC, datetime

    draft = Outbound(
        "out_1",
        "playground",
        Audience.STAFF,
        OutboundKind.DRAFT_REVIEW,
        "secret draft text",
        "k1",
        datetime.now(UTC),
        conversation_id="conv_1",
        payload={"card": {"title": "x"}},
    )
    message_id = await channel.send(draft, Delivery("local", None, None))
    assert message_id and message_id.startswith("pgs-")
    assert customer.empty()
    event = staff.get_nowait()
    assert event.type == "changed" and "secret draft text" not in json.dumps(event.data)
    answer = Outbound(
        "out_2",
        "playground",
        Audience.CUSTOMER,
        OutboundKind.ANSWER,
        "hello",
        "k2",
        datetime.now(UTC),
        conversation_id="conv_1",
        payload={"citations": [{"title": "T", "url": "u"}]},
    )
    assert await channel.send(answer, Delivery("local", "pg-1", "pg-1")) != message_id
    assert customer.get_nowait().data["text"] == "hello"
    hub.close()
    assert customer.get_nowait() is None  # subscribers are woken on shutdown


async def test_why_panel_json_and_html(client, pg):
    status, body = await client.say(QUESTION)
    conv_id = body["conversation_id"]
    async with client.s.get(client.base + f"/api/why/{conv_id}") as r:
        data = await r.json()
    d = data["decisions"][0]
    assert d["action"] == "answer" and d["rule"] == "confident_answer" and d["reason"]
    assert d["scores"]["confidence"] >= d["scores"]["threshold"]
    c = d["classification"]
    assert c["intent"] == "invoice" and c["top_intents"][0]["intent"] == "invoice"
    assert c["urgency"] == "normal" and c["sentiment"] == "neutral" and "frustration" in c
    assert d["articles"][0]["id"] == "download-invoices"
    async with client.s.get(client.base + f"/why/{conv_id}?decision={d['decision_id']}&fragment=1") as r:
        fragment = await r.text()
    assert "confident_answer" in fragment and "Downloading invoices and receipts" in fragment
    assert "is-selected" in fragment and "<html" not in fragment
    async with client.s.get(client.base + "/why/conv_nope") as r:
        assert r.status == 404


async def test_thumbs_down_hands_off(client, pg):
    status, body = await client.say(QUESTION)
    conv_id = body["conversation_id"]
    status, body = await client.post("/customer/feedback", {"conversation_id": conv_id, "positive": "0"})
    assert status == 200 and body["ok"]
    async with client.s.get(client.base + "/console") as r:
        console = await r.text()
    assert 'data-state="handoff"' in console and "answer_failed" in console
    # the customer rates once: a second click is refused and stores nothing
    status, body = await client.post("/customer/feedback", {"conversation_id": conv_id, "positive": "1"})
    assert status == 409 and "already rated" in body["message"]
    with pg.app.uow() as uow:
        assert len(uow.actions.list(action="csat")) == 1


async def test_reject_draft_with_reason_and_intent(client, pg):
    await client.page(f"?account={DRAFT_ACCOUNT}")
    status, body = await client.say(QUESTION, account=DRAFT_ACCOUNT)
    with pg.app.uow() as uow:
        draft = uow.drafts.list()[0]
    assert '<option value="refund">' in (await client.page())
    status, body = await client.post(f"/agent/drafts/{draft.id}/reject", {"reason": "", "intent": ""}, role="agent")
    assert status == 400  # a reason is required (the core says so)
    status, body = await client.post(
        f"/agent/drafts/{draft.id}/reject", {"reason": "they meant refunds", "intent": "refund"}, role="agent"
    )
    assert status == 200, body
    with pg.app.uow() as uow:
        rejected = uow.drafts.get(draft.id)
        assert rejected.status.value == "rejected" and rejected.corrected_intent == "refund"
    status, body = await client.post(f"/agent/drafts/{draft.id}/approve", {}, role="agent")
    assert status == 409  # already decided: shown to the clicker


async def test_follow_up_joins_the_conversation_and_conversations_are_separate(client, pg):
    first = client.channel
    _, a = await client.say(QUESTION)
    _, b = await client.say("And where do I change the billing email?")
    assert a["conversation_id"] == b["conversation_id"]
    await client.page()  # "new conversation"
    assert client.channel != first
    _, c = await client.say(OUTAGE)
    assert c["conversation_id"] != a["conversation_id"]
    page = await client.page(f"?c={first}")
    assert page.count('<a class="conv-tab') == 2


def test_the_composition_root_serves_the_playground_as_the_settings_say(tmp_path):
    app = build_app(tmp_path)
    assert list(build_services(app)) == ["playground"]
    app.settings = app.settings.model_copy(update={"playground_enabled": None, "slack_bot_token": "xoxb-1"})
    assert "playground" not in build_services(app)


def test_cli_refuses_a_public_address_without_token(monkeypatch):
    from click.testing import CliRunner

    from supportbot.adapters.cli import main

    monkeypatch.delenv("SUPPORTBOT_PLAYGROUND_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["playground", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code != 0
    assert "SUPPORTBOT_PLAYGROUND_TOKEN" in result.output


async def test_resolve_clears_the_console_and_marks_the_thread(client, pg):
    status, body = await client.say(OUTAGE)
    with pg.app.uow() as uow:
        handoff = uow.handoffs.list()[0]
    status, body = await client.post(f"/agent/handoffs/{handoff.id}/resolve", {}, role="agent")
    assert status == 200, body
    async with client.s.get(client.base + "/console") as r:
        assert 'data-count="0"' in await r.text()
    page = await client.page(f"?c={client.channel}")
    assert "✅" in page
    status, body = await client.post(f"/agent/handoffs/{handoff.id}/resolve", {}, role="agent")
    assert status == 409 and "already resolved" in body["message"]


async def test_a_draft_made_stale_by_a_hand_off_cannot_be_approved(client, pg):
    await client.page(f"?account={DRAFT_ACCOUNT}")
    await client.say(QUESTION, account=DRAFT_ACCOUNT)
    with pg.app.uow() as uow:
        (draft,) = uow.drafts.list()
    status, body = await client.say(OUTAGE, account=DRAFT_ACCOUNT)  # a follow-up that needs a person now
    assert status == 200, body
    status, body = await client.post(f"/agent/drafts/{draft.id}/approve", {}, role="agent")
    assert status == 409 and "out of date" in body["message"]
    with pg.app.uow() as uow:
        assert uow.drafts.get(draft.id).status.value == "superseded"
        replies = [m for m in uow.messages.list() if m.kind.value == "agent_reply"]
    assert replies == []  # the old quote never reached the customer
