"""A real playground server for tests and screenshots: temp SQLite, bundled KB and CRM, ephemeral port."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from supportbot.adapters.bootstrap import Runtime, bootstrap
from supportbot.adapters.crm.file import FileCRM
from supportbot.adapters.playground.service import PlaygroundService
from supportbot.adapters.settings import load_settings
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.bot.ports import Classifier, Clock
from supportbot.bot.settings import EXAMPLE_DIR
from supportbot.storage import SqlUnitOfWorkFactory, upgrade
from tests.fakes.core import FakeClassifier

# Messages whose outcome the tests rely on: the keyword test classifier (deterministic) with the real
# bundled policy, knowledge base and CRM.
QUESTION = "How do I download last month's invoice?"  # acc_demo (pro): answered automatically
OUTAGE = "Our dashboards are down for all users since 9:00!"  # critical: handed off
DRAFT_ACCOUNT = "acc_globex"  # enterprise tier: replies are drafts for an agent to approve
HOSTILE = "<script>alert(1)</script> and <img src=x onerror=alert(1)>"


@dataclass
class Running:
    app: Runtime
    service: PlaygroundService

    @property
    def url(self) -> str:
        return self.service.url


def build_app(tmp_path: Path, classifier: Classifier | None = None, clock: Clock | None = None) -> Runtime:
    url = f"sqlite:///{tmp_path / 'playground.db'}"
    upgrade(url)
    settings = load_settings(database_url=url, playground_host="127.0.0.1", playground_port=0, playground_enabled=True)
    return bootstrap(
        settings,
        uow=SqlUnitOfWorkFactory(url),
        classifier=classifier or FakeClassifier(),
        kb=MarkdownKnowledgeBase(EXAMPLE_DIR / "kb"),
        crm=FileCRM(EXAMPLE_DIR / "crm.json"),
        clock=clock,
        migrate=False,
    )


@contextlib.asynccontextmanager
async def running_playground(
    tmp_path: Path,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    classifier: Classifier | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Running]:
    app = build_app(tmp_path, classifier, clock)
    service = PlaygroundService(app.core, app.settings, host=host, port=0, token=token, announce=False)
    app.core.channels.add(service.channel)
    await service.start()
    try:
        yield Running(app, service)
    finally:
        await service.stop()


# ---------------------------------------------------------------------- a realistic load: 15 conversations

STACK_TRACE = "Our webhook consumer crashes on every delivery since the upgrade:\n" + (
    "Traceback (most recent call last):\n"
    + "".join(
        f'  File "/srv/app/hooks/{name}.py", line {40 + i}, in {name}\n    payload = verify(request.body, secret)\n'
        for i, name in enumerate(("handle", "dispatch", "verify", "decode", "check", "compare", "hmac"))
    )
    + "ValueError: signature mismatch for delivery whd_8b1f"
)
# (key, account, opening message); with the bundled policy and KB and the keyword classifier these become
# automatic answers (pro, starter, free), drafts (enterprise), hand-offs (outages, out of scope, cancellations)
MIXED = [
    ("outage_umbra", "acc_umbra", "Our dashboards are down for all users since 9:00!"),
    # the rest arrive 4 minutes later
    ("outage_initech", "acc_initech", "Reports are down for our whole analytics team since this morning"),
    ("answer_demo", "acc_demo", "How do I download last month's invoice?"),
    ("answer_hooli", "acc_hooli", "How do I reset my password? The reset email never arrives."),
    ("answer_brightleaf", "acc_brightleaf", "Where can I download our invoice for October?"),
    ("answer_pixelpine", "acc_pixelpine", "How can I reset the password for my account?"),
    ("draft_saml", "acc_globex", "How do I set up SAML single sign-on for our Okta users?"),
    ("draft_refund", "acc_initech", "Can we get a refund for the unused seats on our annual plan?"),
    ("outage_vandelay", "acc_vandelay", "The ingest API is down, none of our users can see new data"),
    ("cancel_quillpad", "acc_quillpad", "Please cancel our subscription at the end of the month"),
    ("webhooks_tinyloop", "acc_tinyloop", "Webhook deliveries fail with HTTP 500 since this morning"),
    ("trace_ferncroft", "acc_ferncroft", STACK_TRACE),
    ("export_orchard", "acc_orchard", "Is there a way to export dashboards to PDF with our own logo?"),
    ("draft_invoices", "acc_globex", "Where do I find the invoices for our subsidiaries in other countries?"),
    ("outage_hooli", "acc_hooli", "The dashboard is down for everyone in our team"),
]


@dataclass
class Seeded:
    channels: dict[str, str] = field(default_factory=dict)  # key -> channel id
    conversations: dict[str, str] = field(default_factory=dict)  # key -> conversation id


class Visitor:
    """A browser-less session over loopback: its own cookies and CSRF tokens, the real HTTP endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.tokens: dict[str, str] = {}

    async def __aenter__(self) -> Visitor:
        async with self.s.get(self.url + "/") as r:
            html = await r.text()
        for role in ("customer", "agent"):
            found = re.search(rf'name="csrf-{role}" content="([^"]+)"', html)
            assert found, "no CSRF token on the page"
            self.tokens[role] = found.group(1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.s.close()

    async def post(self, path: str, data: dict[str, str], role: str = "customer") -> dict:
        headers = {"Accept": "application/json", "X-CSRF-Token": self.tokens[role]}
        async with self.s.post(self.url + path, data=data, headers=headers) as r:
            body = await r.json()
            assert r.status == 200 and body.get("ok", True), (path, r.status, body)
            return body

    async def say(self, account: str, text: str, channel: str | None = None) -> tuple[str, str]:
        channel = channel or f"pg-{uuid.uuid4().hex}"
        body = await self.post("/customer/messages", {"channel_id": channel, "account_id": account, "text": text})
        return channel, body["conversation_id"]


async def seed_mixed(running: Running, advance=None) -> Seeded:
    """The 15 conversations of MIXED through the real server; ``advance(minutes)`` moves a fake clock: the
    first hand-off (enterprise, critical: 15 min to first response) ends up 2 min overdue, the second at risk.
    An agent claims the Vandelay hand-off and rejects the refund draft (both become the agent's)."""
    seeded = Seeded()
    async with Visitor(running.url) as v:
        for i, (key, account, text) in enumerate(MIXED):
            if i == 1 and advance:
                advance(4)
            seeded.channels[key], seeded.conversations[key] = await v.say(account, text)
        with running.app.uow() as uow:
            (claim,) = uow.handoffs.list(conversation_id=seeded.conversations["outage_vandelay"])
            (draft,) = uow.drafts.list(conversation_id=seeded.conversations["draft_refund"])
        await v.post(f"/agent/handoffs/{claim.id}/claim", {}, role="agent")
        await v.post(f"/agent/drafts/{draft.id}/reject", {"reason": "they mean the add-on seats"}, role="agent")
    if advance:
        advance(13)
    return seeded
