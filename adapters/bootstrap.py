"""The composition root: the one place that builds supportbot from settings.

``supportbot run``, ``chat``, ``ask``, the playground, the scheduler and the
tests all call ``bootstrap``; tests pass fakes for any dependency.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from supportbot.bot.commands import AgentCommands
from supportbot.bot.errors import ConfigurationError, ModelError
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.bot.operations import Operations
from supportbot.bot.policy import Policy
from supportbot.bot.ports import CRM, Channel, Classifier, Clock, KnowledgeBase, SystemClock, UnitOfWorkFactory
from supportbot.bot.service import CoreConfig, SupportCore
from supportbot.bot.settings import Settings, load_settings
from supportbot.bot.support_commands import SupportCommands

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    core: SupportCore
    commands: AgentCommands
    support: SupportCommands
    extras: dict[str, Any] = field(default_factory=dict)  # adapter-owned resources (clients, servers)

    @property
    def uow(self) -> UnitOfWorkFactory:
        return self.core.uow


def build_uow(settings: Settings, *, migrate: bool = True) -> UnitOfWorkFactory:
    from supportbot.storage import SqlUnitOfWorkFactory, upgrade

    if migrate:
        upgrade(settings.database_url)
    return SqlUnitOfWorkFactory(settings.database_url)


def build_classifier(settings: Settings) -> Classifier:
    from supportbot.bot.classifier import load_classifier

    path = Path(settings.model_dir)
    if not path.is_dir():
        raise ConfigurationError("SUPPORTBOT_MODEL_DIR", f"{path} is not a model directory (see `supportbot train`)")
    try:
        return load_classifier(path)
    except ModelError as exc:
        raise ConfigurationError("SUPPORTBOT_MODEL_DIR", str(exc)) from None


def build_kb(settings: Settings) -> KnowledgeBase:
    folder = Path(settings.kb_dir)
    if not folder.is_dir():
        raise ConfigurationError("SUPPORTBOT_KB_DIR", f"{folder} is not a folder of Markdown articles")
    return MarkdownKnowledgeBase(folder, index_path=kb_index_path(settings))


def kb_index_path(settings: Settings) -> Path | None:
    """The index cache sits beside a SQLite database, else in the working directory."""
    url = settings.database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).with_suffix(".kb-index.json")
    if url.startswith("sqlite:"):
        return None
    return Path(".supportbot-kb-index.json")


def build_crm(settings: Settings) -> CRM:
    from supportbot.adapters.crm import build_crm as build_configured_crm
    from supportbot.adapters.crm.settings import crm_settings_for

    return build_configured_crm(crm_settings_for(settings))


def bootstrap(
    settings: Settings | None = None,
    *,
    uow: UnitOfWorkFactory | None = None,
    classifier: Classifier | None = None,
    kb: KnowledgeBase | None = None,
    crm: CRM | None = None,
    clock: Clock | None = None,
    channels: tuple[Channel, ...] = (),
    migrate: bool = True,
) -> App:
    settings = settings or load_settings()
    core = SupportCore(
        uow=uow or build_uow(settings, migrate=migrate),
        classifier=classifier or build_classifier(settings),
        kb=kb or build_kb(settings),
        crm=crm or build_crm(settings),
        clock=clock or SystemClock(),
        policy=Policy(settings.policy),
        config=CoreConfig(
            grouping_window=timedelta(minutes=settings.grouping_window_minutes),
            note_marker=settings.note_marker,
            max_message_chars=settings.max_message_chars,
            crm_cache=timedelta(seconds=settings.crm_cache_seconds),
        ),
    )
    for channel in channels:
        core.register_channel(channel)
    operations = Operations.install(core, settings)  # SLA, lifecycle and CSAT hooks; sweeps for the scheduler
    return App(
        settings=settings,
        core=core,
        commands=AgentCommands(core),
        support=SupportCommands(core),
        extras={"operations": operations},
    )
