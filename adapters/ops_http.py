"""The ops HTTP server every ``supportbot run`` has, on SUPPORTBOT_HTTP_HOST:SUPPORTBOT_HTTP_PORT.

* ``GET /healthz``: the ``HealthReport`` as JSON; 200 while the database answers (``status`` says
  ``ok`` or ``degraded``), 503 when it does not.
* ``GET /metrics``: Prometheus text exposition of the runtime's ``PrometheusTelemetry``.
* Routes services mount (the Slack service's ``POST /slack/events`` in HTTP mode). They may be
  mounted after the server started (the Slack app exists only once ``auth.test`` answered), so
  they go through one catch-all route instead of aiohttp's frozen router.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Awaitable, Callable

from aiohttp import web

from supportbot.adapters.observability import CONTENT_TYPE, HealthCheck, PrometheusTelemetry
from supportbot.bot.errors import ConfigurationError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 1024 * 1024  # Slack's payloads are far smaller; aiohttp answers 413 beyond it


def bind_error(exc: OSError) -> str:
    """asyncio wraps the reason in "error while attempting to bind on address ...": keep the reason."""
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (another process listens there)"
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


class OpsServer:
    def __init__(
        self,
        host: str,
        port: int,
        health: HealthCheck,
        telemetry: PrometheusTelemetry | None = None,
        *,
        setting: str = "SUPPORTBOT_HTTP_PORT",
    ) -> None:
        self.host, self.port = host, port  # port 0: an ephemeral port (tests)
        self.health = health
        self.telemetry = telemetry
        self.setting = setting
        self.bound_port: int | None = None
        self._mounts: dict[str, dict[str, Handler]] = {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.bound_port or self.port}"

    def mount(self, method: str, path: str, handler: Handler) -> None:
        self._mounts.setdefault(path, {})[method.upper()] = handler

    def unmount(self, path: str) -> None:
        self._mounts.pop(path, None)

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/{path:.*}", self._mounted)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise ConfigurationError(
                self.setting, f"cannot listen on {self.host}:{self.port}: {bind_error(exc)}"
            ) from None
        except BaseException:
            await self.stop()
            raise
        sockets = getattr(site._server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("ops endpoints on %s (/healthz, /metrics)", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        report = await self.health.report()
        return web.json_response(report.to_dict(), status=report.http_status, headers={"Cache-Control": "no-store"})

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.telemetry is None:
            raise web.HTTPNotFound(text="metrics are not collected in this process")
        self.telemetry.update(await self.health.report())
        return web.Response(body=self.telemetry.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def _mounted(self, request: web.Request) -> web.StreamResponse:
        routes = self._mounts.get(request.path)
        if routes is None:
            raise web.HTTPNotFound()
        handler = routes.get(request.method)
        if handler is None:
            raise web.HTTPMethodNotAllowed(request.method, sorted(routes))
        return await handler(request)
