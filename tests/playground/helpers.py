"""A real playground server for tests and screenshots: temp SQLite, bundled KB and CRM, ephemeral port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from supportbot.adapters.bootstrap import Runtime, bootstrap
from supportbot.adapters.crm.file import FileCRM
from supportbot.adapters.playground.service import PlaygroundService
from supportbot.adapters.settings import load_settings
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.bot.ports import Classifier
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


def build_app(tmp_path: Path, classifier: Classifier | None = None) -> Runtime:
    url = f"sqlite:///{tmp_path / 'playground.db'}"
    upgrade(url)
    settings = load_settings(database_url=url, playground_host="127.0.0.1", playground_port=0, playground_enabled=True)
    return bootstrap(
        settings,
        uow=SqlUnitOfWorkFactory(url),
        classifier=classifier or FakeClassifier(),
        kb=MarkdownKnowledgeBase(EXAMPLE_DIR / "kb"),
        crm=FileCRM(EXAMPLE_DIR / "crm.json"),
        migrate=False,
    )


@contextlib.asynccontextmanager
async def running_playground(
    tmp_path: Path, *, host: str = "127.0.0.1", token: str | None = None, classifier: Classifier | None = None
) -> AsyncIterator[Running]:
    app = build_app(tmp_path, classifier)
    service = PlaygroundService(app.core, app.settings, host=host, port=0, token=token, announce=False)
    app.core.channels.add(service.channel)
    await service.start()
    try:
        yield Running(app, service)
    finally:
        await service.stop()
