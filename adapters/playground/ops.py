"""The playground's Ops area, for the person who owns the bot's quality.

* **Review**: conversations worth labelling, most useful first, labelled with one click (a correction,
  exactly as an agent's relabel);
* **Models**: the registered versions, and any version beside the current one;
* **Simulate**: an uploaded CSV of past tickets replayed through the running model, knowledge base
  and policy (nothing stored or posted), with the risk-coverage chart as inline SVG;
* **Gaps**: topics of the questions the bot could not answer, with their examples.

Pages are GETs; the two actions are agent-console forms (``/agent/ops/...``, the agent CSRF token).
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from supportbot.bot.commands import RelabelIntent
from supportbot.bot.errors import InvalidInput, SupportbotError
from supportbot.bot.ports import UnitOfWork

MAX_TICKETS = 5_000  # a simulation in the playground runs in the bot's own process
TABS = (("review", "Review"), ("models", "Models"), ("simulate", "Simulate"), ("gaps", "Gaps"))


def _server() -> Any:
    from supportbot.adapters.playground import server

    return server


def _page(request: web.Request, tab: str, **context: Any) -> web.Response:
    s = _server()
    return s._render(request, "ops.html", tab=tab, tabs=TABS, flash=request.query.get("flash", "")[:200], **context)


async def ops_index(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/ops/review")


async def review_page(request: web.Request) -> web.Response:
    from supportbot.bot.review import review_queue

    core = request.app[_server().CORE]
    items = await core.db.read(lambda uow: review_queue(uow, limit=100))
    return _page(request, "review", items=items, labels=core.classifier.labels())


async def label(request: web.Request) -> web.StreamResponse:
    s = _server()
    refused = s._agent(request)
    if refused is not None:
        return refused
    form = await s._form(request)
    core = request.app[s.CORE]
    command = RelabelIntent(
        form.get("conversation_id", ""), s.AGENT, form.get("intent", ""), form.get("message_id") or None
    )
    try:
        result = await core.commands.execute(command)
    except SupportbotError as exc:
        return s._error(request, exc, "/ops/review")
    return s._done(request, True, result.message, location=f"/ops/review?flash={result.message}")


async def models_page(request: web.Request) -> web.Response:
    from supportbot.bot.domain import ModelStatus
    from supportbot.bot.models import comparison_rows, precision_guard

    core = request.app[_server().CORE]
    versions = await core.models.versions()
    current = next((v for v in versions if v.status is ModelStatus.CURRENT), None)
    chosen_id = request.query.get("v") or next(
        (v.id for v in reversed(versions) if v.status is ModelStatus.CANDIDATE), None
    )
    chosen = next((v for v in versions if v.id == chosen_id), None)
    comparison = comparison_rows(chosen, current) if chosen is not None else []
    guard = precision_guard(chosen, current) if chosen is not None else None
    return _page(
        request,
        "models",
        versions=list(reversed(versions)),
        current=current,
        chosen=chosen,
        comparison=comparison,
        guard=guard,
        running=core.classifier.version if getattr(core.classifier, "ready", True) else None,
    )


async def simulate_page(request: web.Request) -> web.Response:
    core = request.app[_server().CORE]
    accounts = await core.crm.list_accounts()
    return _page(request, "simulate", accounts=accounts, result=None, error=None, form={})


async def simulate_run(request: web.Request) -> web.StreamResponse:
    from supportbot.bot.classifier.data import read_labelled_csv
    from supportbot.bot.domain import AccountLookup
    from supportbot.bot.intake import threshold_overrides
    from supportbot.bot.ops_report import risk_coverage_svg
    from supportbot.bot.simulate import Ticket, simulate

    s = _server()
    refused = s._agent(request)
    if refused is not None:
        return refused
    core = request.app[s.CORE]
    accounts = await core.crm.list_accounts()
    data = await request.post()
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    upload = data.get("tickets")

    def failed(message: str) -> web.Response:
        response = _page(request, "simulate", accounts=accounts, result=None, error=message, form=form)
        response.set_status(400)
        return response

    if not isinstance(upload, web.FileField):
        return failed("Choose a CSV file of past tickets.")
    try:
        target = float(form.get("target_precision") or 0.98)
        if not 0.5 <= target <= 1.0:
            raise ValueError
    except ValueError:
        return failed("The target precision must be a number between 0.5 and 1.")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tickets.csv"
        path.write_bytes(upload.file.read())
        try:
            rows = read_labelled_csv(
                path,
                text_column=form.get("text_column") or "text",
                label_column=form.get("label_column") or "intent",
                min_rows=1,
            )
        except InvalidInput as exc:
            return failed(str(exc).replace(str(path), upload.filename or "the file"))
    if len(rows) > MAX_TICKETS:
        return failed(
            f"{len(rows):,} tickets: the playground simulates up to {MAX_TICKETS:,} (use `supportbot simulate`)."
        )
    account = None
    if form.get("account_id"):
        account = await core.crm.find_account(AccountLookup(account_id=form["account_id"]))
    overrides = await core.db.read(threshold_overrides)
    oos = form.get("oos_label", "").strip()
    sim = await asyncio.to_thread(
        simulate,
        core.triage,
        [Ticket(t, lb) for t, lb in zip(rows.texts, rows.labels, strict=True)],
        account=account,
        overrides=overrides,
        labels=core.classifier.labels(),
        target_precision=target,
        oos_labels=[oos] if oos else [],
        max_chars=core.settings.max_message_chars,
    )
    _forget_embeddings(core.classifier)
    return _page(
        request,
        "simulate",
        accounts=accounts,
        result=sim,
        chart=Markup(risk_coverage_svg(sim)),  # noqa: S704 - built by our code; every text in it is escaped
        error=None,
        form=form,
        filename=upload.filename,
        model_version=core.classifier.version,
    )


def _forget_embeddings(classifier: Any) -> None:
    from supportbot.bot.classifier.loader import innermost

    forget = getattr(innermost(classifier), "forget", None)
    if forget is not None:
        forget()


async def gaps_page(request: web.Request) -> web.Response:
    from supportbot.bot.gaps import find_gaps, shared_encoder, unanswered

    core = request.app[_server().CORE]
    try:
        days = max(1, min(365, int(request.query.get("days", "30"))))
        min_size = max(1, min(100, int(request.query.get("min_size", "3"))))
    except ValueError:
        days, min_size = 30, 3
    since = datetime.now(UTC) - timedelta(days=days)

    def read(uow: UnitOfWork) -> Any:
        questions = unanswered(uow, since)
        channels = {
            c.id: c.channel_id for c in uow.conversations.get_many([q.conversation_id for q in questions]).values()
        }
        return questions, channels

    questions, channels = await core.db.read(read)
    topics = await asyncio.to_thread(find_gaps, questions, encoder=shared_encoder(), min_size=min_size)
    return _page(
        request, "gaps", topics=topics, questions=len(questions), days=days, min_size=min_size, channels=channels
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/ops", ops_index)
    r.add_get("/ops/review", review_page)
    r.add_get("/ops/models", models_page)
    r.add_get("/ops/simulate", simulate_page)
    r.add_get("/ops/gaps", gaps_page)
    r.add_post("/agent/ops/label", label)
    r.add_post("/agent/ops/simulate", simulate_run)
