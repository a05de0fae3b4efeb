"""`supportbot run | chat | ask | db upgrade | kb index`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from datetime import UTC, datetime

import click

from supportbot.adapters.settings import Settings, load_settings
from supportbot.bot.domain import Author, InboundMessage, Role
from supportbot.bot.errors import ConfigurationError


def debug_enabled() -> bool:
    """``supportbot --debug``: full tracebacks instead of one-line errors."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.meta.get("supportbot.debug"))


def _settings(**overrides) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:
        if debug_enabled():
            raise
        raise click.ClickException(str(exc)) from None


def _bootstrap(settings: Settings, **kwargs):
    from supportbot.adapters.bootstrap import bootstrap

    try:
        return bootstrap(settings, **kwargs)
    except ConfigurationError as exc:
        if debug_enabled():
            raise
        raise click.ClickException(str(exc)) from None


def _logging(settings: Settings) -> None:
    from supportbot.adapters.logs import configure
    from supportbot.adapters.settings import secret_values

    try:
        configure(settings.log_level, settings.log_format, secret_values(settings))
    except ValueError as exc:  # logging refuses an unknown level name
        raise click.ClickException(f"setting SUPPORTBOT_LOG_LEVEL: {exc}") from None


def _tell(settings: Settings, text: str) -> None:
    """A note for the person at the terminal; with JSON logs, a log line (stderr stays one object per line)."""
    if settings.log_format == "json":
        logging.getLogger("supportbot.run").info(" ".join(text.split()))
    else:
        click.echo(text, err=True)


@click.command()
def run() -> None:
    """Start every configured channel, the scheduler and (without chat credentials) the playground."""
    from supportbot.adapters.runtime import serve

    settings = _settings()
    _logging(settings)
    app = _bootstrap(settings, serve=True)
    if not (settings.slack_enabled or settings.discord_enabled):
        _tell(
            settings,
            "No Slack or Discord credentials set: running on the embedded defaults.\n"
            "  Slack:   set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (plus SLACK_APP_TOKEN for Socket Mode);\n"
            "           `supportbot slack manifest` prints the app manifest.\n"
            "  Discord: set DISCORD_TOKEN and the SUPPORTBOT_DISCORD_* settings (see README).",
        )
    services = list(app.services.values())
    if not services:
        _tell(settings, "Nothing to serve: no channel is configured and the playground is disabled.")
    _tell(settings, f"supportbot starting with database {_safe_url(settings.database_url)}. Ctrl+C stops.")
    try:
        asyncio.run(serve(app, services))
    except ConfigurationError as exc:  # a taken port, a channel that validates its settings on start
        if debug_enabled():
            raise
        raise click.ClickException(str(exc)) from None


