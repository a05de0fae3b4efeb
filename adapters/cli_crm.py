"""`supportbot crm lookup | check`: ask the configured CRM directly (never the account cache)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import httpx

from supportbot.bot.domain import Account, AccountLookup
from supportbot.bot.errors import ConfigurationError, CRMCredentialsError, CRMError
from supportbot.bot.ports import CRM

T = TypeVar("T")


def _configured() -> tuple[Any, CRM]:
    """The CRM settings and adapter, or a one-line ClickException naming the bad setting."""
    from supportbot.adapters.cli_core import _logging
    from supportbot.adapters.crm import build_crm
    from supportbot.adapters.crm.settings import crm_settings_for
    from supportbot.adapters.settings import load_settings

    try:
        root = load_settings()
        _logging(root)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines carry customer emails
        settings = crm_settings_for(root)
        return settings, build_crm(settings)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


def _run(crm: CRM, call: Callable[[CRM], Awaitable[T]]) -> T:
    async def run() -> T:
        try:
            return await call(crm)
        finally:
            close = getattr(crm, "aclose", None)
            if close is not None:
                await close()

    try:
        return asyncio.run(run())
    except CRMCredentialsError as exc:
        raise click.ClickException(f"bad CRM credentials: {exc}") from None
    except CRMError as exc:
        raise click.ClickException(f"CRM request failed: {exc}") from None
    except ConfigurationError as exc:  # e.g. an unreadable SUPPORTBOT_CRM_FILE
        raise click.ClickException(str(exc)) from None
    except httpx.HTTPError as exc:  # the generic HTTP CRM does not translate its errors
        raise click.ClickException(f"CRM request failed: {type(exc).__name__}: {exc}") from None


def account_json(account: Account | None) -> dict[str, Any] | None:
    """The documented shape of `crm lookup --json`."""
    if account is None:
        return None
    arr = account.arr
    return {
        "id": account.id,
        "name": account.name,
        "tier": account.tier,
        "arr": int(arr) if float(arr).is_integer() else arr,
        "renewal_date": account.renewal_date.isoformat() if account.renewal_date else None,
        "owner": account.owner,
        "health": account.health,
        "open_tickets": [
            {"id": t.id, "subject": t.subject, "status": t.status, "priority": t.priority} for t in account.open_tickets
        ],
    }


@click.group()
def crm() -> None:
    """Look accounts up in the configured CRM and check its credentials and field mapping."""


@crm.command()
@click.option("--email", default=None, help="A customer's email: their contact's account, else their domain's.")
@click.option("--slack-team", default=None, help="A Slack team (workspace) id, e.g. T0123ABCD.")
@click.option("--discord-guild", default=None, help="A Discord server (guild) id.")
@click.option("--account", "account_id", default=None, help="The CRM's own account/company id.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def lookup(
    email: str | None, slack_team: str | None, discord_guild: str | None, account_id: str | None, as_json: bool
) -> None:
    """Print the account the configured CRM returns (asks the CRM every time; exit 0 found or not)."""
    given = {"--email": email, "--slack-team": slack_team, "--discord-guild": discord_guild, "--account": account_id}
    if sum(v is not None for v in given.values()) != 1:
        raise click.UsageError("give exactly one of " + ", ".join(given))
    query = AccountLookup(email=email, slack_team_id=slack_team, discord_guild_id=discord_guild, account_id=account_id)
    _, adapter = _configured()
    account = _run(adapter, lambda c: c.find_account(query))
    if as_json:
        click.echo(json.dumps({"account": account_json(account)}, ensure_ascii=False))
        return
    if account is None:
        click.echo("No account found.")
        return
    data = account_json(account) or {}
    click.echo(f"{account.name} ({account.id})")
    for key in ("tier", "arr", "renewal_date", "owner", "health"):
        click.echo(f"  {key.replace('_', ' ')}: {data[key] if data[key] is not None else '-'}")
    click.echo(f"  open tickets: {len(account.open_tickets) or 'none'}")
    for t in account.open_tickets:
        click.echo(f"    {t.id}  [{t.priority or '-'}] {t.status}: {t.subject}")


@crm.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def check(as_json: bool) -> None:
    """Do the CRM credentials work, and do the mapped properties/fields exist? (exit 1 if not)"""
    settings, adapter = _configured()
    probe = getattr(adapter, "check", None)
    if probe is None:  # the file and generic HTTP CRMs have no credentials or mapping to check
        accounts = _run(adapter, lambda c: c.list_accounts())
        result = {"crm": settings.crm_kind.value, "credentials": True, "detail": f"{len(accounts)} accounts"}
        result |= {"fields": {}, "access": {}, "ok": True}
    else:
        report = _run(adapter, lambda c: probe())
        result = {
            "crm": report.crm,
            "credentials": report.credentials,
            "detail": report.detail,
            "fields": report.fields,
            "access": report.access,
            "ok": report.ok,
        }
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(f"CRM: {result['crm']}")
        click.echo(f"credentials: {'ok' if result['credentials'] else 'REJECTED'} ({result['detail']})")
        if result["fields"]:
            click.echo("mapped properties/fields:")
            for name, exists in result["fields"].items():
                click.echo(f"  {'ok     ' if exists else 'MISSING'}  {name}")
        for area, state in result["access"].items():
            click.echo(f"  {area}: {state}")
    if not result["ok"]:
        raise click.exceptions.Exit(1)


def register(group: click.Group) -> None:
    group.add_command(crm)
