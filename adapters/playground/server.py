"""The playground web app (aiohttp): a customer pane and an agent console over the real core.

Pages are rendered on the server with Jinja2 (autoescaping on); a small static
script adds live updates from server-sent events. Customer actions go through
``SupportCore.handle_inbound`` / ``record_feedback``; agent actions through
``AgentCommands.execute`` with an Actor whose role the edge determines: the
agent role only for forms posted from the agent console with its CSRF token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from supportbot.adapters.markdown import safe_html
from supportbot.adapters.playground import ops, views
from supportbot.adapters.playground.channel import (
    CUSTOMER_STREAM,
    PLATFORM,
    STAFF_STREAM,
    WORKSPACE,
    EventHub,
    PlaygroundChannel,
)
from supportbot.adapters.playground.security import CSRF_FIELD, CSRF_HEADER, HEADERS, Guard
from supportbot.bot.card_actions import DRAFT_APPROVE, DRAFT_EDIT, DRAFT_REJECT, HANDOFF_CLAIM, HANDOFF_RESOLVE
from supportbot.bot.commands import Actor, Command, ResolveConversation, StaffMessage
from supportbot.bot.core import SupportCore
from supportbot.bot.domain import Author, Conversation, InboundMessage, Role
from supportbot.bot.errors import Conflict, InvalidInput, NotAuthorized, NotFound, SupportbotError
from supportbot.bot.ports import UnitOfWork

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
CUSTOMER_ID = "playground-customer"
CUSTOMER_NAME = "Playground customer"
AGENT = Actor("playground-agent", Role.AGENT, "Playground agent")
DEFAULT_ACCOUNT = "acc_demo"
CHANNEL_RE = re.compile(r"^pg-[0-9a-f]{32}$")
HEARTBEAT_SECONDS = 15.0
EMOJI = {"eyes": "👀", "white_check_mark": "✅"}

GUARD = web.AppKey("guard", Guard)
HUB = web.AppKey("hub", EventHub)
CORE = web.AppKey("core", SupportCore)
JINJA = web.AppKey("jinja", jinja2.Environment)
_RequestKey = getattr(web, "RequestKey", None)  # aiohttp >= 3.12 types per-request storage
SESSION: Any = _RequestKey("session", str) if _RequestKey else "session"
ROLE: Any = _RequestKey("role", str) if _RequestKey else "role"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is HTML-escaped; markdown() is our renderer's escaped HTML
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda d: d.astimezone(UTC).strftime("%H:%M") if d else ""
    env.filters["emoji"] = lambda name: EMOJI.get(name, "")
    env.globals["safe_url"] = views.safe_url
    env.globals["blocks"] = views.blocks
    env.globals["markdown"] = lambda text: Markup(safe_html(text))  # drafts: Markdown as safe HTML
    versions = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in (HERE / "static").iterdir()}
    env.globals["static_url"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    return env


def new_channel_id() -> str:
    return f"pg-{uuid.uuid4().hex}"


# ====================================================================== middleware


@web.middleware
async def guard_middleware(request: web.Request, handler):
    guard = request.app[GUARD]
    if not guard.host_allowed(request):
        return web.Response(status=403, text="Forbidden: unexpected Host header.")
    if request.path == "/healthz":
        return await handler(request)
    allowed = guard.authorized(request)
    if not allowed:
        return web.Response(
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
            text="Unauthorized: open the playground with ?token=<SUPPORTBOT_PLAYGROUND_TOKEN>.",
        )
    if allowed == "cookie":  # drop the token from the address bar and history
        query = {k: v for k, v in request.query.items() if k != "token"}
        response = _redirect(str(request.rel_url.with_query(query)))
        guard.set_auth_cookie(response)
        return response
    session = guard.session_of(request)
    if request.method == "POST":
        role = request.match_info.route.resource.canonical.split("/")[1] if request.match_info.route.resource else ""
        presented = request.headers.get(CSRF_HEADER)
        if presented is None:
            with contextlib.suppress(Exception):
                field = (await request.post()).get(CSRF_FIELD)
                presented = field if isinstance(field, str) else None
        if role not in ("customer", "agent") or not guard.csrf_ok(session, role, presented):
            return web.Response(status=403, text="Forbidden: missing or invalid CSRF token. Reload the page.")
        request[ROLE] = role
    request[SESSION] = session or guard.new_session()
    response = await handler(request)
    if session is None:
        guard.set_session_cookie(response, request[SESSION])
    return response


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.content_type in ("text/html", "application/json", "text/event-stream"):
        response.headers.setdefault("Cache-Control", "no-store")


# ====================================================================== helpers


def _render(request: web.Request, template: str, **context: Any) -> web.Response:
    guard = request.app[GUARD]
    session = request[SESSION]
    env = request.app[JINJA]
    html = env.get_template(template).render(
        csrf_customer=guard.csrf_token(session, "customer"),
        csrf_agent=guard.csrf_token(session, "agent"),
        csrf_field=CSRF_FIELD,
        note_marker=request.app[CORE].settings.note_marker,
        **context,
    )
    return web.Response(text=html, content_type="text/html")


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _done(
    request: web.Request, ok: bool, message: str, *, status: int = 200, location: str = "/", **extra: Any
) -> web.StreamResponse:
    """JSON for the page script; a redirect back for a plain form post."""
    if _wants_json(request):
        return web.json_response({"ok": ok, "message": message, **extra}, status=status)
    if not ok:
        return web.Response(status=status, text=message)
    return _redirect(location)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


_ERROR_STATUS = {NotAuthorized: 403, NotFound: 404, Conflict: 409, InvalidInput: 400}


def _error(request: web.Request, exc: SupportbotError, location: str = "/") -> web.StreamResponse:
    status = next((s for t, s in _ERROR_STATUS.items() if isinstance(exc, t)), 400)
    return _done(request, False, str(exc), status=status, location=location)


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


# ====================================================================== pages


async def index(request: web.Request) -> web.Response:
    core = request.app[CORE]
    accounts = await core.crm.list_accounts()
    account_names = {a.id: a.name for a in accounts}
    requested = request.query.get("c", "")
    channel_id = requested if CHANNEL_RE.match(requested) else new_channel_id()

    def read(uow: UnitOfWork) -> tuple[Any, ...]:
        conv = views.conversation_by_channel(uow, channel_id)
        return (
            conv,
            views.customer_thread(uow, conv) if conv else [],
            _reactions(uow, conv) if conv else [],
            views.summaries(uow),
            _console(uow, core, request),
        )

    conv, thread, reactions, conversations, console = await core.db.read(read)
    account_id = conv.account_id if conv else request.query.get("account", "")
    if account_id not in account_names and conv is None:
        account_id = DEFAULT_ACCOUNT if DEFAULT_ACCOUNT in account_names else (accounts[0].id if accounts else "")
    return _render(
        request,
        "index.html",
        accounts=accounts,
        account_id=account_id,
        account_names=account_names,
        channel_id=channel_id,
        conversation=conv,
        thread=thread,
        reactions=reactions,
        conversations=conversations,
        flash=request.query.get("flash", "")[:200],
        **console,
    )


def _reactions(uow: UnitOfWork, conv: Conversation) -> list[str]:
    sent = [
        o for o in uow.outbox.list(conversation_id=conv.id) if o.kind.value == "reaction" and o.status.value == "sent"
    ]
    names: list[str] = []
    for o in sent:
        name = str(o.payload.get("emoji", ""))
        if name in EMOJI and name not in names:
            names.append(name)
    return names


def _console(uow: UnitOfWork, core: SupportCore, request: web.Request) -> dict[str, Any]:
    """The console's template context: the queue (filtered, sorted by SLA due) and the selected conversation."""
    rows = views.queue_rows(uow, views.console_items(uow), core.sla_policy, core.clock.now(), AGENT.user_id)
    names = [name for name, _ in views.FILTERS]
    chosen = request.query.get("f", "all")
    chosen = chosen if chosen in names else "all"
    shown = [r for r in rows if r.matches(chosen)]
    wanted = request.query.get("sel", "")
    # the one asked for while it is in the filter, else the first (after an action: the next one due)
    selected = next((r for r in shown if r.conversation.id == wanted), shown[0] if shown else None)
    draft_id = selected.item.draft_id if selected else None
    return {
        "rows": rows,
        "filters": views.FILTERS,
        "filter": chosen,
        "counts": {name: sum(1 for r in rows if r.matches(name)) for name in names},
        "selected": selected,
        "sources": {draft_id: views.draft_sources(uow, draft_id)} if draft_id else {},
        "labels": core.classifier.labels(),
    }


