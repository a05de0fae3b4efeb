"""Runs the playground web server as a ``supportbot run`` service."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from supportbot.adapters.ops_http import bind_error
from supportbot.adapters.playground.channel import PLATFORM, EventHub, PlaygroundChannel
from supportbot.adapters.playground.security import check_binding
from supportbot.adapters.playground.server import create_app
from supportbot.adapters.playground.settings import PlaygroundSettings
from supportbot.bot.core import SupportCore
from supportbot.bot.errors import ConfigurationError

log = logging.getLogger(__name__)


class PlaygroundService:
    name = "playground"

    def __init__(
        self,
        core: SupportCore,
        settings: PlaygroundSettings,
        *,
        host: str | None = None,
        port: int | None = None,
        token: str | None = None,
        announce: bool = True,
    ) -> None:
        self.core = core
        self.host = host if host is not None else settings.playground_host
        self.port = port if port is not None else settings.playground_port
        self.token = token if token is not None else settings.playground_token
        check_binding(self.host, self.token)  # fail before anything starts
        existing = core.channels.get(PLATFORM)  # `supportbot chat`-style reuse of one channel and its hub
        self.channel = existing if isinstance(existing, PlaygroundChannel) else PlaygroundChannel(EventHub())
        self.hub = self.channel.hub
        self.announce = announce
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.bound_port or self.port}/"

    async def start(self) -> None:
        web_app = create_app(self.core, hub=self.hub, host=self.host, token=self.token)
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ConfigurationError(
                "SUPPORTBOT_PLAYGROUND_PORT", f"cannot listen on {self.host}:{self.port}: {bind_error(exc)}"
            ) from None
        sockets = getattr(site._server, "sockets", None) or []  # the real port when 0 was asked for
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("playground listening on %s", self.url)
        if self.announce:
            hint = " (add ?token=… with SUPPORTBOT_PLAYGROUND_TOKEN)" if self.token else ""
            print(f"Playground: {self.url}{hint}", file=sys.stderr, flush=True)

    def health(self) -> dict[str, object]:
        """For the ops server's /healthz (the playground keeps its own /healthz too)."""
        return {"ok": self._runner is not None, "url": self.url}

    async def stop(self) -> None:
        self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
