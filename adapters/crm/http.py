"""A CRM reached over HTTP.

Contract (simple enough to put in front of Salesforce, HubSpot or an internal
service): ``GET {base}/accounts?slack_team_id=..|discord_guild_id=..|email_domain=..``
returns ``{"accounts": [ACCOUNT, ...]}``; ``GET {base}/accounts/{id}`` returns
``ACCOUNT`` or 404; ``GET {base}/accounts`` lists all. ``ACCOUNT`` has the
fields of the bundled ``crm.json``. A bearer token is sent when configured.
429 and 5xx are retried (honouring Retry-After) a few times.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from supportbot.adapters.crm.file import account_from_dict
from supportbot.bot.domain import Account, AccountLookup
from supportbot.bot.ports import CRM

log = logging.getLogger(__name__)


class HttpCRM(CRM):
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        max_attempts: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self._max_attempts = max_attempts

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        for attempt in range(1, self._max_attempts + 1):
            response = await self._client.get(path, params=params)
            if response.status_code != 429 and response.status_code < 500:
                return response
            if attempt == self._max_attempts:
                response.raise_for_status()
            delay = float(response.headers.get("Retry-After", 0.2 * attempt))
            log.info("CRM answered %s; retrying in %.1fs", response.status_code, delay)
            await asyncio.sleep(min(delay, 30.0))
        raise AssertionError("unreachable")

    async def find_account(self, lookup: AccountLookup) -> Account | None:
        if lookup.account_id:
            response = await self._get(f"/accounts/{lookup.account_id}")
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return account_from_dict(response.json())
        params: dict[str, str] = {}
        if lookup.slack_team_id:
            params["slack_team_id"] = lookup.slack_team_id
        elif lookup.discord_guild_id:
            params["discord_guild_id"] = lookup.discord_guild_id
        elif lookup.email and "@" in lookup.email:
            params["email_domain"] = lookup.email.rsplit("@", 1)[1].lower()
        else:
            return None
        response = await self._get("/accounts", params)
        response.raise_for_status()
        accounts = response.json().get("accounts") or []
        return account_from_dict(accounts[0]) if accounts else None

    async def list_accounts(self) -> list[Account]:
        response = await self._get("/accounts")
        response.raise_for_status()
        return [account_from_dict(a) for a in response.json().get("accounts") or []]