def _safe_url(url: str) -> str:
    """Database URL without its password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


@click.command()
@click.option("--account", "account_id", default="acc_demo", show_default=True, help="Example account to act as.")
@click.option("--name", default="Customer", show_default=True, help="Your display name as a customer.")
def chat(account_id: str, name: str) -> None:
    """Chat with the bot in the terminal as a customer; /reply, /note, /claim, /resolve, /approve etc. act as an
    agent (/help lists them)."""
    from supportbot.adapters.terminal import TerminalChannel, chat_loop

    settings = _settings()
    app = _bootstrap(settings, channels=(TerminalChannel(),))
    click.echo(f"Chatting as {name} of account {account_id}. Type a question; /help: agent commands; /quit.")

    async def lines():
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            yield line

    asyncio.run(chat_loop(app, account_id, name, lines(), sys.stdout))


@click.command()
@click.argument("text")
@click.option("--account", "account_id", default=None, help="Account id from the CRM (default: unknown customer).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--store", is_flag=True, help="Record the message in the configured database (default: in memory).")
def ask(text: str, account_id: str | None, as_json: bool, store: bool) -> None:
    """Run one message through the full pipeline and print the decision."""
    settings = _settings() if store else _settings(database_url="sqlite://")
    app = _bootstrap(settings)
    if account_id and asyncio.run(app.core.crm.find_account(_lookup(account_id))) is None:
        raise click.ClickException(f"unknown account {account_id!r} (see the CRM file)")
    now = datetime.now(UTC)
    # a one-shot question: its own thread, so each call is a new conversation (never grouped with the
    # previous call's), and a unique id, so calls running at once never collide
    message_id = f"ask-{uuid.uuid4().hex}"
    message = InboundMessage(
        platform="cli",
        workspace_id="local",
        channel_id="ask",
        message_id=message_id,
        author=Author("cli-user", "CLI user", Role.CUSTOMER),
        text=text,
        sent_at=now,
        thread_id=message_id,
        account_id=account_id,
    )
    result = asyncio.run(app.core.handle_inbound(message, dispatch=False))
    data = result.to_dict()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        _print_result(data)
    if result.status in ("rejected", "failed"):
        sys.exit(1)


def _lookup(account_id: str):
    from supportbot.bot.domain import AccountLookup

    return AccountLookup(account_id=account_id)


def _print_result(data: dict) -> None:
    if data["action"] is None:
        click.echo(f"{data['status']}: {data['detail']}")
        return
    account = data["account"]
    scope = " [out of scope]" if data["out_of_scope"] else ""
    cues = f" ({', '.join(data['urgency_reasons'])})" if data["urgency_reasons"] else ""
    click.echo(f"intent:     {data['intent']} ({data['confidence']:.2f}){scope}")
    click.echo(f"urgency:    {data['urgency']}{cues}")
    click.echo(f"sentiment:  {data['sentiment']} (frustration {data['frustration']})")
    click.echo(f"account:    {account['name'] + ' (' + account['tier'] + ')' if account else 'unknown'}")
    click.echo(f"action:     {data['action']} — rule {data['rule']}")
    click.echo(f"reason:     {data['reason']}")
    if data["citations"]:
        cited = (f"{c['title']}{' › ' + c['section'] if c['section'] else ''} <{c['url']}>" for c in data["citations"])
        click.echo("citations:  " + "; ".join(cited))
    if data["composer"]:
        click.echo(f"composer:   {data['composer']}")
    if data["reply"]:
        label = {"answer": "reply", "draft": "draft", "handoff": "to customer"}[data["action"]]
        click.echo(f"\n{label}:\n{data['reply']}")


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def upgrade() -> None:
    """Apply schema migrations to SUPPORTBOT_DATABASE_URL."""
    from supportbot.adapters.bootstrap import database_problem
    from supportbot.storage import current_revision
    from supportbot.storage import upgrade as run_upgrade

    settings = _settings()
    try:
        run_upgrade(settings.database_url)
        revision = current_revision(settings.database_url)
    except Exception as exc:
        problem = database_problem(exc, settings.database_url)
        if problem is None or debug_enabled():
            raise
        raise click.ClickException(str(problem)) from None
    click.echo(f"database at revision {revision}")


@click.group()
def kb() -> None:
    """Knowledge base maintenance."""


@kb.command("index")
def kb_index() -> None:
    """(Re)index the knowledge base; only changed articles are re-read."""
    from supportbot.adapters.bootstrap import build_kb, kb_index_path

    settings = _settings()
    try:
        knowledge = build_kb(settings)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    stats = knowledge.last_refresh  # type: ignore[attr-defined]
    click.echo(
        f"{len(knowledge.articles())} articles in {settings.kb_dir}: {stats['added']} added, {stats['updated']} "
        f"updated, {stats['removed']} removed, {stats['unchanged']} unchanged, {stats['invalid']} invalid"
        + (f"; index {kb_index_path(settings)}" if kb_index_path(settings) else "")
    )


@kb.command("audit")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--stale-days", default=180, show_default=True, type=click.IntRange(1, 10_000), help="Older `updated:` is stale."
)
def kb_audit(as_json: bool, stale_days: int) -> None:
    """Articles cited by 👎 answers or rejected drafts, never cited, or not updated for N days."""
    from supportbot.adapters.cli_cxops import kb_audit as run_audit

    run_audit(as_json, stale_days)


@click.group()
def corrections() -> None:
    """Agents' intent corrections, for retraining the classifier."""


@corrections.command("export")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    default="-",
    show_default=True,
    help="CSV file to write (text,intent,predicted_intent); - for stdout.",
)
@click.option("--since", default=None, help="Only corrections newer than this period, e.g. 30d.")
def corrections_export(out_path: str, since: str | None) -> None:
    """Export relabels so CX-ops can append them to the training CSV and run `supportbot train`."""
    import csv

    from supportbot.bot.support_commands import parse_period

    settings = _settings()
    app = _bootstrap(settings)
    try:
        cutoff = datetime.now(UTC) - parse_period(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    rows = asyncio.run(app.core.corrections(cutoff))
    stream = sys.stdout if out_path == "-" else open(out_path, "w", newline="", encoding="utf-8")  # noqa: SIM115
    try:
        writer = csv.writer(stream)
        writer.writerow(["text", "intent", "predicted_intent"])
        writer.writerows(rows)
    finally:
        if stream is not sys.stdout:
            stream.close()
    click.echo(f"{len(rows)} corrections exported", err=True)


@click.command()
def health() -> None:
    """Exit 0 when a running `supportbot run` wrote its heartbeat recently (Docker HEALTHCHECK)."""
    from supportbot.adapters.bootstrap import heartbeat_path
    from supportbot.adapters.runtime import HEARTBEAT_MAX_AGE, heartbeat_age

    path = heartbeat_path(_settings())
    age = heartbeat_age(path)
    if age is None or age > HEARTBEAT_MAX_AGE:
        raise click.ClickException(f"unhealthy: no heartbeat in {path} for {HEARTBEAT_MAX_AGE:.0f}s")
    click.echo(f"healthy: heartbeat {age:.0f}s ago")


def register(group: click.Group) -> None:
    for command in (run, chat, ask, db, kb, corrections, health):
        group.add_command(command)
