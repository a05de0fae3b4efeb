"""The composition root: the one place that builds supportbot from settings.

``bootstrap(settings, **overrides)`` returns a ``Runtime``: the core with every
part wired, the channel services the settings ask for (Slack, Discord, the
playground) with their channels registered, and the scheduled jobs.
``supportbot run``, ``chat``, ``ask``, the playground and the tests all call
it; tests pass fakes for any dependency. Nothing registers itself on import.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from supportbot.adapters.settings import Settings, load_settings
from supportbot.bot.answers import ReplyComposer
from supportbot.bot.commands import AgentCommands
from supportbot.bot.core import SupportCore
from supportbot.bot.db import ThreadedDatabase
from supportbot.bot.dispatch import ChannelRegistry
from supportbot.bot.errors import ConfigurationError, ModelError
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.bot.ports import (
    CRM,
    Channel,
    Classifier,
    Clock,
    Database,
    KnowledgeBase,
    SystemClock,
    Telemetry,
    UnitOfWorkFactory,
)
from supportbot.bot.support_commands import SupportCommands

if TYPE_CHECKING:
    from supportbot.adapters.ops_http import OpsServer

log = logging.getLogger(__name__)

# A message still unprocessed this long after it was stored was left behind by a crash
# (here or on another replica): the periodic sweep processes it.
RECOVERY_AGE = timedelta(seconds=60)


class Service(Protocol):
    """Something ``supportbot run`` starts and stops: a channel adapter's server or client."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Job:
    """A periodic job the scheduler runs every ``seconds``."""

    name: str
    seconds: float
    run: Callable[[], Awaitable[object]]


@dataclass
class Runtime:
    settings: Settings
    core: SupportCore
    services: dict[str, Service] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    # /healthz, /metrics and mounted routes (Slack's /slack/events) on SUPPORTBOT_HTTP_PORT; with ``serve``
    ops: OpsServer | None = None

    # shortcuts for entry points and tests
    @property
    def uow(self) -> UnitOfWorkFactory:
        return self.core.db.uow

    @property
    def commands(self) -> AgentCommands:
        return self.core.commands

    @property
    def support(self) -> SupportCommands:
        return self.core.support

    def heartbeat_path(self) -> Path:
        return heartbeat_path(self.settings)


def heartbeat_path(settings: Settings) -> Path:
    """The heartbeat lives with this instance's data: beside its SQLite file, else in the working directory."""
    if settings.heartbeat_file is not None:
        return Path(settings.heartbeat_file)
    url = settings.database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).with_suffix(".heartbeat")
    return Path("supportbot.heartbeat").resolve()


def database_problem(exc: BaseException, url: str = "") -> ConfigurationError | None:
    """A ConfigurationError naming SUPPORTBOT_DATABASE_URL for what a wrong URL, a missing driver or an
    unreachable server raise while connecting (None: not such an error)."""
    setting = "SUPPORTBOT_DATABASE_URL"
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in ("psycopg", "psycopg2"):
        return ConfigurationError(setting, "PostgreSQL needs its driver: pip install 'supportbot[postgres]'")
    import sqlalchemy.exc as sa_exc

    if isinstance(exc, sa_exc.NoSuchModuleError | sa_exc.ArgumentError):
        return ConfigurationError(setting, "not a database URL supportbot can open (sqlite:///FILE or postgresql://…)")
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        # the driver's first line (connection refused, unable to open database file, ...), never the password
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        with contextlib.suppress(ValueError):
            password = urlsplit(url).password
            if password:
                reason = reason.replace(password, "***")
        return ConfigurationError(setting, f"cannot open the database: {reason}")
    return None


def build_database(settings: Settings, *, uow: UnitOfWorkFactory | None = None, migrate: bool = True) -> Database:
    try:
        return _build_database(settings, uow=uow, migrate=migrate)
    except Exception as exc:
        problem = database_problem(exc, settings.database_url)
        if problem is None:
            raise
        raise problem from exc


