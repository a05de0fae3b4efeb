"""A fake Slack Web API + Socket Mode endpoint the project owns, for tests and the benchmark.

aiohttp on 127.0.0.1 with an ephemeral port. Implements the Web API methods the
adapter calls, records every request, and can inject 429s (with Retry-After),
5xx errors and delays. ``apps.connections.open`` returns a ws:// URL served
here; the fake sends ``hello`` and then whatever envelopes a test pushes, and
records the acks it gets back. Run standalone (benchmark):
``python -m tests.slack.fake_slack --port 0`` prints ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

OUR_TEAM = "T_OURS"
BOT_USER = "U_BOT"
BOT_ID = "B_BOT"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.time() when received
    status: int = 200
    result: dict[str, Any] = field(default_factory=dict)  # the JSON answer sent back


@dataclass
class Fault:
    method: str
    status: int
    retry_after: int | None = None
    error: str | None = None
    remaining: int = 1


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # bodies POSTed to response_url
    acks: list[dict[str, Any]] = field(default_factory=list)  # Socket Mode acks
    faults: list[Fault] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)  # calls of a method wait until set
    record_params: bool = True
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # file id -> filename, length, data, shared
    storms: dict[str, tuple[float, int]] = field(default_factory=dict)  # method -> (429s until, Retry-After)

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._changed: asyncio.Condition | None = None
        self.port = 0
        self.connections = 0  # Socket Mode connections opened so far
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------ lifecycle
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name or uuid.uuid4().hex[:8]}"

    async def start(self, port: int = 0) -> FakeSlack:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get("/link", self._ws)
        app.router.add_get("/_calls", self._dump)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for gate in self.gates.values():  # never leave a held request hanging
            gate.set()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ test controls
    def add_user(self, user_id: str, team_id: str, name: str, email: str | None = None, **extra: Any) -> None:
        profile = {"display_name": name, "real_name": name, "team": team_id}
        if email:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "team_id": team_id,
            "name": name.lower(),
            "real_name": name,
            "is_bot": False,
            "profile": profile,
            **extra,
        }

    def add_channel(self, channel_id: str, name: str, *, shared: bool = False) -> None:
        self.channels[channel_id] = {
            "id": channel_id,
            "name": name,
            "is_channel": True,
            "is_private": False,
            "is_archived": False,
            "is_shared": shared,
            "is_ext_shared": shared,
            "is_member": True,
        }

    def fail(
        self, method: str, status: int, *, retry_after: int | None = None, error: str | None = None, times: int = 1
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``status`` (429 with Retry-After, 5xx, ...)."""
        self.faults.append(Fault(method, status, retry_after, error, times))

    def storm(self, method: str, *, seconds: float, retry_after: int = 1) -> None:
        """Every call of ``method`` gets a 429 with ``Retry-After`` for the next ``seconds``."""
        self.storms[method] = (time.time() + seconds, retry_after)

    def hold(self, method: str) -> asyncio.Event:
        """Calls of ``method`` wait until the returned event is set (deterministic "slow Slack")."""
        self.gates[method] = asyncio.Event()
        return self.gates[method]

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 200]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [c.params for c in self.of("chat.postMessage") if channel is None or c.params.get("channel") == channel]

    def replies(self, channel: str) -> list[dict[str, Any]]:
        """Posts in ``channel`` other than the bot's acknowledgement ("A teammate will reply here ...")."""
        return [p for p in self.posts(channel) if "A teammate will reply here" not in str(p.get("text", ""))]

    async def wait_for(self, predicate, timeout: float = 5.0, what: str = "condition") -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every request); return its value."""
        assert self._changed is not None
        async with self._changed:
            try:
                return await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------ Socket Mode
    async def send_envelope(
        self,
        type_: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": type_,
            "payload": payload,
            "accepts_response_payload": type_ != "events_api",
        }
        if type_ == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        await self.wait_for(lambda: self._sockets, what="a Socket Mode connection")
        await self._sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def send_raw(self, message: dict[str, Any]) -> None:
        """Send a control message (e.g. {"type": "disconnect", "reason": "refresh_requested"})."""
        await self.wait_for(lambda: self._sockets, what="a Socket Mode connection")
        await self._sockets[-1].send_str(json.dumps(message))

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A_APP"},
                }
            )
        )
        self._sockets.append(ws)
        self.connections += 1
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.acks.append(json.loads(msg.data))
                    await self._notify()
        finally:
            self._sockets.remove(ws)
        return ws

    # ------------------------------------------------------------ Web API
    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        if request.content_type == "application/json":
            params = json.loads(raw or "{}")
        else:
            params = dict(parse_qsl(raw, keep_blank_values=True))
            params.update(request.query)
        for key in ("blocks", "view", "attachments", "files", "metadata"):
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params if self.record_params else {}, time.time())
        self.calls.append(call)
        await self._notify()
        try:
            if method in self.delays:
                await asyncio.sleep(self.delays[method])
            if method in self.gates:
                await self.gates[method].wait()
            storm = self.storms.get(method)
            if storm is not None and time.time() < storm[0]:
                call.status = 429
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(storm[1])}
                )
            fault = next((f for f in self.faults if f.method == method and f.remaining > 0), None)
            if fault is not None:
                fault.remaining -= 1
                call.status = fault.status
                if fault.status == 429:
                    return web.json_response(
                        {"ok": False, "error": "ratelimited"},
                        status=429,
                        headers={"Retry-After": str(fault.retry_after or 1)},
                    )
                if fault.status >= 500:
                    return web.Response(
                        status=fault.status, text="<html>upstream error</html>", content_type="text/html"
                    )
                return web.json_response({"ok": False, "error": fault.error or "fatal_error"}, status=fault.status)
            call.result = self._handle(method, params)
            return web.json_response(call.result)
        finally:
            await self._notify()

    def _handle(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://ours.slack.com/",
                "team": "Ours",
                "user": "supportbot",
                "team_id": OUR_TEAM,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"}
        if method == "users.info":
            user = self.users.get(p.get("user", ""))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "conversations.info":
            channel = self.channels.get(p.get("channel", ""))
            return {"ok": True, "channel": channel} if channel else {"ok": False, "error": "channel_not_found"}
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink", "reactions.add"):
            channel = p.get("channel", "")
            if channel not in self.channels:
                return {"ok": False, "error": "channel_not_found"}
            if method == "chat.postMessage":
                ts = self._new_ts()
                message = {
                    "type": "message",
                    "user": BOT_USER,
                    "bot_id": BOT_ID,
                    "text": p.get("text", ""),
                    "ts": ts,
                    "thread_ts": p.get("thread_ts"),
                    "blocks": p.get("blocks"),
                }
                if p.get("metadata"):
                    message["metadata"] = p["metadata"]
                self.messages[(channel, ts)] = message
                return {"ok": True, "channel": channel, "ts": ts, "message": message}
            if method == "chat.update":
                return {"ok": True, "channel": channel, "ts": p.get("ts"), "text": p.get("text", "")}
            if method == "chat.postEphemeral":
                return {"ok": True, "message_ts": self._new_ts()}
            if method == "chat.getPermalink":
                ts = str(p.get("message_ts", "")).replace(".", "")
                return {"ok": True, "channel": channel, "permalink": f"https://ours.slack.com/archives/{channel}/p{ts}"}
            return {"ok": True}
        if method in ("conversations.replies", "conversations.history"):
            return self._read_channel(method, p)
        if method == "files.getUploadURLExternal":
            if not p.get("filename") or not str(p.get("length", "")).isdigit():
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F{next(self._ts):08d}"
            self.uploads[file_id] = {
                "filename": p["filename"],
                "length": int(p["length"]),
                "data": None,
                "alt_txt": p.get("alt_txt"),
                "shared": None,
            }
            return {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/v1/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = p.get("files")
            if not isinstance(files, list) or not files:
                return {"ok": False, "error": "invalid_arguments"}
            channel = p.get("channel_id")
            if channel and channel not in self.channels:
                return {"ok": False, "error": "channel_not_found"}
            done = []
            for item in files:
                upload = self.uploads.get(str(item.get("id")))
                if upload is None or upload["data"] is None:
                    return {"ok": False, "error": "file_not_found"}
                upload.update(
                    title=item.get("title"),
                    shared={
                        "channel": channel,
                        "thread_ts": p.get("thread_ts"),
                        "initial_comment": p.get("initial_comment"),
                    },
                )
                done.append(
                    {
                        "id": item["id"],
                        "name": upload["filename"],
                        "title": item.get("title") or "",
                        "size": len(upload["data"]),
                    }
                )
            return {"ok": True, "files": done}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V_MODAL", **(p.get("view") or {})}}
        if method == "views.publish":
            return {"ok": True, "view": {"id": "V_HOME", **(p.get("view") or {})}}
        return {"ok": False, "error": "unknown_method"}

    def _new_ts(self) -> str:
        """A message ts as Slack makes them: the posting time in seconds, unique within the channel.

        The fake's own posts use the microseconds 600000 and up, so they never equal the ts of an
        event a test makes up (which count from 0): Slack never gives two messages one ts.
        """
        return f"{int(time.time())}.{600_000 + next(self._ts) % 400_000:06d}"

    def _read_channel(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        """conversations.history (top-level messages) and conversations.replies (a thread, parent first),
        newest first for history as Slack returns them; metadata only with include_all_metadata."""
        channel = str(p.get("channel", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(p.get("oldest") or 0)
        found = [m for (c, _), m in self.messages.items() if c == channel and float(m["ts"]) >= oldest]
        if method == "conversations.replies":
            thread = str(p.get("ts", ""))
            found = [m for m in found if m["ts"] == thread or m.get("thread_ts") == thread]
            found.sort(key=lambda m: float(m["ts"]))
        else:
            found = [m for m in found if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]
            found.sort(key=lambda m: float(m["ts"]), reverse=True)
        if str(p.get("include_all_metadata", "")).lower() not in ("1", "true"):
            found = [{k: v for k, v in m.items() if k != "metadata"} for m in found]
        limit = int(p.get("limit") or 100)
        return {"ok": True, "messages": found[:limit], "has_more": len(found) > limit}

    async def _upload(self, request: web.Request) -> web.Response:
        """Step 2 of files upload v2: the file's bytes POSTed to the upload_url files.getUploadURLExternal gave."""
        upload = self.uploads.get(request.match_info["file_id"])
        data = await request.read()
        if upload is None:
            return web.Response(status=404, text="unknown upload")
        if len(data) != upload["length"]:
            return web.Response(status=400, text="length mismatch")
        upload["data"] = data
        await self._notify()
        return web.Response(text=f"OK - {len(data)}")

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append(json.loads(await request.text() or "{}"))
        await self._notify()
        return web.Response(text="ok")

    async def _dump(self, request: web.Request) -> web.Response:
        return web.json_response(
            [{"method": c.method, "params": c.params, "at": c.at, "status": c.status} for c in self.calls]
        )


async def _main(port: int, channels: list[str]) -> None:
    fake = FakeSlack(record_params=True)
    for channel in channels:
        fake.add_channel(channel, channel.lower(), shared=channel != "C_TRIAGE")
    await fake.start(port)
    print(f"PORT {fake.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--channel", action="append", default=[])
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.channel or ["C_TRIAGE", "C_SHARED"]))
