"""A fake Discord (gateway + REST API) that the project owns, for tests and the benchmark.

One aiohttp server on 127.0.0.1 (ephemeral port) serves

* the REST API under ``/api/v10`` with the payload shapes Discord documents
  (messages, threads, forum tags, reactions, interaction callbacks, webhooks,
  application commands); every request is recorded;
* the gateway at ``/gateway`` (and ``/resume-gateway``, the ``resume_gateway_url``
  READY announces): HELLO, IDENTIFY (intents honoured, message content stripped
  without MESSAGE_CONTENT), READY, GUILD_CREATE, heartbeats, RESUME with replay,
  ``compress=zlib-stream`` transport compression (one zlib context per
  connection, every frame ends with Z_SYNC_FLUSH), encoding=json only;
* a small control API under ``/_fake`` so a separate process (the benchmark)
  can inject events and read what the bot did.

Tests in the same event loop call the Python methods directly
(``await fake.customer_message(...)``, ``await fake.wait_for_request(...)``).

Run standalone: ``python -m tests.discord_bot.fake_discord`` prints one JSON
line with the URLs and serves until killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

TOKEN = "fake-bot-token"
API_PREFIX = "/api/v10"

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents)
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
MESSAGE_CONTENT = 1 << 15
PRIVILEGED = GUILD_MEMBERS | (1 << 8) | MESSAGE_CONTENT


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with exactly ``Content-Type: application/json`` like Discord (discord.py compares it verbatim)."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={**(headers or {}), "Content-Type": "application/json"}
    )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Recorded:
    method: str
    path: str  # without the /api/v10 prefix and without the query string
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    at: float  # time.monotonic()
    status: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)  # multipart uploads: field, filename, type, data


@dataclass
class Session:
    session_id: str
    intents: int
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # every dispatched frame (with "s")
    ws: web.WebSocketResponse | None = None
    compressor: Any = None
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    times: int
    kind: str  # "429", "drop", "status"
    retry_after: float = 0.5
    is_global: bool = False
    status: int = 500
    body: dict[str, Any] | None = None


class FakeDiscord:
    def __init__(self, *, heartbeat_interval_ms: int = 41_250, allow_privileged: bool = True) -> None:
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allow_privileged = allow_privileged
        self.app_id = self.snowflake()
        self.guild_id = self.snowflake()
        self.bot_user = self._user(self.app_id, "supportbot", bot=True)
        self.agent_role = self.snowflake()
        self.manager_role = self.snowflake()
        self.forum_id = self.snowflake()
        self.text_id = self.snowflake()
        self.triage_id = self.snowflake()
        self.general_id = self.snowflake()
        self.tags = {
            name: self.snowflake()
            for name in ("invoice", "sso_saml", "open", "waiting_on_customer", "resolved", "feature")
        }
        self.users: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}  # user id -> role ids
        self.customer = self.add_member("alice", [])
        self.agent = self.add_member("sam", [self.agent_role])
        self.manager = self.add_member("morgan", [self.agent_role, self.manager_role])
        self.outsider = self.add_member("mallory", [])
        self.channels: dict[str, dict[str, Any]] = {}
        self._channel(
            self.forum_id,
            "help-forum",
            15,
            available_tags=[
                {"id": tid, "name": name, "moderated": False, "emoji_id": None, "emoji_name": None}
                for name, tid in self.tags.items()
            ],
        )
        self._channel(self.text_id, "support", 0)
        self._channel(self.triage_id, "support-triage", 0)
        self._channel(self.general_id, "general", 0)
        self.messages: dict[str, dict[str, Any]] = {}
        self.nonces: dict[tuple[str, str], str] = {}  # (author, nonce) -> message id (enforce_nonce)
        self.requests: list[Recorded] = []
        self.connections: list[dict[str, Any]] = []  # one per gateway connection: url, query, identify/resume
        self.gateway_frames_in: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.sessions: dict[str, Session] = {}
        self.session: Session | None = None
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> registered commands
        self.faults: list[Fault] = []
        self.denied_channels: set[str] = set()
        self.attachment_data: dict[str, bytes] = {}  # attachment id -> the uploaded bytes
        self.replay_after: int | None = None  # on RESUME, replay from here instead of the client's seq
        self.event_times: dict[str, float] = {}
        self.interactions: dict[str, dict[str, Any]] = {}  # message id -> when its MESSAGE_CREATE was dispatched
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ set-up
    def snowflake(self) -> str:
        return str(next(self._ids))

    def _user(self, user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": name,
            "discriminator": "0",
            "global_name": name.title(),
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
        }

    def add_member(self, name: str, roles: list[str]) -> str:
        user_id = self.snowflake()
        self.users[user_id] = self._user(user_id, name)
        self.members[user_id] = list(roles)
        return user_id

    def _channel(self, channel_id: str, name: str, kind: int, **extra: Any) -> dict[str, Any]:
        data = {
            "id": channel_id,
            "type": kind,
            "guild_id": self.guild_id,
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": [],
            "parent_id": None,
            "nsfw": False,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
            **extra,
        }
        if kind == 15:
            data.update(
                default_reaction_emoji=None,
                default_thread_rate_limit_per_user=0,
                default_sort_order=None,
                default_forum_layout=0,
            )
        self.channels[channel_id] = data
        return data

    def member_payload(self, user_id: str, *, with_user: bool = False) -> dict[str, Any]:
        data = {
            "roles": list(self.members.get(user_id, [])),
            "nick": None,
            "avatar": None,
            "joined_at": "2026-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.users.get(user_id) or self.bot_user
        return data

    def roles_payload(self) -> list[dict[str, Any]]:
        def role(role_id: str, name: str, position: int) -> dict[str, Any]:
            return {
                "id": role_id,
                "name": name,
                "color": 0,
                "hoist": False,
                "icon": None,
                "unicode_emoji": None,
                "position": position,
                "permissions": "0",
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }

        return [
            role(self.guild_id, "@everyone", 0),
            role(self.agent_role, "Support agent", 1),
            role(self.manager_role, "Support manager", 2),
        ]

    def guild_payload(self) -> dict[str, Any]:
        threads = [c for c in self.channels.values() if c["type"] in (10, 11, 12)]
        channels = [c for c in self.channels.values() if c["type"] not in (10, 11, 12)]
        members = [self.member_payload(uid, with_user=True) for uid in self.members]
        members.append(self.member_payload(self.app_id, with_user=True))
        return {
            "id": self.guild_id,
            "name": "Nimbus Community",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": self.manager,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": self.roles_payload(),
            "emojis": [],
            "features": ["COMMUNITY"],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "stickers": [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "voice_states": [],
            "members": members,
            "channels": channels,
            "threads": threads,
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # ------------------------------------------------------------------ server
    async def start(self, port: int = 0) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/resume-gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        app.router.add_route("*", "/_fake/{tail:.*}", self._control)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for session in self.sessions.values():
            if session.ws is not None and not session.ws.closed:
                with contextlib.suppress(Exception):
                    await session.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume-gateway"

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate, timeout: float = 5.0, what: str = "condition"):
        """Wait until ``predicate()`` returns something truthy; return it."""

        async def _wait():
            async with self._changed:
                while True:
                    value = predicate()
                    if value:
                        return value
                    # woken by every request/frame; re-checked every 20 ms for state outside the fake (the DB)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.02)

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None

    def find_requests(self, method: str, path: str) -> list[Recorded]:
        pattern = re.compile(path)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    async def wait_for_request(self, method: str, path: str, *, count: int = 1, timeout: float = 5.0) -> Recorded:
        found = await self.wait_until(
            lambda: (lambda rs: rs if len(rs) >= count else None)(self.find_requests(method, path)),
            timeout,
            f"{count}x {method} {path}",
        )
        return found[count - 1]

    # ------------------------------------------------------------------ faults
    def rate_limit(
        self, method: str, path: str, *, times: int = 1, retry_after: float = 0.5, is_global: bool = False
    ) -> None:
        self.faults.append(Fault(method, re.compile(path), times, "429", retry_after, is_global))

    def fail(
        self, method: str, path: str, *, times: int = 1, status: int = 500, body: dict[str, Any] | None = None
    ) -> None:
        self.faults.append(Fault(method, re.compile(path), times, "status", status=status, body=body))

    def drop_http(self, method: str, path: str, *, times: int = 1) -> None:
        """Close the TCP connection without answering (a network failure)."""
        self.faults.append(Fault(method, re.compile(path), times, "drop"))

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.pattern.fullmatch(path):
                fault.times -= 1
                return fault
        return None

    @staticmethod
    def rate_limit_response(retry_after: float, *, is_global: bool = False) -> web.Response:
        """A 429 exactly as Discord sends it (body and headers)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "d5f1a0b2c3e4f5a6b7c8d9e0f1a2b3c4",
            "X-RateLimit-Scope": "global" if is_global else "user",
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        return _json(body, status=429, headers=headers)

    # ------------------------------------------------------------------ REST
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        files: list[dict[str, Any]] = []
        if request.content_type == "multipart/form-data":
            # Messages with attachments: a payload_json part plus one files[n] part per file.
            form = await request.post()
            for name, value in form.items():
                if name == "payload_json":
                    body = json.loads(value if isinstance(value, str) else bytes(value))
                elif isinstance(value, web.FileField):
                    files.append(
                        {
                            "field": name,
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "data": value.file.read(),
                        }
                    )
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
        record = Recorded(
            request.method, path, dict(request.query), body, dict(request.headers), time.monotonic(), files=files
        )
        self.requests.append(record)
        try:
            response = await self._route(request, path, {**body, "_files": files} if files else body)
        finally:
            await self._notify()
        record.status = response.status if isinstance(response, web.Response) else 0
        await self._notify()
        return response

    def _error(self, status: int, message: str, code: int) -> web.Response:
        return _json({"message": message, "code": code}, status=status)

    async def _route(self, request: web.Request, path: str, body: Any) -> web.StreamResponse:
        method = request.method
        is_interaction = path.startswith("/interactions/") or path.startswith("/webhooks/")
        if not is_interaction and request.headers.get("Authorization") != f"Bot {TOKEN}":
            return self._error(401, "401: Unauthorized", 0)
        fault = self._fault_for(method, path)
        if fault is not None:
            if fault.kind == "429":
                return self.rate_limit_response(fault.retry_after, is_global=fault.is_global)
            if fault.kind == "drop":
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            return _json(fault.body or {"message": "Internal Server Error", "code": 0}, status=fault.status)
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", r"/gateway/bot", self._get_gateway_bot),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/channels/(\d+)", self._get_channel),
            ("PATCH", r"/channels/(\d+)", self._patch_channel),
            ("POST", r"/channels/(\d+)/messages", self._post_message),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", self._patch_message),
            ("POST", r"/channels/(\d+)/messages/(\d+)/threads", self._thread_from_message),
            ("POST", r"/channels/(\d+)/threads", self._thread_without_message),
            ("PUT", r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", self._put_reaction),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._interaction_callback),
            ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/@original", self._webhook_edit_original),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._webhook_followup),
            ("PUT", r"/applications/(\d+)/commands", self._put_commands),
            ("PUT", r"/applications/(\d+)/guilds/(\d+)/commands", self._put_commands),
            ("GET", r"/applications/(\d+)/commands", self._get_commands),
            ("GET", r"/applications/(\d+)/guilds/(\d+)/commands", self._get_commands),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return await handler(body, *match.groups())
        return self._error(404, "404: Not Found", 0)

    async def _get_me(self, body: Any) -> web.Response:
        return _json({**self.bot_user, "verified": True, "mfa_enabled": False, "email": None})

    async def _get_application(self, body: Any) -> web.Response:
        return _json(
            {
                "id": self.app_id,
                "name": "supportbot",
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.users[self.manager],
                "team": None,
                "verify_key": "0" * 64,
                "flags": (1 << 19),
                "bot": self.bot_user,
                "summary": "",
            }
        )

    async def _get_gateway_bot(self, body: Any) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_gateway(self, body: Any) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_channel(self, body: Any, channel_id: str) -> web.Response:
        channel = self.channels.get(channel_id)
        if channel is None:
            return self._error(404, "Unknown Channel", 10003)
        return _json(channel)

    async def _patch_channel(self, body: Any, channel_id: str) -> web.Response:
        channel = self.channels.get(channel_id)
        if channel is None:
            return self._error(404, "Unknown Channel", 10003)
        if channel_id in self.denied_channels:
            return self._error(403, "Missing Access", 50001)
        if "applied_tags" in (body or {}):
            parent = self.channels.get(channel.get("parent_id") or "")
            known = {t["id"] for t in (parent or {}).get("available_tags", [])}
            tags = [str(t) for t in body["applied_tags"]]
            if parent is None or parent["type"] != 15 or not set(tags) <= known or len(tags) > 5:
                return self._error(400, "Invalid Form Body", 50035)
            channel["applied_tags"] = tags
        for key in ("name", "archived", "locked"):
            if key in (body or {}):
                channel[key] = body[key]
        if channel["type"] in (10, 11, 12):
            await self.dispatch("THREAD_UPDATE", channel)
        return _json(channel)

    def _message(
        self,
        channel_id: str,
        author: dict[str, Any],
        content: str,
        *,
        message_id: str | None = None,
        embeds: list | None = None,
        components: list | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        channel = self.channels[channel_id]
        message = {
            "id": message_id or self.snowflake(),
            "channel_id": channel_id,
            "guild_id": self.guild_id,
            "author": author,
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "mention_channels": [],
            "attachments": [],
            "embeds": embeds or [],
            "reactions": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": components or [],
            **extra,
        }
        channel["last_message_id"] = message["id"]
        if channel["type"] in (10, 11, 12):
            channel["message_count"] = channel.get("message_count", 0) + 1
            channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1
        self.messages[message["id"]] = message
        return message

    async def _post_message(self, body: Any, channel_id: str) -> web.Response:
        if channel_id not in self.channels:
            return self._error(404, "Unknown Channel", 10003)
        if channel_id in self.denied_channels:
            return self._error(403, "Missing Access", 50001)
        body = body or {}
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            return self._error(400, "Invalid Form Body", 50035)
        if nonce is not None and body.get("enforce_nonce"):
            # Discord: the same author and nonce within a few minutes returns that message, posts nothing
            earlier = self.nonces.get((self.app_id, str(nonce)))
            if earlier is not None:
                return _json(self.messages[earlier])
        content = body.get("content") or ""
        if len(content) > 2000:
            return self._error(400, "Invalid Form Body", 50035)
        attachments = []
        for index, upload in enumerate(body.get("_files") or []):
            meta = next((a for a in body.get("attachments") or [] if str(a.get("id")) == str(index)), {})
            if upload["field"] != f"files[{index}]" or not meta:
                return self._error(400, "Invalid Form Body", 50035)  # every files[n] needs attachments[] id n
            attachment_id = self.snowflake()
            attachments.append(
                {
                    "id": attachment_id,
                    "filename": meta.get("filename") or upload["filename"],
                    "description": meta.get("description"),
                    "content_type": upload["content_type"],
                    "size": len(upload["data"]),
                    "url": f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{upload['filename']}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{channel_id}/{attachment_id}/x",
                }
            )
            self.attachment_data[attachment_id] = upload["data"]
        message = self._message(
            channel_id, self.bot_user, content, embeds=body.get("embeds"), components=body.get("components")
        )
        if attachments:
            message["attachments"] = attachments
        message["allowed_mentions"] = body.get("allowed_mentions")
        if nonce is not None:
            message["nonce"] = str(nonce)
            self.nonces[(self.app_id, str(nonce))] = message["id"]
        await self.dispatch("MESSAGE_CREATE", {**message, "member": self.member_payload(self.app_id)})
        return _json(message)

    async def _patch_message(self, body: Any, channel_id: str, message_id: str) -> web.Response:
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != channel_id:
            return self._error(404, "Unknown Message", 10008)
        message.update({k: v for k, v in (body or {}).items() if k in ("content", "embeds", "components")})
        return _json(message)

    def _thread(self, parent_id: str, thread_id: str, name: str, owner_id: str, kind: int = 11) -> dict[str, Any]:
        thread = self._channel(
            thread_id,
            name[:100],
            kind,
            parent_id=parent_id,
            owner_id=owner_id,
            applied_tags=[],
            message_count=0,
            member_count=1,
            total_message_sent=0,
            thread_metadata={
                "archived": False,
                "auto_archive_duration": 4320,
                "archive_timestamp": _now_iso(),
                "locked": False,
                "create_timestamp": _now_iso(),
            },
        )
        return thread

    async def _thread_from_message(self, body: Any, channel_id: str, message_id: str) -> web.Response:
        if channel_id not in self.channels:
            return self._error(404, "Unknown Channel", 10003)
        if channel_id in self.denied_channels:
            return self._error(403, "Missing Access", 50001)
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != channel_id:
            return self._error(404, "Unknown Message", 10008)
        if message_id in self.channels:
            return self._error(400, "A thread has already been created for this message", 160004)
        name = (body or {}).get("name") or ""
        if not 1 <= len(name) <= 100:
            return self._error(400, "Invalid Form Body", 50035)
        thread = self._thread(channel_id, message_id, name, self.app_id)
        message["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, status=201)

    async def _thread_without_message(self, body: Any, channel_id: str) -> web.Response:
        if channel_id not in self.channels:
            return self._error(404, "Unknown Channel", 10003)
        thread = self._thread(
            channel_id,
            self.snowflake(),
            (body or {}).get("name", "thread"),
            self.app_id,
            int((body or {}).get("type", 11)),
        )
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, status=201)

    async def _put_reaction(self, body: Any, channel_id: str, message_id: str, emoji: str) -> web.Response:
        message = self.messages.get(message_id)
        if channel_id not in self.channels:
            return self._error(404, "Unknown Channel", 10003)
        if message is None or message["channel_id"] != channel_id:
            return self._error(404, "Unknown Message", 10008)
        return web.Response(status=204)

    async def _interaction_callback(self, body: Any, interaction_id: str, token: str) -> web.Response:
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction["token"] != token:
            return self._error(404, "Unknown interaction", 10062)
        if interaction.get("responded"):
            return self._error(400, "Interaction has already been acknowledged.", 40060)
        interaction["responded"] = body
        message_id = None
        if body and body.get("type") == 4:
            message_id = self.snowflake()
        return _json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": interaction["type"],
                    "activity_instance_id": None,
                    "response_message_id": message_id,
                    "response_message_loading": body.get("type") == 5,
                    "response_message_ephemeral": bool((body.get("data") or {}).get("flags", 0) & 64),
                },
                "resource": {"type": body.get("type")},
            }
        )

    async def _webhook_edit_original(self, body: Any, app_id: str, token: str) -> web.Response:
        message = self._message(self.triage_id, self.bot_user, (body or {}).get("content") or "")
        return _json(message)

    async def _webhook_followup(self, body: Any, app_id: str, token: str) -> web.Response:
        message = self._message(self.triage_id, self.bot_user, (body or {}).get("content") or "")
        return _json(message)

    async def _put_commands(self, body: Any, app_id: str, guild_id: str | None = None) -> web.Response:
        if app_id != self.app_id:
            return self._error(403, "Missing Access", 50001)
        stored = []
        for command in body or []:
            stored.append(
                {
                    **command,
                    "id": self.snowflake(),
                    "application_id": self.app_id,
                    "version": "1",
                    "default_member_permissions": command.get("default_member_permissions"),
                    **({"guild_id": guild_id} if guild_id else {}),
                }
            )
        self.commands[guild_id or "global"] = stored
        return _json(stored)

    async def _get_commands(self, body: Any, app_id: str, guild_id: str | None = None) -> web.Response:
        return _json(self.commands.get(guild_id or "global", []))

    # ------------------------------------------------------------------ gateway
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        connection = {"path": request.path, "query": query}
        self.connections.append(connection)
        compress = query.get("compress")
        if query.get("encoding", "json") != "json" or compress not in (None, "zlib-stream"):
            await ws.close(code=4000, message=b"unsupported encoding or compression")
            return ws
        compressor = zlib.compressobj() if compress == "zlib-stream" else None
        session: Session | None = None

        async def send(payload: dict[str, Any], target: Session | None = None) -> None:
            await self._send_frame(ws, compressor, payload, target.send_lock if target else None)

        await send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
        await self._notify()
        try:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(frame.data)
                self.gateway_frames_in.append(payload)
                op, data = payload.get("op"), payload.get("d")
                if op == 1:
                    self.heartbeats += 1
                    await send({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    connection["identify"] = data
                    if data.get("token") != TOKEN:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    intents = int(data.get("intents", 0))
                    if intents & PRIVILEGED and not self.allow_privileged:
                        await ws.close(code=4014, message=b"Disallowed intent(s).")
                        break
                    session = Session(session_id=f"sess-{self.snowflake()}", intents=intents)
                    self.sessions[session.session_id] = session
                    self.session = session
                    session.ws, session.compressor = ws, compressor
                    await self._dispatch_to(
                        session,
                        "READY",
                        {
                            "v": 10,
                            "user": {**self.bot_user, "verified": True, "mfa_enabled": False},
                            "guilds": [{"id": self.guild_id, "unavailable": True}],
                            "session_id": session.session_id,
                            "resume_gateway_url": self.resume_url,
                            "shard": [0, 1],
                            "application": {"id": self.app_id, "flags": 1 << 19},
                            "private_channels": [],
                            "relationships": [],
                            "presences": [],
                            "session_type": "normal",
                            "user_settings": {},
                            "guild_join_requests": [],
                            "geo_ordered_rtc_regions": [],
                        },
                    )
                    if intents & GUILDS:
                        await self._dispatch_to(session, "GUILD_CREATE", self.guild_payload())
                elif op == 6:
                    connection["resume"] = data
                    session = self.sessions.get(data.get("session_id"))
                    if session is None or data.get("token") != TOKEN:
                        await send({"op": 9, "d": False, "s": None, "t": None})
                        continue
                    session.ws, session.compressor = ws, compressor
                    self.session = session
                    after = int(data.get("seq") or 0)
                    if self.replay_after is not None:  # at-least-once: re-send events the client already had
                        after, self.replay_after = min(after, self.replay_after), None
                    async with session.send_lock:
                        for event in [e for e in session.events if e["s"] > after]:
                            await self._send_frame(ws, compressor, self._filtered(session, event), None)
                        session.seq += 1
                        resumed = {"op": 0, "t": "RESUMED", "s": session.seq, "d": {}}
                        session.events.append(resumed)
                        await self._send_frame(ws, compressor, resumed, None)
                    connection["resumed"] = True
                await self._notify()
        finally:
            if session is not None and session.ws is ws:
                session.ws = None
            connection["closed"] = True
            await self._notify()
        return ws

    @staticmethod
    async def _send_frame(
        ws: web.WebSocketResponse, compressor: Any, payload: dict[str, Any], lock: asyncio.Lock | None
    ) -> None:
        text = json.dumps(payload)

        async def _send() -> None:
            if ws.closed:
                return
            if compressor is None:
                await ws.send_str(text)
            else:
                await ws.send_bytes(compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH))

        with contextlib.suppress(ConnectionResetError, RuntimeError):
            if lock is None:
                await _send()
            else:
                async with lock:
                    await _send()

    def _filtered(self, session: Session, event: dict[str, Any]) -> dict[str, Any]:
        """Apply the session's intents: without MESSAGE_CONTENT, message content is empty
        (except the bot's own messages and messages that mention it)."""
        if event.get("t") in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.intents & MESSAGE_CONTENT:
            data = event["d"]
            mentioned = any(u.get("id") == self.app_id for u in data.get("mentions", []))
            if data.get("author", {}).get("id") != self.app_id and not mentioned:
                data = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
                return {**event, "d": data}
        return event

    def _wants(self, session: Session, event_name: str) -> bool:
        if event_name.startswith("MESSAGE_REACTION_"):
            return bool(session.intents & GUILD_MESSAGE_REACTIONS)
        if event_name.startswith(("MESSAGE_",)):
            return bool(session.intents & GUILD_MESSAGES)
        if event_name.startswith(("THREAD_", "GUILD_", "CHANNEL_")):
            return bool(session.intents & GUILDS)
        return True

    async def _dispatch_to(self, session: Session, event_name: str, data: dict[str, Any]) -> None:
        if not self._wants(session, event_name):
            return
        async with session.send_lock:
            session.seq += 1
            frame = {"op": 0, "t": event_name, "s": session.seq, "d": data}
            session.events.append(frame)
            if session.ws is not None:
                await self._send_frame(session.ws, session.compressor, self._filtered(session, frame), None)

    async def dispatch(self, event_name: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH to the current session (kept for replay when disconnected)."""
        if self.session is not None:
            await self._dispatch_to(self.session, event_name, data)
        await self._notify()

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket the way Discord does before a resumable reconnect."""
        assert self.session is not None and self.session.ws is not None, "no live gateway connection"
        ws, self.session.ws = self.session.ws, None
        await ws.close(code=code, message=b"dropped by the fake")
        await self._notify()

    async def request_reconnect(self) -> None:
        """Op 7 RECONNECT: Discord asks the client to reconnect and resume."""
        assert self.session is not None and self.session.ws is not None, "no live gateway connection"
        await self._send_frame(
            self.session.ws, self.session.compressor, {"op": 7, "d": None, "s": None, "t": None}, self.session.send_lock
        )

    def forget_sessions(self) -> None:
        """Sessions expire: the next RESUME gets op 9 INVALID_SESSION (d=false) and must IDENTIFY again."""
        self.sessions.clear()

    def seq_of(self, event_name: str, object_id: str) -> int:
        """The sequence number of the dispatch of ``event_name`` for ``object_id``."""
        assert self.session is not None
        return next(e["s"] for e in self.session.events if e["t"] == event_name and e["d"].get("id") == object_id)

    def connected(self) -> bool:
        return self.session is not None and self.session.ws is not None

    # ------------------------------------------------------------------ what users do
    async def customer_message(
        self, channel_id: str, content: str, *, author: str | None = None, message_id: str | None = None
    ) -> dict[str, Any]:
        """A user posts ``content`` in a text channel or a thread."""
        author = author or self.customer
        message = self._message(channel_id, self.users[author], content, message_id=message_id)
        self.event_times[message["id"]] = time.monotonic()
        await self.dispatch("MESSAGE_CREATE", {**message, "member": self.member_payload(author)})
        return message

    async def reaction_add(self, channel_id: str, message_id: str, emoji: str, *, user: str) -> None:
        """A member adds a Unicode ``emoji`` to a message: MESSAGE_REACTION_ADD as Discord sends it."""
        message = self.messages.get(message_id) or {}
        await self.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": user,
                "type": 0,
                "message_id": message_id,
                "message_author_id": (message.get("author") or {}).get("id"),
                "member": self.member_payload(user, with_user=True),
                "emoji": {"id": None, "name": emoji},
                "channel_id": channel_id,
                "burst": False,
                "burst_colors": [],
                "guild_id": self.guild_id,
            },
        )

    async def forum_post(
        self, title: str, content: str, *, author: str | None = None, forum_id: str | None = None
    ) -> dict[str, Any]:
        """A user opens a forum post: THREAD_CREATE, then the starter MESSAGE_CREATE (id == thread id)."""
        author = author or self.customer
        forum_id = forum_id or self.forum_id
        thread_id = self.snowflake()
        thread = self._thread(forum_id, thread_id, title, author)
        await self.dispatch(
            "THREAD_CREATE",
            {
                **thread,
                "newly_created": True,
                "member": {"id": thread_id, "user_id": author, "join_timestamp": _now_iso(), "flags": 0},
            },
        )
        return await self.customer_message(thread_id, content, author=author, message_id=thread_id)

    def _interaction(
        self, kind: int, data: dict[str, Any], user: str, channel_id: str, message: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        interaction_id = self.snowflake()
        token = f"itoken-{interaction_id}"
        channel = self.channels[channel_id]
        payload = {
            "id": interaction_id,
            "application_id": self.app_id,
            "type": kind,
            "data": data,
            "guild_id": self.guild_id,
            "channel_id": channel_id,
            "channel": channel,
            "member": {**self.member_payload(user, with_user=True), "permissions": "2248473465835073"},
            "token": token,
            "version": 1,
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": self.guild_id},
            "context": 0,
            "attachment_size_limit": 10_485_760,
        }
        if message is not None:
            payload["message"] = message
        self.interactions[interaction_id] = {"type": kind, "token": token}
        return payload

    async def press_button(self, message: dict[str, Any], custom_id: str, *, user: str) -> str:
        payload = self._interaction(
            3, {"custom_id": custom_id, "component_type": 2}, user, message["channel_id"], message
        )
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload["id"]

    async def submit_modal(self, custom_id: str, values: dict[str, str], *, user: str, channel_id: str) -> str:
        rows = [
            {"type": 1, "id": i + 1, "components": [{"type": 4, "id": i + 100, "custom_id": key, "value": value}]}
            for i, (key, value) in enumerate(values.items())
        ]
        payload = self._interaction(5, {"custom_id": custom_id, "components": rows}, user, channel_id)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload["id"]

    async def slash_command(
        self, subcommand: str, options: dict[str, Any] | None = None, *, user: str, channel_id: str | None = None
    ) -> str:
        registered = self.commands.get(self.guild_id) or self.commands.get("global") or []
        command_id = next((c["id"] for c in registered if c["name"] == "support"), self.snowflake())

        def option_type(v: Any) -> int:
            return 5 if isinstance(v, bool) else 10 if isinstance(v, float) else 3

        sub_options = [{"name": k, "type": option_type(v), "value": v} for k, v in (options or {}).items()]
        group, _, leaf = subcommand.partition(" ")  # "model promote": a subcommand group
        option = {"name": subcommand, "type": 1, "options": sub_options}
        if leaf:
            option = {"name": group, "type": 2, "options": [{"name": leaf, "type": 1, "options": sub_options}]}
        data = {
            "id": command_id,
            "name": "support",
            "type": 1,
            "guild_id": self.guild_id,
            "options": [option],
        }
        payload = self._interaction(2, data, user, channel_id or self.triage_id)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload["id"]

    def interaction_response(self, interaction_id: str) -> dict[str, Any] | None:
        return (self.interactions.get(interaction_id) or {}).get("responded")

    async def wait_for_response(self, interaction_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self.wait_until(
            lambda: self.interaction_response(interaction_id), timeout, f"a response to interaction {interaction_id}"
        )

    # ------------------------------------------------------------------ views of the state
    def bot_messages(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["channel_id"] == channel_id and m["author"]["id"] == self.app_id]

    def archived_thread(self, parent_id: str, root: dict[str, Any] | None = None) -> dict[str, Any]:
        """A thread that exists but was never announced (archived before the bot connected)."""
        thread_id = root["id"] if root else self.snowflake()
        thread = self._thread(parent_id, thread_id, "old question", self.customer)
        thread["thread_metadata"]["archived"] = True
        return thread

    def threads_of(self, parent_id: str) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c.get("parent_id") == parent_id and c["type"] in (10, 11, 12)]

    # ------------------------------------------------------------------ control API (other processes)
    async def _control(self, request: web.Request) -> web.Response:
        tail = request.match_info["tail"]
        body = await request.json() if request.can_read_body else {}
        if tail == "info":
            return _json(self.info())
        if tail == "customer_messages":  # {"channel_id", "contents": [...]} -> message ids
            ids = []
            for content in body["contents"]:
                author = self.add_member(f"customer{len(self.users)}", []) if body.get("distinct_authors") else None
                message = await self.customer_message(body.get("channel_id") or self.text_id, content, author=author)
                ids.append(message["id"])
            return _json({"ids": ids})
        if tail == "state":
            return _json(
                {
                    "connections": len(self.connections),
                    "connected": self.connected(),
                    "identified": sum(1 for c in self.connections if "identify" in c),
                }
            )
        if tail == "commands":
            return _json(self.commands)
        if tail == "latencies":  # for each message id: seconds from its MESSAGE_CREATE to the bot's reply
            return _json(self.reply_latencies())
        return _json({"error": "unknown"}, status=404)

    def info(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "gateway_url": self.gateway_url,
            "token": TOKEN,
            "guild_id": self.guild_id,
            "forum_id": self.forum_id,
            "text_id": self.text_id,
            "triage_id": self.triage_id,
            "agent_role": self.agent_role,
            "manager_role": self.manager_role,
            "app_id": self.app_id,
        }

    def reply_latencies(self) -> dict[str, float]:
        """Message id -> seconds until the bot's first POST into the thread created from it."""
        first: dict[str, float] = {}
        for r in self.requests:
            match = re.fullmatch(r"/channels/(\d+)/messages", r.path)
            if r.method == "POST" and match and r.status == 200 and match.group(1) in self.event_times:
                first.setdefault(match.group(1), r.at - self.event_times[match.group(1)])
        return first


async def _serve_forever() -> None:
    fake = await FakeDiscord().start(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(json.dumps(fake.info()), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever())