def _build_database(settings: Settings, *, uow: UnitOfWorkFactory | None, migrate: bool) -> Database:
    if uow is not None:
        from supportbot.storage import SqlUnitOfWorkFactory

        # Our SQL storage runs on worker threads; an in-memory fake runs inline.
        if isinstance(uow, SqlUnitOfWorkFactory):
            return ThreadedDatabase(uow, workers=uow.read_threads, shared_connection=uow.shared_connection)
        return ThreadedDatabase(uow, workers=0)
    from supportbot.storage import SqlUnitOfWorkFactory, upgrade

    if migrate:
        upgrade(settings.database_url)
    factory = SqlUnitOfWorkFactory(settings.database_url)
    return ThreadedDatabase(factory, workers=factory.read_threads, shared_connection=factory.shared_connection)


def model_pinned(settings: Settings) -> bool:
    """``SUPPORTBOT_MODEL_DIR`` set explicitly (environment, TOML or argument) pins the model: promotions
    in the database do not change it."""
    return "model_dir" in settings.model_fields_set


def current_model_dir(settings: Settings, db: Database | None) -> Path:
    """The model a bot should run: the pinned one, else the database's current version (when its
    directory exists), else the bundled default."""
    if model_pinned(settings) or db is None:
        return Path(settings.model_dir)
    from supportbot.bot.models import INTENT

    try:
        with db.uow() as uow:
            current = uow.model_versions.current(INTENT)
    except Exception as exc:  # an unreadable registry must not stop a bot that has a model
        log.warning("cannot read the current model version: %s", exc)
        return Path(settings.model_dir)
    if current is not None and Path(current.path).is_dir():
        return Path(current.path)
    if current is not None:
        log.warning("the current model %s is not at %s: using %s", current.id, current.path, settings.model_dir)
    return Path(settings.model_dir)


def load_model(path: Path | str) -> Classifier:
    """Load a model directory; ``ConfigurationError`` naming the setting when it is bad."""
    from supportbot.bot.classifier import load_classifier

    try:
        return load_classifier(Path(path))
    except ModelError as exc:
        raise ConfigurationError("SUPPORTBOT_MODEL_DIR", str(exc)) from None


def build_classifier(
    settings: Settings, *, background: bool = False, db: Database | None = None, lazy: bool = False
) -> Classifier:
    """The intent model, swappable while the bot runs (see ``bot.models.ModelReloader``); with
    ``background`` it loads on a thread while the bot starts listening (a message that arrives first
    waits for it), and a bad model still stops ``supportbot run``; ``lazy`` loads it on first use
    (commands that may not need it)."""
    from supportbot.bot.classifier.loader import LazyClassifier, SwappableClassifier

    path = current_model_dir(settings, db)
    if not path.is_dir():
        raise ConfigurationError("SUPPORTBOT_MODEL_DIR", f"{path} is not a model directory (see `supportbot train`)")
    if lazy:
        return SwappableClassifier(LazyClassifier(lambda: load_model(path)), path=str(path))
    if not background:
        return SwappableClassifier(load_model(path), path=str(path))
    return SwappableClassifier(LazyClassifier(lambda: load_model(path)).start(), path=str(path))


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

    return build_configured_crm(settings)


def build_services(runtime: Runtime) -> dict[str, Service]:
    """The channel services the settings ask for; their channels join the core's registry."""
    settings, core = runtime.settings, runtime.core
    services: dict[str, Service] = {}
    if settings.slack_enabled:
        from supportbot.adapters.slack.service import SlackService

        slack = SlackService(core, settings, ops=runtime.ops)
        core.channels.add(slack.channel)
        services[slack.name] = slack
    if settings.discord_enabled:
        from supportbot.adapters.discord_bot.service import DiscordService

        discord = DiscordService(core, settings)
        core.channels.add(discord.channel)
        services[discord.name] = discord
    if settings.serve_playground:
        from supportbot.adapters.playground.service import PlaygroundService

        playground = PlaygroundService(core, settings, announce=settings.log_format != "json")
        core.channels.add(playground.channel)  # now, so recovery at start-up can deliver
        services[playground.name] = playground
    return services


