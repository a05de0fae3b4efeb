"""Fixtures: the real SlackService (slack-bolt AsyncApp) on an ephemeral port,
a fake Slack Web API the project owns, and a core on a real SQLite file."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from supportbot.adapters.bootstrap import Runtime, bootstrap
from supportbot.adapters.settings import load_settings
from supportbot.adapters.slack.service import SlackService
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.storage import SqlUnitOfWorkFactory, upgrade
from tests.conftest import ACCOUNTS, write_kb
from tests.fakes.core import FakeClassifier, FakeClock, FakeCRM
from tests.slack.fake_slack import OUR_TEAM, FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SHARED, SHARED_BIG, TRIAGE = "C_SHARED", "C_SHARED_BIG", "C_TRIAGE"
ALICE, BOB, AGENT, MANAGER = "U_ALICE", "U_BOB", "U_AGENT", "U_MANAGER"


@pytest.fixture
async def fake_slack():
    fake = FakeSlack()
    fake.add_user(ALICE, "TSMALL", "Alice", "alice@small.example")
    fake.add_user(BOB, "TBIG", "Bob", "bob@big.example")
    fake.add_user(AGENT, OUR_TEAM, "Sam")
    fake.add_user(MANAGER, OUR_TEAM, "Morgan")
    fake.add_channel(SHARED, "small-co-support", shared=True)
    fake.add_channel(SHARED_BIG, "big-corp-support", shared=True)
    fake.add_channel(TRIAGE, "support-triage")
    await fake.start()
    yield fake
    await fake.stop()


def slack_settings(tmp_path, fake: FakeSlack, **overrides: Any):
    values: dict[str, Any] = dict(
        database_url=f"sqlite:///{tmp_path / 'supportbot.db'}",
        kb_dir=write_kb(tmp_path / "kb"),
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url,
        slack_triage_channel=TRIAGE,
        slack_managers=MANAGER,
        http_host="127.0.0.1",
    )
    values.update(overrides)
    return load_settings(**values)


def build_app(settings, clock: FakeClock) -> Runtime:
    upgrade(settings.database_url)
    return bootstrap(
        settings,
        uow=SqlUnitOfWorkFactory(settings.database_url),
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        crm=FakeCRM(ACCOUNTS),
        clock=clock,
        migrate=False,
    )


def slack_service(app: Runtime, **options: Any) -> SlackService:
    """A SlackService whose channel joins the core's registry, as the composition root does."""
    service = SlackService(app.core, app.settings, **options)
    app.core.channels.add(service.channel)
    return service


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def slack(tmp_path, fake_slack, clock):
    """A running SlackService in HTTP mode; yields a Driver."""
    app = build_app(slack_settings(tmp_path, fake_slack), clock)
    service = slack_service(app, port=0)
    await service.start()
    async with aiohttp.ClientSession() as session:
        yield Driver(app, service, fake_slack, session)
    await service.stop()


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


_ts = itertools.count(1)


def new_ts() -> str:
    return f"1764147600.{next(_ts):06d}"


def message_event(
    user: str,
    text: str,
    *,
    channel: str = SHARED,
    ts: str | None = None,
    thread_ts: str | None = None,
    user_team: str | None = None,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An Events API event_callback for a message, shaped as Slack documents it."""
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    if user_team:
        event["user_team"] = user_team
        event["source_team"] = user_team
        event["team"] = user_team
    event.update(extra)
    return {
        "token": "verification-token-unused",
        "team_id": OUR_TEAM,
        "api_app_id": "A_APP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid_hex()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": OUR_TEAM,
                "user_id": "U_BOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": channel != TRIAGE,
        "event_context": f"4-{uuid_hex()}",
    }


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex[:10].upper()


def block_actions(
    user: str,
    team: str,
    action_id: str,
    value: str,
    *,
    message: dict[str, Any],
    channel: str = TRIAGE,
    response_url: str = "",
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": "A_APP",
        "token": "unused",
        "trigger_id": f"trig.{uuid_hex()}",
        "team": {"id": team, "domain": "ours" if team == OUR_TEAM else "them"},
        "enterprise": None,
        "is_enterprise_install": False,
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "support-triage"},
        "message": {
            "type": "message",
            "ts": message["ts"],
            "text": message.get("text", ""),
            "blocks": message.get("blocks") or [],
            "user": "U_BOT",
            "bot_id": "B_BOT",
        },
        "response_url": response_url or "https://hooks.slack.com/actions/unused",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "supportbot_actions",
                "value": value,
                "type": "button",
                "text": {"type": "plain_text", "text": action_id},
                "action_ts": str(time.time()),
            }
        ],
        "state": {"values": {}},
    }


def view_submission(
    user: str, team: str, callback_id: str, metadata: str, values: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "ours"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": "A_APP",
        "token": "unused",
        "trigger_id": f"trig.{uuid_hex()}",
        "view": {
            "id": "V_MODAL",
            "team_id": team,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": values},
            "hash": "1.abc",
            "title": {"type": "plain_text", "text": "x"},
            "blocks": [],
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


class Driver:
    """Sends signed requests to the adapter and waits on the fake Slack server."""

    def __init__(self, app: Runtime, service: SlackService, fake: FakeSlack, session: aiohttp.ClientSession) -> None:
        self.app, self.service, self.fake, self.session = app, service, fake, session

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service.bound_port}/slack/events"

    def mirror_ts(self, n: int = 0) -> str:
        """The ts of the ``n``-th mirror card: a top-level post in the triage channel."""
        mirrors = [
            r
            for r in self.fake.of("chat.postMessage")
            if r.params["channel"] == TRIAGE and not r.params.get("thread_ts")
        ]
        return mirrors[n].result["ts"]

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None, *, drain: bool = True
    ) -> tuple[int, str]:
        hdrs = {"Content-Type": content_type, **sign(body), **(headers or {})}
        async with self.session.post(self.url, data=body.encode(), headers=hdrs) as resp:
            status, text = resp.status, await resp.text()
        if drain:
            await self.service.drain(10)
        return status, text

    async def event(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        return await self.post(json.dumps(payload), "application/json", **kwargs)

    async def interactive(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        return await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kwargs
        )

    async def command(self, user: str, team: str, text: str, *, channel: str = SHARED) -> tuple[int, str]:
        form = {
            "token": "unused",
            "team_id": team,
            "team_domain": "x",
            "channel_id": channel,
            "channel_name": "x",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/support",
            "text": text,
            "api_app_id": "A_APP",
            "is_enterprise_install": "false",
            "response_url": self.fake.response_url("cmd"),
            "trigger_id": f"trig.{uuid_hex()}",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded")

    async def says(self, user: str, text: str, **kwargs: Any) -> dict[str, Any]:
        payload = message_event(user, text, **kwargs)
        status, _ = await self.event(payload)
        assert status == 200
        return payload["event"]

    def card(self, action_id: str) -> dict[str, Any]:
        """The latest triage message with a button ``action_id``, as posted."""
        for call in reversed(self.fake.of("chat.postMessage")):
            if call.params.get("channel") != TRIAGE:
                continue
            for block in call.params.get("blocks") or []:
                for el in block.get("elements", []) if block.get("type") == "actions" else []:
                    if el.get("action_id") == action_id:
                        return {
                            "value": el["value"],
                            "blocks": call.params["blocks"],
                            "ts": call.result["ts"],
                            "text": call.params.get("text", ""),
                        }
        raise AssertionError(f"no card with a {action_id} button in the triage channel")
