"""Account context from the CRM, cached in the database.

The cache is read in the same unit of work that looks the conversation up,
and written in the one that records the decision: a lookup adds no
transaction of its own. A fresh copy (younger than ``cache_ttl``) is used
without asking the CRM; otherwise the CRM is asked within ``deadline``
seconds, and when it is down or slow the stale copy (or nothing) is used, so a
CRM outage never stops support.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from supportbot.bot.domain import Account, AccountLookup
from supportbot.bot.ports import CRM, Clock, UnitOfWork

log = logging.getLogger(__name__)


def cache_key(lookup: AccountLookup) -> str | None:
    """The account cache key for what an adapter knows about the customer (most specific first)."""
    if lookup.account_id:
        return f"id:{lookup.account_id}"
    if lookup.slack_team_id:
        return f"slack:{lookup.slack_team_id}"
    if lookup.discord_guild_id:
        return f"discord:{lookup.discord_guild_id}"
    if lookup.email and "@" in lookup.email:
        # the whole address: two people on one domain (gmail.com, say) may belong to different accounts
        return f"email:{lookup.email.strip().lower()}"
    return None


@dataclass(frozen=True)
class AccountFetch:
    account: Account | None
    fetched_at: datetime | None  # set when the CRM answered now: the caller caches it
    key: str | None
    crm_unavailable: bool = False


class Accounts:
    def __init__(self, crm: CRM, clock: Clock, *, cache_ttl: timedelta, deadline: float = 5.0) -> None:
        self.crm = crm
        self.clock = clock
        self.cache_ttl = cache_ttl
        self.deadline = deadline

    @staticmethod
    def read_cache(uow: UnitOfWork, lookup: AccountLookup) -> tuple[Account, datetime] | None:
        key = cache_key(lookup)
        return uow.accounts.get(key) if key else None

    async def fetch(self, lookup: AccountLookup, cached: tuple[Account, datetime] | None) -> AccountFetch:
        key = cache_key(lookup)
        if key is None:
            return AccountFetch(None, None, None)
        now = self.clock.now()
        if cached is not None and now - cached[1] < self.cache_ttl:
            return AccountFetch(cached[0], None, key)
        try:
            account = await asyncio.wait_for(self.crm.find_account(lookup), self.deadline)
        except Exception as exc:  # a CRM outage must not stop support: use the stale copy
            log.warning("CRM lookup failed (%s); using the cached account if any", type(exc).__name__)
            return AccountFetch(cached[0] if cached else None, None, key, crm_unavailable=True)
        return AccountFetch(account, now if account is not None else None, key)

    @staticmethod
    def store(uow: UnitOfWork, fetch: AccountFetch) -> None:
        """Cache what the CRM just returned, under the lookup's key and the account id."""
        if fetch.account is None or fetch.fetched_at is None or fetch.key is None:
            return
        uow.accounts.put(fetch.key, fetch.account, fetch.fetched_at)
        uow.accounts.put(f"id:{fetch.account.id}", fetch.account, fetch.fetched_at)
