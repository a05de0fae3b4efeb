"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 (aiohttp).

Tests script its replies in order (``FakeOpenAI.script``); once the script is
used up it answers like a well-behaved grounded model: the first passage's text
with a [1] citation. Every request's JSON body and headers are recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # the assistant's text; None: the default grounded answer
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)
    body: Any = None  # a raw JSON body instead of a completion
    finish_reason: str = "stop"


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._script: list[Reply] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def script(self, *replies: Reply) -> None:
        self._script.extend(replies)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        reply = self._script.pop(0) if self._script else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 400:
            error = {"error": {"message": f"fake error {reply.status}", "type": "server_error", "code": None}}
            return web.json_response(error, status=reply.status, headers=reply.headers)
        if reply.body is not None:
            return web.Response(text=json.dumps(reply.body), content_type="application/json")
        content = reply.content if reply.content is not None else self._grounded(body)
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1_767_000_000,
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": {"prompt_tokens": 321, "completion_tokens": 45, "total_tokens": 366},
            },
            headers=reply.headers,
        )

    @staticmethod
    def _grounded(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        match = re.search(r"^\[1\] .*\n(.+)$", system, re.M)
        first = match.group(1).strip() if match else "See the documentation."
        return f"{first} [1]"
