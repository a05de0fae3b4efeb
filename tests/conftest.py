"""Shared fixtures: a core built by the composition root from fakes of our ports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from supportbot.adapters.bootstrap import Runtime, bootstrap
from supportbot.adapters.settings import load_settings
from supportbot.bot.domain import Account, Author, InboundMessage, Role, Ticket
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from tests.fakes.core import FakeChannel, FakeClassifier, FakeClock, FakeCRM
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory

ARTICLES = {
    "download-invoices": (
        "Downloading invoices",
        "invoice",
        "Go to Settings → Billing → Invoices and click Download PDF next to any invoice.",
    ),
    "reset-password": (
        "Resetting your password",
        "password_reset",
        "Click Forgot password on the login page and follow the emailed link within 30 minutes.",
    ),
    "saml-errors": (
        "Troubleshooting SAML errors",
        "sso_saml",
        "SAML_RESPONSE_INVALID means the IdP certificate or ACS URL does not match; re-upload the "
        "metadata under Settings → Security → Single sign-on.",
    ),
    "webhooks": ("Webhooks", "webhooks", "Add a webhook endpoint under Settings → Webhooks; we sign each delivery."),
}

ACCOUNTS = [
    Account("acc_small", "Small Co", tier="starter", arr=1200, slack_team_ids=("TSMALL",)),
    Account(
        "acc_big",
        "Big Corp",
        tier="enterprise",
        arr=250000,
        renewal_date=date(2027, 2, 1),
        owner="Dana",
        health="yellow",
        slack_team_ids=("TBIG",),
        open_tickets=(Ticket("T-1", "SSO loop", priority="high"),),
    ),
]


def write_kb(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for slug, (title, intent, body) in ARTICLES.items():
        (folder / f"{slug}.md").write_text(
            f"---\ntitle: {title}\nurl: https://docs.example.com/{slug}\nintents: [{intent}]\n---\n{body}\n\n"
            "## Details\nMore text that is not the summary.\n"
        )
    return folder


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def channel() -> FakeChannel:
    return FakeChannel("test")


@pytest.fixture
def crm() -> FakeCRM:
    return FakeCRM(ACCOUNTS)


@pytest.fixture
def uow_factory() -> InMemoryUnitOfWorkFactory:
    return InMemoryUnitOfWorkFactory()


@pytest.fixture
def app(tmp_path, clock, channel, crm, uow_factory) -> Runtime:
    settings = load_settings(database_url="sqlite://", kb_dir=write_kb(tmp_path / "kb"))
    return bootstrap(
        settings,
        uow=uow_factory,
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        crm=crm,
        clock=clock,
        channels=(channel,),
    )


class Customer:
    """Writes messages as one customer, conversation-style: ``await alice.says("...")``."""

    def __init__(
        self,
        app: Runtime,
        clock: FakeClock,
        *,
        user: str = "U_ALICE",
        account: str | None = "acc_small",
        channel: str = "C_SHARED",
    ) -> None:
        self.app, self.clock, self.user, self.account, self.channel = app, clock, user, account, channel
        self._n = 0

    def message(self, text: str, *, thread: str | None = None, message_id: str | None = None) -> InboundMessage:
        self._n += 1
        return InboundMessage(
            platform="test",
            workspace_id="W1",
            channel_id=self.channel,
            message_id=message_id or f"{self.user}-{self._n}",
            author=Author(self.user, "Alice", Role.CUSTOMER),
            text=text,
            sent_at=self.clock.now(),
            thread_id=thread,
            account_id=self.account,
        )

    async def says(self, text: str, **kwargs):
        return await self.app.core.handle_inbound(self.message(text, **kwargs))


@pytest.fixture
def alice(app, clock) -> Customer:
    return Customer(app, clock)


@pytest.fixture
async def fake_llm():
    """The project's fake OpenAI-compatible chat-completions server on 127.0.0.1."""
    from tests.llm.fake_openai import FakeOpenAI

    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()
