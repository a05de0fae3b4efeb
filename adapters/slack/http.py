"""The HTTP Events API receiver, on its own thread and event loop.

The core's storage calls are synchronous, so under load the main event loop is
busy for long stretches. Slack wants an ack within 3 seconds, and a slow ack
makes it retry. The receiver therefore runs the aiohttp server and bolt's
verification, routing and ack on a dedicated thread; listeners hand the work to
the main loop (``SlackHandlers.spawn`` is thread-safe) and return at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="slack-http", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), loop)
        try:
            await asyncio.wrap_future(future)
        except BaseException:
            await self.stop()
            raise

    async def _serve(self) -> None:
        web_app = web.Application(client_max_size=1024 * 1024)
        if self.bolt is not None:
            web_app.router.add_post(EVENTS_PATH, self._events)
        web_app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
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
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._runner is not None:
            runner, self._runner = self._runner, None
            try:
                await asyncio.wait_for(
                    asyncio.wrap_future(asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)), 10
                )
            except Exception:
                log.exception("stopping the Slack HTTP server failed")
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)
        if not loop.is_running():
            loop.close()