async def console_fragment(request: web.Request) -> web.Response:
    core = request.app[CORE]
    context = await core.db.read(lambda uow: _console(uow, core, request))
    return _render(request, "console.html", **context)


async def _why(request: web.Request) -> tuple[Conversation, list[dict[str, Any]]]:
    """A playground conversation and its decisions, or 404."""
    core = request.app[CORE]
    conversation_id = request.match_info["conversation_id"]

    def read(uow: UnitOfWork) -> tuple[Conversation | None, list[dict[str, Any]]]:
        conv = uow.conversations.get(conversation_id)
        if conv is None or conv.platform != PLATFORM:
            return None, []
        return conv, views.why(core.kb, uow, conv)

    conv, decisions = await core.db.read(read)
    if conv is None:
        raise web.HTTPNotFound(text="No such playground conversation.")
    return conv, decisions


async def why_page(request: web.Request) -> web.Response:
    conv, decisions = await _why(request)
    selected = request.query.get("decision")
    if selected and any(d["decision_id"] == selected for d in decisions):
        decisions = [d for d in decisions if d["decision_id"] == selected] + [
            d for d in decisions if d["decision_id"] != selected
        ]
    template = "why_fragment.html" if request.query.get("fragment") else "why.html"
    return _render(request, template, conversation=conv, decisions=decisions, selected=selected)


