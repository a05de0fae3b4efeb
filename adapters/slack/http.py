"""POST /slack/events (HTTP mode): check the request, then let bolt dispatch it.

The handler is mounted on the runtime's ops server (``adapters/ops_http.py``), which shares
the main event loop with everything else: storage never blocks the loop (units of work run
on worker threads), so Slack still gets its answer well within 3 seconds.

Bad input gets a 4xx with a short reason, never a 500 and never its body in the logs:
a missing signature or timestamp, a forged or stale signature → 401; a non-numeric
timestamp, a body that is not UTF-8, JSON or a form, or a payload without the fields
Slack always sends → 400. A 500 is left for our own failures (Slack retries those).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
INTERACTIVE_TYPES = ("block_actions", "view_submission", "view_closed", "block_suggestion", "shortcut")


def _refuse(status: int, reason: str) -> web.Response:
    log.info("refused a Slack request with %d: %s", status, reason)  # never the body: it is not ours to log
    return web.json_response({"ok": False, "error": reason}, status=status)


def malformed(body: Any) -> str | None:
    """Why a verified payload cannot be a Slack request (None: it has the fields Slack always sends)."""
    if not isinstance(body, dict) or not body:
        return "not a Slack payload"
    if "command" in body:  # a slash command (form fields)
        missing = [k for k in ("command", "user_id", "channel_id") if not isinstance(body.get(k), str)]
        return f"slash command without {', '.join(missing)}" if missing else None
    kind = body.get("type")
    if not isinstance(kind, str):
        return "payload without a type"
    if kind == "url_verification":
        return None if isinstance(body.get("challenge"), str) else "url_verification without a challenge"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback without an event type"
        return None
    if kind in INTERACTIVE_TYPES:
        user = body.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return f"{kind} without a user id"
        if kind == "block_actions":
            actions = body.get("actions")
            if not isinstance(actions, list) or not actions:
                return "block_actions without actions"
            if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
                return "block_actions with an action without action_id"
        if kind.startswith("view_"):
            view = body.get("view")
            if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
                return f"{kind} without a view callback_id"
    return None


class SlackEvents:
    """The aiohttp handler for ``POST /slack/events``."""

    def __init__(self, bolt: AsyncApp, signing_secret: str) -> None:
        self.bolt = bolt
        self.verifier = SignatureVerifier(signing_secret)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()  # beyond the server's client_max_size aiohttp answers 413
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "body is not UTF-8")
        headers = request.headers
        if "ssl_check=" in text[:200] and dict(parse_qsl(text)).get("ssl_check") == "1":
            return await self._dispatch(request, text)  # Slack's certificate check is not signed
        timestamp, signature = headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
        if not timestamp or not signature:
            return _refuse(401, "missing X-Slack-Signature or X-Slack-Request-Timestamp")
        if not (timestamp.isascii() and timestamp.isdigit()):
            return _refuse(400, "X-Slack-Request-Timestamp is not a number")
        if not self.verifier.is_valid(raw, timestamp, signature):
            return _refuse(401, "invalid or stale signature")
        return await self._dispatch(request, text)

    async def _dispatch(self, request: web.Request, text: str) -> web.StreamResponse:
        try:
            bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
        except (ValueError, BoltError, AttributeError, TypeError):  # bolt parses (JSON or form) as it builds
            return _refuse(400, "body is neither JSON nor a form with a JSON payload")
        body = bolt_request.body
        reason = malformed(body)
        if reason is not None and not (isinstance(body, dict) and body.get("ssl_check") == "1"):
            return _refuse(400, reason)
        return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))
