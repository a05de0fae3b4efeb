"""The HTTP Events API receiver: aiohttp on the main event loop.

Storage never blocks the loop (units of work run on worker threads), so the
receiver shares the loop with everything else and still answers Slack well
within its 3 seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


class HttpReceiver:
    def __init__(self, bolt: AsyncApp | None, host: str, port: int, health: Callable[[], dict[str, Any]]) -> None:
        self.bolt = bolt  # None: only /healthz (Socket Mode)
        self.host, self.port = host, port
        self.health = health
        self.bound_port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        web_app = web.Application(client_max_size=1024 * 1024)
        if self.bolt is not None:
            web_app.router.add_post(EVENTS_PATH, self._events)
        web_app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self.stop()
            raise
        sockets = getattr(site._server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port

    async def _events(self, request: web.Request) -> web.Response:
        assert self.bolt is not None
        bolt_resp = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_resp)

    async def _health(self, request: web.Request) -> web.Response:
        health = self.health()
        return web.json_response(health, status=200 if health.get("ok") else 503)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
