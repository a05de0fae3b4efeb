"""What the HubSpot and Salesforce adapters share: one bounded retry loop, timeouts, error
translation into ``bot.errors`` and the pure helpers that map vendor values to the domain.

Every request is one plain ``await``: the core (or ``asyncio.timeout``) can wrap a whole
lookup in its own deadline and cancellation simply propagates.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from supportbot.bot.errors import CRMCredentialsError, CRMError, CRMUnavailable

log = logging.getLogger(__name__)

_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*")


@dataclass(frozen=True)
class RetryPolicy:
    """429 and 5xx: wait ``Retry-After`` (``default_delay`` when absent, at most ``max_delay``)."""

    max_attempts: int = 3
    default_delay: float = 1.0
    max_delay: float = 5.0


@dataclass(frozen=True)
class Check:
    """What ``supportbot crm check`` reports."""

    crm: str
    credentials: bool
    detail: str
    fields: dict[str, bool]  # mapped name -> exists
    access: dict[str, str]  # area -> "ok" or the problem

    @property
    def ok(self) -> bool:
        return self.credentials and all(self.fields.values()) and all(v == "ok" for v in self.access.values())


def timeouts(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(3.0, seconds))


class LoopClient:
    """One ``httpx.AsyncClient`` per event loop.

    Pooled connections belong to the loop that opened them; the CLI and the tests run
    several loops one after another in one process, and a stale pool would fail there.
    """

    def __init__(self, factory: Callable[[], httpx.AsyncClient]) -> None:
        self._factory = factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._factory(), loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._loop = None


def retry_delay(headers: httpx.Headers, policy: RetryPolicy) -> float:
    """Seconds to wait before the next attempt: Retry-After (seconds or an HTTP date), capped."""
    value = headers.get("Retry-After")
    delay = policy.default_delay
    if value:
        try:
            delay = float(value)
        except ValueError:
            try:
                delay = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                delay = policy.default_delay
    return max(0.0, min(delay, policy.max_delay))


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    vendor: str,
    policy: RetryPolicy,
    total_timeout: float,
    describe: Callable[[httpx.Response], str],
    **kwargs: Any,
) -> httpx.Response:
    """One request with bounded retries of 429/5xx; any other answer is returned to the caller."""
    path = httpx.URL(url).path  # never the query: SOQL and search values are customer data
    for attempt in range(1, policy.max_attempts + 1):
        try:
            async with asyncio.timeout(total_timeout):
                response = await client.request(method, url, **kwargs)
        except (TimeoutError, httpx.TimeoutException):
            raise CRMUnavailable(f"{vendor} did not answer {path} within {total_timeout:g} s") from None
        except httpx.TransportError as exc:
            raise CRMUnavailable(f"{vendor} is unreachable ({type(exc).__name__})") from None
        status = response.status_code
        if status != 429 and status < 500:
            return response
        if attempt == policy.max_attempts:
            raise CRMUnavailable(f"{vendor} answered {status} to {path} {attempt} times: {describe(response)}")
        delay = retry_delay(response.headers, policy)
        log.warning("%s answered %s to %s; retry %d in %.1f s", vendor, status, path, attempt, delay)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def fail(response: httpx.Response, vendor: str, describe: Callable[[httpx.Response], str]) -> CRMError:
    """The error for an unexpected 4xx answer (401/403 are credentials problems)."""
    detail = describe(response)
    if response.status_code in (401, 403):
        return CRMCredentialsError(f"{vendor} rejected the credentials ({response.status_code}): {detail}")
    return CRMError(f"{vendor} answered {response.status_code} to {response.request.url.path}: {detail}")


def json_body(response: httpx.Response, vendor: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CRMUnavailable(f"{vendor} sent a non-JSON answer to {response.request.url.path}") from None


def one_line(text: Any, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def gather_all(*awaitables: Awaitable[Any]) -> list[Any]:
    """asyncio.gather whose first failure cancels the siblings (and is raised as itself)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# ----------------------------------------------------------------------------- value mapping


def email_domain(email: str | None) -> str | None:
    """The lowercased domain of a plausible address, or None (a malformed one is simply not found)."""
    if not email:
        return None
    email = email.strip()
    if email.count("@") != 1 or any(c.isspace() or ord(c) < 32 for c in email):
        return None
    local, domain = email.split("@")
    domain = domain.lower().rstrip(".")
    if not local or len(email) > 320 or not _HOST.fullmatch(domain):
        return None
    return domain


def host_of(value: Any) -> str | None:
    """The host of a stored domain or website ("https://www.Acme.com/x" -> "acme.com")."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().lower()
    try:
        host = urlsplit(text if "://" in text else "//" + text).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    return host.removeprefix("www.") or None


def same_host(stored: Any, domain: str) -> bool:
    """Whole-host, case-insensitive: acme.com matches www.acme.com, never notacme.com or acme.com.au."""
    return host_of(stored) == domain.removeprefix("www.")


def as_number(value: Any) -> float:
    if isinstance(value, bool) or value is None or value == "":
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def as_date(value: Any) -> date | None:
    """ISO dates and datetimes, or HubSpot's epoch milliseconds; anything else is None."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
