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


def build_classifier(settings: Settings, *, background: bool = False) -> Classifier:
    """The intent model; with ``background`` it loads on a thread while the bot starts listening
    (a message that arrives first waits for it), and a bad model still stops ``supportbot run``."""
    path = Path(settings.model_dir)
    if not path.is_dir():
        raise ConfigurationError("SUPPORTBOT_MODEL_DIR", f"{path} is not a model directory (see `supportbot train`)")

    def load() -> Classifier:
        from supportbot.bot.classifier import load_classifier

        try:
            return load_classifier(path)
        except ModelError as exc:
            raise ConfigurationError("SUPPORTBOT_MODEL_DIR", str(exc)) from None

    if not background:
        return load()
    from supportbot.bot.classifier.loader import LazyClassifier

    return LazyClassifier(load).start()


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
    return OpsServer(settings.http_host, settings.http_port, health, telemetry)


def build_jobs(runtime: Runtime) -> list[Job]:
    """What the scheduler runs; every job is safe on several replicas (claims in the database)."""
    from supportbot.adapters.runtime import write_heartbeat

    core, settings = runtime.core, runtime.settings

    async def heartbeat() -> None:
        await write_heartbeat(runtime)

    async def recover() -> None:
        await core.intake.recover(older_than=RECOVERY_AGE)

    ops = settings.operations
    return [
        Job("outbox", 2.0, core.dispatcher.dispatch),
        Job("heartbeat", 10.0, heartbeat),
        Job("recover", 30.0, recover),
        Job("sla_sweep", settings.sla.sweep_seconds, core.sla.sweep),
        Job("lifecycle_sweep", ops.lifecycle_sweep_seconds, core.lifecycle.sweep),
        Job("alerts", ops.alerts_sweep_seconds, core.alerts.check),
        Job("weekly_report", 600.0, core.weekly_report.post),
    ]


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
) -> Runtime:
    """Build supportbot. With ``serve``, also the ops server (/healthz, /metrics) and the channel
    services the settings configure."""
    from supportbot.adapters.observability import PrometheusTelemetry

    settings = settings or load_settings()
    core = SupportCore.assemble(
        settings,
        db=build_database(settings, uow=uow, migrate=migrate),
        classifier=classifier or build_classifier(settings, background=serve),
        kb=kb or build_kb(settings),
        crm=crm or build_crm(settings),
        clock=clock or SystemClock(),
        channels=ChannelRegistry(channels),
        telemetry=telemetry or PrometheusTelemetry(),  # a registry of its own: runtimes never share series
    )
    runtime = Runtime(settings, core)
    if serve:
        runtime.ops = build_ops_server(runtime)
        runtime.services = build_services(runtime)
    runtime.jobs = build_jobs(runtime)
    return runtime
