"""Account context from the CRM, cached in the database.

The cache is read in the same unit of work that looks the conversation up,
and written in the one that records the decision: a lookup adds no
transaction of its own. A fresh copy (younger than ``cache_ttl``) is used
without asking the CRM; otherwise the CRM is asked within ``deadline``
seconds (the whole call, however the CRM drips its bytes), and when it is down
or slow the stale copy (or nothing) is used, so a CRM outage never stops support.

A failed lookup is remembered for ``failure_ttl`` (the same customer is not
asked about again at once), and after ``breaker_failures`` failures in a row
the breaker opens: for ``breaker_cooldown`` nobody waits on the CRM at all,
then one lookup tries it again. ``health()`` says how the CRM is doing.

A cached copy older than ``refresh_ahead`` (a share of ``cache_ttl``) is still
used at once, and refreshed in the background, so a conversation of a known
account never waits on the CRM while its copy is recent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from supportbot.bot.domain import Account, AccountLookup
from supportbot.bot.ports import CRM, Clock, Database, Telemetry, UnitOfWork
from supportbot.bot.report import duration

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


@dataclass
class CrmHealth:
    last_success: datetime | None = None
    last_error: str | None = None  # a short reason (the error's class), never its text: it may hold emails
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    open_until: datetime | None = None  # the breaker is open (nobody waits on the CRM) until then

    def degraded(self, now: datetime) -> bool:
        return self.consecutive_failures > 0 or (self.open_until is not None and now < self.open_until)

    def line(self, now: datetime) -> str:
        """One line for /support: how the CRM is doing, for people."""
        ok = f"last success {duration((now - self.last_success).total_seconds())} ago" if self.last_success else ""
        if self.last_error_at is None:
            return f"CRM: ok ({ok or 'not asked yet'})"
        error = f"last error {self.last_error} {duration((now - self.last_error_at).total_seconds())} ago"
        if self.open_until is not None and now < self.open_until:
            state = "unavailable (not asked until it recovers; cached accounts are used)"
        elif self.consecutive_failures:
            state = f"failing ({self.consecutive_failures} in a row)"
        else:
            state = "ok"
        return f"CRM: {state}, {', '.join(x for x in (ok, error) if x)}"


class Accounts:
    def __init__(
        self,
        crm: CRM,
        clock: Clock,
        *,
        cache_ttl: timedelta,
        deadline: float = 5.0,
        failure_ttl: timedelta = timedelta(seconds=60),
        breaker_failures: int = 5,
        breaker_cooldown: timedelta = timedelta(seconds=30),
        concurrent_lookups: int = 8,
        telemetry: Telemetry | None = None,
        db: Database | None = None,
        refresh_ahead: float = 0.8,
    ) -> None:
        self.db = db  # with a database, recent copies are refreshed in the background
        self.refresh_ahead = refresh_ahead
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self.telemetry = telemetry or Telemetry()
        self.crm = crm
        self.clock = clock
        self.cache_ttl = cache_ttl
        self.deadline = deadline
        self.failure_ttl = failure_ttl
        self.breaker_failures = breaker_failures
        self.breaker_cooldown = breaker_cooldown
        self.state = CrmHealth()
        self._failed: dict[str, datetime] = {}  # lookup key -> when asking about it failed
        # A burst of new customers must not become a burst of CRM calls (its own rate limits);
        # waiting for a turn counts against the deadline, so no message waits longer than it.
        self._turns = asyncio.Semaphore(concurrent_lookups)

    def health(self) -> CrmHealth:
        return self.state

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
            if now - cached[1] >= self.cache_ttl * self.refresh_ahead:
                self._refresh_soon(lookup, key)
            return AccountFetch(cached[0], None, key)
        stale = AccountFetch(cached[0] if cached else None, None, key, crm_unavailable=True)
        if self._held_back(key, now):
            return stale
        started = time.perf_counter()
        try:
            account = await asyncio.wait_for(self._ask(lookup), self.deadline)
        except Exception as exc:  # a CRM outage must not stop support: use the stale copy
            self._failure(key, now, exc)
            return stale
        finally:
            self.telemetry.observe("crm_lookup", time.perf_counter() - started)
        self._success(key, now)
        return AccountFetch(account, now if account is not None else None, key)

    def _refresh_soon(self, lookup: AccountLookup, key: str) -> None:
        """Ask the CRM again in the background (once per key at a time) and cache the answer."""
        if self.db is None or key in self._refreshing or self._held_back(key, self.clock.now()):
            return
        task = asyncio.get_running_loop().create_task(self._refresh(lookup, key))
        self._refreshing[key] = task
        task.add_done_callback(lambda _t: self._refreshing.pop(key, None))

    async def _refresh(self, lookup: AccountLookup, key: str) -> None:
        assert self.db is not None
        now = self.clock.now()
        try:
            account = await asyncio.wait_for(self._ask(lookup), self.deadline)
        except Exception as exc:
            self._failure(key, now, exc)
            return
        self._success(key, now)
        if account is not None:
            fetch = AccountFetch(account, now, key)
            try:
                await self.db.transaction(lambda uow: self.store(uow, fetch))
            except Exception:
                log.exception("could not cache a refreshed account")

    async def drain(self) -> None:
        """Wait for background refreshes (tests and shutdown)."""
        while self._refreshing:
            await asyncio.gather(*list(self._refreshing.values()), return_exceptions=True)

    async def _ask(self, lookup: AccountLookup) -> Account | None:
        async with self._turns:
            return await self.crm.find_account(lookup)

    def _held_back(self, key: str, now: datetime) -> bool:
        """Not asking the CRM now: this lookup failed a moment ago, or the breaker is open."""
        failed_at = self._failed.get(key)
        if failed_at is not None and now - failed_at < self.failure_ttl:
            return True
        return self.state.open_until is not None and now < self.state.open_until

    def _success(self, key: str, now: datetime) -> None:
        self._failed.pop(key, None)
        self.state.last_success, self.state.consecutive_failures, self.state.open_until = now, 0, None

    def _failure(self, key: str, now: datetime, exc: BaseException) -> None:
        reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        state = self.state
        state.last_error, state.last_error_at = reason, now
        state.consecutive_failures += 1
        self._failed[key] = now
        while len(self._failed) > 10_000:  # bounded: the oldest failures go first
            self._failed.pop(next(iter(self._failed)))
        if state.consecutive_failures >= self.breaker_failures:
            state.open_until = now + self.breaker_cooldown
            log.warning(
                "CRM failed %d times in a row (%s): not asking it for %s",
                state.consecutive_failures,
                reason,
                self.breaker_cooldown,
            )
        else:
            log.warning("CRM lookup failed (%s); using the cached account if any", reason)

    @staticmethod
    def store(uow: UnitOfWork, fetch: AccountFetch) -> None:
        """Cache what the CRM just returned, under the lookup's key and the account id."""
        if fetch.account is None or fetch.fetched_at is None or fetch.key is None:
            return
        uow.accounts.put(fetch.key, fetch.account, fetch.fetched_at)
        uow.accounts.put(f"id:{fetch.account.id}", fetch.account, fetch.fetched_at)