async def why_json(request: web.Request) -> web.Response:
    conv, decisions = await _why(request)
    return web.json_response({"conversation_id": conv.id, "decisions": decisions})


async def thread_json(request: web.Request) -> web.Response:
    """The customer's view of one conversation (used after a reconnect)."""
    core = request.app[CORE]
    channel_id = request.match_info["channel_id"]
    if not CHANNEL_RE.match(channel_id):
        raise web.HTTPNotFound(text="No such conversation.")

    def read(uow: UnitOfWork) -> tuple[Conversation | None, list[views.ThreadMessage]]:
        conv = views.conversation_by_channel(uow, channel_id)
        return conv, views.customer_thread(uow, conv) if conv else []

    conv, thread = await core.db.read(read)
    return web.json_response(
        {
            "conversation_id": conv.id if conv else None,
            "messages": [
                {
                    "id": m.id,
                    "kind": m.kind,
                    "author": m.author,
                    "text": m.text,
                    "citations": m.citations,
                    "decision_id": m.decision_id,
                    "feedback": m.feedback,
                    "html": str(m.html) if m.html is not None else None,
                }
                for m in thread
            ],
        }
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


# ====================================================================== server-sent events


async def events(request: web.Request) -> web.StreamResponse:
    stream = request.match_info["stream"]
    if stream not in (CUSTOMER_STREAM, STAFF_STREAM):
        raise web.HTTPNotFound()
    hub = request.app[HUB]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    response.headers["Cache-Control"] = "no-store"
    queue = hub.subscribe(stream)
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\nevent: ready\ndata: {}\n\n")
        while not hub.closed:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                break
            payload = json.dumps(event.data, ensure_ascii=False, default=str)
            await response.write(f"event: {event.type}\ndata: {payload}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(stream, queue)
    return response


# ====================================================================== customer actions


async def customer_message(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    form = await _form(request)
    channel_id = form.get("channel_id", "")
    if not CHANNEL_RE.match(channel_id):
        return _done(request, False, "Unknown conversation; reload the page.", status=400)
    text = form.get("text", "")
    conv = await core.db.read(lambda uow: views.conversation_by_channel(uow, channel_id))
    account_id = conv.account_id if conv else form.get("account_id") or None
    if conv is None and account_id:
        known = {a.id for a in await core.crm.list_accounts()}
        if account_id not in known:
            return _done(request, False, f"Unknown account {account_id}.", status=400)
    # The first message's id is the channel id, so the thread root (and so the conversation) is found
    # again from the channel alone; every later message replies in that thread.
    result = None
    if conv is None:
        result = await core.handle_inbound(_customer_message(channel_id, text, account_id, root=True))
    if result is None or result.status == "duplicate":
        result = await core.handle_inbound(_customer_message(channel_id, text, account_id, root=False))
    ok = result.status not in ("rejected", "failed")
    return _done(
        request,
        ok,
        result.detail or result.status,
        status=200 if ok else 400,
        location=f"/?c={channel_id}",
        status_code=result.status,
        conversation_id=result.conversation_id,
        channel_id=channel_id,
    )


def _customer_message(channel_id: str, text: str, account_id: str | None, *, root: bool) -> InboundMessage:
    return InboundMessage(
        platform=PLATFORM,
        workspace_id=WORKSPACE,
        channel_id=channel_id,
        message_id=channel_id if root else f"{channel_id}-{uuid.uuid4().hex[:12]}",
        author=Author(CUSTOMER_ID, CUSTOMER_NAME, Role.CUSTOMER),
        text=text,
        sent_at=datetime.now(UTC),
        thread_id=None if root else channel_id,
        account_id=account_id,
        raw={"source": "playground"},
    )


async def customer_feedback(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    form = await _form(request)
    conversation_id = form.get("conversation_id", "")
    positive = form.get("positive") == "1"
    conv = await core.db.read(lambda uow: uow.conversations.get(conversation_id))
    if conv is None or conv.platform != PLATFORM:
        return _done(request, False, "No such conversation.", status=404)
    location = f"/?c={conv.channel_id}"
    try:
        await core.record_feedback(conversation_id, positive=positive, user_id=CUSTOMER_ID)
    except SupportbotError as exc:
        return _error(request, exc, location)
    message = "Thanks for the feedback!" if positive else "Sorry about that — a person from the team will take over."
    return _done(request, True, message, location=location)


# ====================================================================== agent actions


def _agent(request: web.Request) -> web.StreamResponse | None:
    """A refusal unless the request came from the agent console (its CSRF token, checked by the middleware)."""
    if request.get(ROLE) != "agent":
        return _done(request, False, "Only the agent console can do that.", status=403)
    return None


async def _card_action(request: web.Request, action_id: str, target: str, values: dict[str, str] | None = None):
    """A card button (approve, claim, resolve) or a submitted form (edit, reject): the core's CardActions."""
    refused = _agent(request)
    if refused is not None:
        return refused
    actions = request.app[CORE].actions
    if values is None:
        outcome = await actions.press(action_id, target, AGENT)
    else:
        outcome = await actions.submit(action_id, target, AGENT, values)
    if outcome.error is not None:
        return _error(request, outcome.error)
    await request.app[CORE].dispatcher.drain()  # the page that loads next shows what was posted
    return _done(request, outcome.ok, outcome.message, conversation_id=outcome.conversation_id)


async def _command(request: web.Request, command: Command) -> web.StreamResponse:
    refused = _agent(request)
    if refused is not None:
        return refused
    try:
        result = await request.app[CORE].commands.execute(command)
    except SupportbotError as exc:
        return _error(request, exc)
    return _done(request, result.ok, result.message, conversation_id=result.conversation_id)


async def approve_draft(request: web.Request) -> web.StreamResponse:
    return await _card_action(request, DRAFT_APPROVE, request.match_info["draft_id"])


async def edit_draft(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    return await _card_action(request, DRAFT_EDIT, request.match_info["draft_id"], {"text": form.get("text", "")})


async def reject_draft(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    values = {"reason": form.get("reason", ""), "intent": form.get("intent", "")}
    return await _card_action(request, DRAFT_REJECT, request.match_info["draft_id"], values)


async def claim_handoff(request: web.Request) -> web.StreamResponse:
    return await _card_action(request, HANDOFF_CLAIM, request.match_info["handoff_id"])


async def resolve_handoff(request: web.Request) -> web.StreamResponse:
    return await _card_action(request, HANDOFF_RESOLVE, request.match_info["handoff_id"])


async def resolve_conversation(request: web.Request) -> web.StreamResponse:
    return await _command(request, ResolveConversation(request.match_info["conversation_id"], AGENT))


async def staff_message(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    refused = _agent(request)
    if refused is not None:
        return refused
    form = await _form(request)
    conversation_id = request.match_info["conversation_id"]
    conv = await core.db.read(lambda uow: uow.conversations.get(conversation_id))
    if conv is None or conv.platform != PLATFORM or not conv.staff_thread_id:
        return _error(request, NotFound("this conversation has no staff thread yet"))
    text = form.get("text", "")
    marker = core.settings.note_marker
    if form.get("note") == "1" and not text.lstrip().startswith(marker):
        text = f"{marker} {text}"
    return await _command(request, StaffMessage(PLATFORM, conv.staff_thread_id, AGENT, text, f"pga-{uuid.uuid4().hex}"))


# ====================================================================== app


def create_app(
    core: SupportCore, *, hub: EventHub | None = None, host: str = "127.0.0.1", token: str | None = None
) -> web.Application:
    """The aiohttp application over the core (and its playground channel's event hub)."""
    guard = Guard(host=host, token=token)
    channel = core.channels.get(PLATFORM)
    hub = channel.hub if isinstance(channel, PlaygroundChannel) else (hub or EventHub())
    # 4 MB: the Ops area's simulate form uploads a CSV of past tickets
    web_app = web.Application(middlewares=[guard_middleware], client_max_size=4 * 1024 * 1024)
    web_app[GUARD], web_app[HUB], web_app[CORE], web_app[JINJA] = guard, hub, core, _environment()
    web_app.on_response_prepare.append(_security_headers)

    async def close_streams(_: web.Application) -> None:
        hub.close()

    web_app.on_shutdown.append(close_streams)
    r = web_app.router
    r.add_get("/", index)
    r.add_get("/healthz", healthz)
    r.add_get("/console", console_fragment)
    r.add_get("/why/{conversation_id}", why_page)
    r.add_get("/api/why/{conversation_id}", why_json)
    r.add_get("/api/threads/{channel_id}", thread_json)
    r.add_get("/events/{stream}", events)
    r.add_post("/customer/messages", customer_message)
    r.add_post("/customer/feedback", customer_feedback)
    r.add_post("/agent/drafts/{draft_id}/approve", approve_draft)
    r.add_post("/agent/drafts/{draft_id}/edit", edit_draft)
    r.add_post("/agent/drafts/{draft_id}/reject", reject_draft)
    r.add_post("/agent/handoffs/{handoff_id}/claim", claim_handoff)
    r.add_post("/agent/handoffs/{handoff_id}/resolve", resolve_handoff)
    r.add_post("/agent/conversations/{conversation_id}/reply", staff_message)
    r.add_post("/agent/conversations/{conversation_id}/resolve", resolve_conversation)
    ops.add_routes(web_app)
    r.add_static("/static/", HERE / "static")
    return web_app
