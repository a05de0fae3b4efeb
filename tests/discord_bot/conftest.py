"""Run the real discord.py client (our adapter) against the fake Discord we own."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from supportbot.adapters.bootstrap import Runtime, bootstrap
from supportbot.adapters.discord_bot.service import DiscordService
from supportbot.adapters.settings import load_settings
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.storage import SqlUnitOfWorkFactory, upgrade
from tests.conftest import write_kb
from tests.discord_bot.fake_discord import TOKEN, FakeDiscord
from tests.fakes.core import FakeClassifier, FakeClock


@pytest.fixture
async def fake():
    server = await FakeDiscord().start()
    yield server
    await server.close()


def discord_settings(fake: FakeDiscord, tmp_path: Path, *, tier: str = "starter", **overrides):
    crm = tmp_path / "crm.json"
    crm.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "id": "acc_nimbus",
                        "name": "Nimbus Fans",
                        "tier": tier,
                        "arr": 90000,
                        "discord_guild_ids": [fake.guild_id],
                    }
                ]
            }
        )
    )
    values = dict(
        database_url=f"sqlite:///{tmp_path / 'supportbot.db'}",
        kb_dir=write_kb(tmp_path / "kb"),
        crm_file=crm,
        discord_token=TOKEN,
        discord_api_url=fake.api_url,
        discord_support_channels=f"{fake.forum_id},{fake.text_id}",
        discord_triage_channel=fake.triage_id,
        discord_agent_role=fake.agent_role,
        discord_manager_role=fake.manager_role,
    )
    values.update(overrides)
    return load_settings(**values)


@dataclass
class Bot:
    app: Runtime
    service: DiscordService
    clock: FakeClock

    @property
    def client(self):
        return self.service.client

    async def stop(self) -> None:
        await self.service.stop()


_template: Path | None = None


def _migrated_copy(target: Path) -> None:
    """A fresh database at ``target``, copied from one migrated once per test run (alembic takes ~0.2 s)."""
    global _template
    if _template is None:
        _template = Path(tempfile.mkdtemp(prefix="supportbot-template-")) / "template.db"
        upgrade(f"sqlite:///{_template}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(_template) + suffix)
        if source.exists():
            shutil.copyfile(source, Path(str(target) + suffix))


async def start_bot(
    fake: FakeDiscord, tmp_path: Path, *, tier: str = "starter", clock: FakeClock | None = None, **overrides
) -> Bot:
    settings = discord_settings(fake, tmp_path, tier=tier, **overrides)
    database = tmp_path / "supportbot.db"
    if not database.exists():  # a restart reuses the database of the first start
        _migrated_copy(database)
    clock = clock or FakeClock()
    app = bootstrap(
        settings,
        uow=SqlUnitOfWorkFactory(settings.database_url),
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        clock=clock,
    )
    service = DiscordService(app.core, settings, ready_timeout=10, guild_ready_timeout=0.05)
    app.core.channels.add(service.channel)  # as the composition root does
    await service.start()
    return Bot(app, service, clock)


@pytest.fixture
async def bot(fake, tmp_path):
    running = await start_bot(fake, tmp_path)
    yield running
    await running.stop()


@pytest.fixture
async def enterprise_bot(fake, tmp_path):
    running = await start_bot(fake, tmp_path, tier="enterprise")
    yield running
    await running.stop()
