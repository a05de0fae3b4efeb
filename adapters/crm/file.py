"""A CRM backed by a JSON file (the bundled example, or an export of yours)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from supportbot.bot.domain import Account, AccountLookup, Ticket
from supportbot.bot.errors import ConfigurationError
from supportbot.bot.ports import CRM


def account_from_dict(data: dict[str, Any]) -> Account:
    """Build an Account from the documented JSON shape (also used by the HTTP CRM)."""
    renewal = data.get("renewal_date")
    return Account(
        id=str(data["id"]),
        name=str(data.get("name") or data["id"]),
        tier=str(data.get("tier") or "free").lower(),
        arr=float(data.get("arr") or 0),
        renewal_date=date.fromisoformat(renewal) if renewal else None,
        owner=data.get("owner"),
        health=data.get("health"),
        slack_team_ids=tuple(data.get("slack_team_ids") or ()),
        email_domains=tuple(d.lower() for d in data.get("email_domains") or ()),
        discord_guild_ids=tuple(str(g) for g in data.get("discord_guild_ids") or ()),
        open_tickets=tuple(
            Ticket(
                id=str(t["id"]),
                subject=str(t.get("subject", "")),
                status=str(t.get("status", "open")),
                priority=str(t.get("priority", "normal")),
                opened_at=t.get("opened_at"),
            )
            for t in data.get("open_tickets") or ()
        ),
    )


def match(account: Account, lookup: AccountLookup) -> bool:
    if lookup.account_id:
        return account.id == lookup.account_id
    if lookup.slack_team_id and lookup.slack_team_id in account.slack_team_ids:
        return True
    if lookup.discord_guild_id and lookup.discord_guild_id in account.discord_guild_ids:
        return True
    if lookup.email and "@" in lookup.email:
        return lookup.email.rsplit("@", 1)[1].lower() in account.email_domains
    return False


class FileCRM(CRM):
    def __init__(self, path: Path) -> None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            records = data["accounts"] if isinstance(data, dict) else data
            self._accounts = [account_from_dict(r) for r in records]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError("SUPPORTBOT_CRM_FILE", f"cannot read {path}: {exc}") from None

    async def find_account(self, lookup: AccountLookup) -> Account | None:
        return next((a for a in self._accounts if match(a, lookup)), None)

    async def list_accounts(self) -> list[Account]:
        return list(self._accounts)


class NoCRM(CRM):
    """Used when no CRM is configured: every customer is unknown."""

    async def find_account(self, lookup: AccountLookup) -> Account | None:
        return None

    async def list_accounts(self) -> list[Account]:
        return []