def build_ops_server(runtime: Runtime) -> OpsServer:
    """/healthz and /metrics on SUPPORTBOT_HTTP_HOST:SUPPORTBOT_HTTP_PORT, whatever the channels."""
    from supportbot.adapters.observability import HealthCheck, PlatformHealth, PrometheusTelemetry
    from supportbot.adapters.ops_http import OpsServer

    def platforms() -> dict[str, PlatformHealth]:
        found = {name: getattr(service, "health", None) for name, service in runtime.services.items()}
        return {name: health for name, health in found.items() if callable(health)}

    settings, core = runtime.settings, runtime.core
    health = HealthCheck(core, platforms, outbox_stuck_after=settings.health_outbox_stuck_seconds)
    telemetry = core.telemetry if isinstance(core.telemetry, PrometheusTelemetry) else None
    return OpsServer(settings.ops_host, settings.http_port, health, telemetry)


def build_jobs(runtime: Runtime) -> list[Job]:
    """What the scheduler runs; every job is safe on several replicas (claims in the database)."""
    from supportbot.adapters.runtime import write_heartbeat

    core, settings = runtime.core, runtime.settings

    async def heartbeat() -> None:
        await write_heartbeat(runtime)

    async def recover() -> None:
        await core.intake.recover(older_than=RECOVERY_AGE)

    ops = settings.operations
    jobs = [
        Job("outbox", 2.0, core.dispatcher.dispatch),
        Job("heartbeat", 10.0, heartbeat),
        Job("recover", 30.0, recover),
        Job("sla_sweep", settings.sla.sweep_seconds, core.sla.sweep),
        Job("lifecycle_sweep", ops.lifecycle_sweep_seconds, core.lifecycle.sweep),
        Job("alerts", ops.alerts_sweep_seconds, core.alerts.check),
        Job("weekly_report", 600.0, core.weekly_report.post),
    ]
    from supportbot.bot.classifier.loader import SwappableClassifier
    from supportbot.bot.models import ModelReloader

    if isinstance(core.classifier, SwappableClassifier):
        reloader = ModelReloader(core.db, core.classifier, load_model, pinned=model_pinned(settings))
        jobs.append(Job("model_reload", settings.models.reload_seconds, reloader.check))
    from supportbot.adapters.retrain import RetrainJob

    if settings.models.retrain_enabled:
        jobs.append(Job("model_retrain", settings.models.retrain_check_seconds, RetrainJob(runtime).run))
    return jobs


def build_composer(settings: Settings) -> ReplyComposer:
    """Extractive replies, or replies composed by the configured model server (SUPPORTBOT_LLM_URL)."""
    from supportbot.adapters.llm import build_language_model
    from supportbot.bot.answers import ExtractiveComposer
    from supportbot.bot.composer import GroundedComposer

    model = build_language_model(settings)
    return GroundedComposer(model) if model is not None else ExtractiveComposer()


def bootstrap(
    settings: Settings | None = None,
    *,
    uow: UnitOfWorkFactory | None = None,
    classifier: Classifier | None = None,
    kb: KnowledgeBase | None = None,
    crm: CRM | None = None,
    clock: Clock | None = None,
    channels: tuple[Channel, ...] = (),
    telemetry: Telemetry | None = None,
    migrate: bool = True,
    serve: bool = False,
    lazy_model: bool = False,
) -> Runtime:
    """Build supportbot. With ``serve``, also the ops server (/healthz, /metrics) and the channel
    services the settings configure."""
    from supportbot.adapters.observability import PrometheusTelemetry

    settings = settings or load_settings()
    db = build_database(settings, uow=uow, migrate=migrate)
    core = SupportCore.assemble(
        settings,
        db=db,
        classifier=classifier or build_classifier(settings, background=serve, db=db, lazy=lazy_model),
        kb=kb or build_kb(settings),
        crm=crm or build_crm(settings),
        clock=clock or SystemClock(),
        channels=ChannelRegistry(channels),
        telemetry=telemetry or PrometheusTelemetry(),  # a registry of its own: runtimes never share series
        composer=build_composer(settings),
    )
    runtime = Runtime(settings, core)
    if serve:
        runtime.ops = build_ops_server(runtime)
        runtime.services = build_services(runtime)
    runtime.jobs = build_jobs(runtime)
    return runtime
