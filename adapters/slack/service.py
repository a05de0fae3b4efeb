"""SlackService: what ``supportbot run`` starts when SLACK_BOT_TOKEN is set.

Socket Mode when SLACK_APP_TOKEN is set, else the HTTP Events API at
/slack/events (events, interactivity and slash commands), mounted on the
runtime's ops server (SUPPORTBOT_HTTP_PORT, beside /healthz and /metrics).
Without an ops server (tests, embedding) the service runs one of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from supportbot.adapters.logs import quiet_request_bodies
from supportbot.adapters.observability import HealthCheck, PrometheusTelemetry
from supportbot.adapters.ops_http import OpsServer
from supportbot.adapters.slack.channel import SlackChannel
from supportbot.adapters.slack.directory import Directory, slack_error
from supportbot.adapters.slack.handlers import SlackHandlers
from supportbot.adapters.slack.http import EVENTS_PATH, SlackEvents
from supportbot.adapters.slack.settings import SlackSettings
from supportbot.bot.core import SupportCore
from supportbot.bot.errors import ConfigurationError

log = logging.getLogger(__name__)
# bolt's own logger: ours, so the request bodies it appends to some lines are dropped
BOLT_LOGGER = "supportbot.adapters.slack.bolt"


def validate(settings: SlackSettings) -> str:
    """Check the Slack settings; return the transport ("socket" or "http")."""
    if not settings.slack_bot_token:
        raise ConfigurationError("SLACK_BOT_TOKEN", "is required for Slack")
    if not settings.slack_bot_token.startswith("xoxb-"):
        raise ConfigurationError("SLACK_BOT_TOKEN", "must be a bot token (xoxb-...)")
    if not settings.slack_triage_channel:
        raise ConfigurationError(
            "SUPPORTBOT_SLACK_TRIAGE_CHANNEL",
            "is required: the id (C...) of the internal channel for drafts and hand-offs",
        )
    if settings.slack_triage_channel[:1] not in ("C", "G"):
        raise ConfigurationError("SUPPORTBOT_SLACK_TRIAGE_CHANNEL", "must be a channel id such as C0123ABCD")
    for manager in settings.slack_managers:
        if manager[:1] not in ("U", "W"):
            raise ConfigurationError("SUPPORTBOT_SLACK_MANAGERS", f"{manager!r} is not a Slack user id (U...)")
    if settings.slack_app_token:
        if not settings.slack_app_token.startswith("xapp-"):
            raise ConfigurationError("SLACK_APP_TOKEN", "must be an app-level token (xapp-...)")
        return "socket"
    if not settings.slack_signing_secret:
        raise ConfigurationError("SLACK_SIGNING_SECRET", "is required in HTTP mode (or set SLACK_APP_TOKEN)")
    return "http"


def web_client(
    settings: SlackSettings, *, retry_rate_limits: bool, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    client = AsyncWebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=15, session=session
    )
    if retry_rate_limits:  # lookups and views wait out a 429; posts go back to the outbox instead
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return client


class SlackService:
    name = "slack"

    def __init__(
        self,
        core: SupportCore,
        settings: SlackSettings,
        *,
        ops: OpsServer | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.core = core
        self.ops = ops  # the runtime's ops server; None: run our own on host:port
        self.settings = settings
        self.host = host or settings.ops_host
        self.port = settings.http_port if port is None else port  # 0: an ephemeral port (tests)
        self.mode: str | None = None
        self.bolt: AsyncApp | None = None
        self.handlers: SlackHandlers | None = None
        # The channel exists from the start (the composition root registers it); it gets its
        # Web API client when the service starts.
        self.channel = SlackChannel(
            str(settings.slack_triage_channel or ""),
            db=core.db,
            post_per_second=settings.slack_post_per_second,
            post_burst=settings.slack_post_burst,
        )
        self.directory: Directory | None = None
        self._own_ops: OpsServer | None = None
        self._events: SlackEvents | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self.bound_port: int | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.mode = validate(self.settings)
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        triage = str(self.settings.slack_triage_channel)
        # One pooled HTTP session for every Web API call (slack_sdk opens one per call otherwise).
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        client = web_client(self.settings, retry_rate_limits=True, session=self._session)
        self.directory = Directory(client, self.settings.slack_managers)
        try:
            me = await self.directory.whoami()
        except SlackApiError as exc:
            raise ConfigurationError("SLACK_BOT_TOKEN", f"auth.test failed: {slack_error(exc)}") from None
        info = await self.directory.channel(triage)
        if info is None:
            raise ConfigurationError(
                "SUPPORTBOT_SLACK_TRIAGE_CHANNEL", f"{triage} not found (invite the bot to it, or check the id)"
            )
        if info.get("is_ext_shared") or info.get("is_pending_ext_shared"):
            raise ConfigurationError(
                "SUPPORTBOT_SLACK_TRIAGE_CHANNEL", f"{triage} is shared with another organization: drafts would leak"
            )
        self.channel.connect(web_client(self.settings, retry_rate_limits=False, session=self._session), self.directory)
        http = self.mode == "http"
        auth = AuthorizeResult(
            enterprise_id=None,
            team_id=me.team_id,
            bot_user_id=me.user_id,
            bot_id=me.bot_id,
            bot_token=self.settings.slack_bot_token,
        )

        async def authorize(**_: Any) -> AuthorizeResult:  # single workspace: auth.test already ran above
            return auth

        self.bolt = AsyncApp(
            # no token: the token comes from ``authorize``
            client=AsyncWebClient(base_url=self.settings.slack_api_url, timeout=15, session=self._session),
            authorize=authorize,
            signing_secret=self.settings.slack_signing_secret or "socket-mode-unused",
            request_verification_enabled=http,
            # listeners store a message (or ack an interaction) and return: the response goes right after
            process_before_response=True,
            logger=quiet_request_bodies(logging.getLogger(BOLT_LOGGER)),
        )
        self.handlers = SlackHandlers(self.core, self.directory, client, triage)
        self.handlers.register(self.bolt)
        log.info("Slack bot %s in team %s, %s mode", me.user_id, me.team_id, self.mode)
        if not http:
            self._socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token, web_client=client)
            await self._socket.connect_async()
        else:
            self._events = SlackEvents(self.bolt, str(self.settings.slack_signing_secret))
        if self.ops is not None:
            if self._events is not None:
                self.ops.mount("POST", EVENTS_PATH, self._events)
                log.info("Slack events endpoint %s%s", self.ops.url, EVENTS_PATH)
            return
        await self._start_own_server(http)

    async def _start_own_server(self, http: bool) -> None:
        """Without the runtime's ops server: /healthz and /metrics (and /slack/events in HTTP mode) of our own."""
        telemetry = self.core.telemetry if isinstance(self.core.telemetry, PrometheusTelemetry) else None
        server = OpsServer(self.host, self.port, HealthCheck(self.core, lambda: {"slack": self.health}), telemetry)
        if self._events is not None:
            server.mount("POST", EVENTS_PATH, self._events)
        try:
            await server.start()
        except ConfigurationError:
            if http:
                raise
            log.warning("no /healthz for Socket Mode: cannot listen on %s:%s", self.host, self.port)
            return
        self._own_ops = server
        self.bound_port = server.bound_port
        log.info(
            "Slack %s on http://%s:%s",
            f"events endpoint {EVENTS_PATH}" if http else "health check",
            self.host,
            self.bound_port,
        )

    def health(self) -> dict[str, Any]:
        """For /healthz: in Socket Mode, up while the websocket is connected; in HTTP mode, while we receive."""
        if self._socket is not None:
            client = self._socket.client
            up = not client.closed and client.current_session is not None and not client.current_session.closed
            return {"ok": up, "mode": "socket", "connected": up}
        return {"ok": self._events is not None, "mode": self.mode, "receiving": self._events is not None}

    async def drain(self, timeout: float = 10.0) -> None:
        if self.handlers is not None:
            await self.handlers.drain(timeout)

    async def stop(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._events is not None and self.ops is not None:
            self.ops.unmount(EVENTS_PATH)
        self._events = None
        if self._own_ops is not None:
            await self._own_ops.stop()
            self._own_ops = None
        if self.handlers is not None:
            with contextlib.suppress(TimeoutError):
                await self.handlers.drain(10.0)
            for task in list(self.handlers.tasks):
                task.cancel()
            if self.handlers.tasks:
                await asyncio.gather(*self.handlers.tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
