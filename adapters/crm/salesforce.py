"""Salesforce as the CRM: the OAuth 2.0 client credentials flow and the REST API ``query`` endpoint.

- Token: ``POST {SALESFORCE_INSTANCE_URL}/services/oauth2/token`` with ``grant_type=client_credentials``;
  API calls go to the ``instance_url`` of the answer. One token per process (per org and client),
  reused until a call answers 401 ``INVALID_SESSION_ID``; then one new token and one retry.
- Queries: ``GET {instance_url}/services/data/vXX.X/query?q=SOQL``, following ``nextRecordsUrl``
  while ``done`` is false. Every value put into SOQL goes through ``soql_literal`` (or
  ``soql_like_contains``), so a quote or backslash in an email or id never changes the query.
- Account id: ``Account.Id``; Slack team / Discord guild: the mapped custom fields; email: the
  Contact with that ``Email`` and its ``AccountId``, else the Account whose ``Website`` contains
  the email's domain, compared on the whole host; open tickets: the account's Cases with
  ``IsClosed = false``; owner: ``Owner.Name``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from supportbot.adapters.crm.rest import (
    Check,
    LoopClient,
    RetryPolicy,
    as_date,
    as_number,
    as_text,
    email_domain,
    fail,
    gather_all,
    host_of,
    json_body,
    one_line,
    same_host,
    send,
    timeouts,
)
from supportbot.adapters.crm.settings import SalesforceFields
from supportbot.bot.domain import Account, AccountLookup, Ticket
from supportbot.bot.errors import CRMCredentialsError, CRMUnavailable
from supportbot.bot.ports import CRM

log = logging.getLogger(__name__)

VENDOR = "Salesforce"
CASE_FIELDS = ["CaseNumber", "Subject", "Status", "Priority"]
MAX_RECORDS = 2_000  # per query: Website LIKE '%acme.com%' may match many lookalikes
_RECORD_ID = re.compile(r"[A-Za-z0-9]{1,18}")  # Salesforce ids are 15/18 letters and digits
# What Salesforce answers for an id literal that is not an id: the record simply does not exist.
_BAD_ID_CODES = {"INVALID_QUERY_FILTER_OPERATOR", "MALFORMED_ID", "INVALID_ID_FIELD"}
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def soql_literal(value: str) -> str:
    """A SOQL string literal: backslash, quotes and the escapable controls escaped (SOQL docs)."""
    return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"


def soql_like_contains(value: str) -> str:
    """A LIKE pattern matching ``value`` anywhere, with its own % and _ escaped as literals."""
    escaped = "".join(_ESCAPES.get(c, {"%": "\\%", "_": "\\_"}.get(c, c)) for c in value)
    return f"'%{escaped}%'"


def _searchable(value: str | None) -> str | None:
    """Lookup values are short single-line strings; anything else cannot match a record."""
    if not value or len(value) > 255 or any(ord(c) < 32 for c in value):
        return None
    return value


def describe(response: httpx.Response) -> str:
    """REST errors are [{"message", "errorCode"}]; OAuth errors {"error", "error_description"}."""
    try:
        body = response.json()
    except ValueError:
        return one_line(response.text or response.reason_phrase)
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return one_line(f"{body[0].get('errorCode', '')}: {body[0].get('message', '')}")
    if isinstance(body, dict) and ("error" in body or "error_description" in body):
        return one_line(f"{body.get('error', '')}: {body.get('error_description', '')}")
    return one_line(body)


def error_code(response: httpx.Response) -> str | None:
    """The ``errorCode`` of a REST error (documented as a list; a lone object is accepted too)."""
    try:
        body = response.json()
    except ValueError:
        return None
    first = body[0] if isinstance(body, list) and body else body
    return (str(first.get("errorCode") or "") or None) if isinstance(first, dict) else None


def field_value(record: dict[str, Any], path: str) -> Any:
    """``Owner.Name`` walks the relationship; names match case-insensitively, as in SOQL."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            value = None
            break
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if value is None and "." in path:  # a flattened "Owner.Name" key, as some proxies return
        value = next((v for k, v in record.items() if k.lower() == path.lower()), None)
    return value


@dataclass(frozen=True)
class _Token:
    access_token: str = field(repr=False)
    instance_url: str


# One token per process for each (org, client id, secret digest), shared by every adapter
# instance; the digest keeps an adapter with a wrong secret from borrowing a good token.
_TOKENS: dict[tuple[str, str, str], _Token] = {}


class SalesforceCRM(CRM):
    def __init__(
        self,
        instance_url: str,
        client_id: str,
        client_secret: str,
        *,
        api_version: str = "v62.0",
        fields: SalesforceFields | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        list_limit: int = 200,
    ) -> None:
        if not (instance_url and client_id and client_secret):
            raise ValueError("the Salesforce instance URL, client id and client secret are required")
        self._login = instance_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._version = api_version if api_version.startswith("v") else f"v{api_version}"
        self._fields = fields or SalesforceFields()
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._list_limit = list_limit
        self._http = LoopClient(lambda: httpx.AsyncClient(timeout=timeouts(timeout), transport=transport))
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def __repr__(self) -> str:  # never the secret or the token
        return f"SalesforceCRM(instance_url={self._login!r}, client_id={self._client_id[:6]!r}…)"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ the port

    async def find_account(self, lookup: AccountLookup) -> Account | None:
        f = self._fields
        if lookup.account_id:
            if not _RECORD_ID.fullmatch(lookup.account_id):
                return None
            return await self._account_where("Id", lookup.account_id)
        for name, value in ((f.slack_team_id, lookup.slack_team_id), (f.discord_guild_id, lookup.discord_guild_id)):
            value = _searchable(value)
            if value:
                account = await self._account_where(name, value)
                if account:
                    return account
        if lookup.email:
            return await self._by_email(lookup.email)
        return None

    async def list_accounts(self) -> list[Account]:
        """Accounts that have a tier (the playground's picker); without their cases."""
        soql = f"SELECT {self._select} FROM Account WHERE {self._fields.tier} != null LIMIT {self._list_limit}"
        return [self._to_account(r, ()) async for r in self._records(soql)]

    # ------------------------------------------------------------------ lookups

    @property
    def _select(self) -> str:
        return ", ".join(self._fields.account_fields())

    async def _by_email(self, email: str) -> Account | None:
        domain = email_domain(email)
        if domain is None or _searchable(email.strip()) is None:
            return None
        contacts = f"SELECT AccountId FROM Contact WHERE Email = {soql_literal(email.strip())}"
        async for contact in self._records(contacts):
            account_id = as_text(field_value(contact, "AccountId"))
            account = await self._account_where("Id", account_id) if account_id else None
            if account:
                return account
        website = self._fields.website
        soql = f"SELECT {self._select} FROM Account WHERE {website} LIKE {soql_like_contains(domain)}"
        async for record in self._records(soql):
            if same_host(field_value(record, website), domain):  # LIKE also matches notacme.com
                return await self._with_cases(record)
        return None

    async def _account_where(self, name: str, value: str) -> Account | None:
        soql = f"SELECT {self._select} FROM Account WHERE {name} = {soql_literal(value)}"
        async for record in self._records(soql, id_lookup=name == "Id"):
            return await self._with_cases(record)
        return None

    async def _with_cases(self, record: dict[str, Any]) -> Account:
        soql = (
            f"SELECT {', '.join(CASE_FIELDS)} FROM Case "
            f"WHERE AccountId = {soql_literal(str(record['Id']))} AND IsClosed = false"
        )
        cases = [
            Ticket(
                id=str(field_value(c, "CaseNumber") or ""),
                subject=as_text(field_value(c, "Subject")) or "",
                status=as_text(field_value(c, "Status")) or "",
                priority=as_text(field_value(c, "Priority")) or "",
            )
            async for c in self._records(soql)
        ]
        return self._to_account(record, tuple(cases))

    def _to_account(self, record: dict[str, Any], tickets: tuple[Ticket, ...]) -> Account:
        f = self._fields
        domain = host_of(field_value(record, f.website))
        slack, guild = as_text(field_value(record, f.slack_team_id)), as_text(field_value(record, f.discord_guild_id))
        return Account(
            id=str(record["Id"]),
            name=as_text(field_value(record, f.name)) or str(record["Id"]),
            tier=(as_text(field_value(record, f.tier)) or "free").lower(),
            arr=as_number(field_value(record, f.arr)),
            renewal_date=as_date(field_value(record, f.renewal_date)),
            owner=as_text(field_value(record, f.owner)),
            health=field_value(record, f.health),
            slack_team_ids=(slack,) if slack else (),
            email_domains=(domain,) if domain else (),
            discord_guild_ids=(guild,) if guild else (),
            open_tickets=tickets,
        )

    # ------------------------------------------------------------------ REST API

    async def _records(self, soql: str, *, id_lookup: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Every record of a query, page by page (``nextRecordsUrl``), at most MAX_RECORDS."""
        path = f"/services/data/{self._version}/query"
        params: dict[str, str] | None = {"q": soql}  # None for the next pages: nextRecordsUrl carries the query
        seen = 0
        while True:
            response = await self._api("GET", path, params=params)
            if id_lookup and response.status_code == 400 and error_code(response) in _BAD_ID_CODES:
                return
            if response.status_code >= 400:
                raise fail(response, VENDOR, describe)
            page = json_body(response, VENDOR)
            for record in page.get("records") or ():
                yield record
                seen += 1
                if seen >= MAX_RECORDS:
                    log.warning("Salesforce query returned over %d records; reading the first", MAX_RECORDS)
                    return
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            path, params = str(next_url), None

    async def _api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the token's instance; an expired session gets one new token and one retry."""
        token = await self._token()
        response = await self._send_api(token, method, path, **kwargs)
        if response.status_code == 401 and error_code(response) == "INVALID_SESSION_ID":
            log.info("Salesforce session expired or invalid; requesting a new token")
            token = await self._token(expired=token)
            response = await self._send_api(token, method, path, **kwargs)
        return response

    async def _send_api(self, token: _Token, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if path.startswith(("http://", "https://")):  # an absolute nextRecordsUrl: only our instance
            if not path.startswith(token.instance_url + "/"):
                raise CRMUnavailable("Salesforce sent a nextRecordsUrl outside its instance")
            url = path
        else:
            url = token.instance_url + "/" + path.lstrip("/")
        headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}
        return await self._send(method, url, headers=headers, **kwargs)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await send(
            self._http.get(),
            method,
            url,
            vendor=VENDOR,
            policy=self._retry,
            total_timeout=self._timeout * 2,
            describe=describe,
            **kwargs,
        )

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if loop not in self._locks:
            self._locks = {loop: asyncio.Lock()}  # locks belong to one loop; older loops are gone
        return self._locks[loop]

    async def _token(self, *, expired: _Token | None = None) -> _Token:
        key = (self._login, self._client_id, hashlib.sha256(self._client_secret.encode()).hexdigest())
        async with self._lock():
            current = _TOKENS.get(key)
            if current is not None and current != expired:
                return current
            _TOKENS.pop(key, None)
            token = await self._fetch_token()
            _TOKENS[key] = token
            return token

    async def _fetch_token(self) -> _Token:
        data = {"grant_type": "client_credentials", "client_id": self._client_id, "client_secret": self._client_secret}
        response = await self._send("POST", f"{self._login}/services/oauth2/token", data=data)
        if response.status_code in (400, 401, 403):  # invalid_client, invalid_grant (no run-as user), ...
            raise CRMCredentialsError(f"Salesforce refused the client credentials: {describe(response)}")
        if response.status_code >= 400:
            raise fail(response, VENDOR, describe)
        body = json_body(response, VENDOR)
        access_token = body.get("access_token") if isinstance(body, dict) else None
        if not access_token:
            raise CRMCredentialsError("Salesforce answered the token request without an access_token")
        instance_url = str(body.get("instance_url") or self._login).rstrip("/")
        if not instance_url.startswith(("http://", "https://")):
            raise CRMUnavailable("Salesforce answered the token request with an unusable instance_url")
        log.info("Salesforce token issued for %s", instance_url)
        return _Token(str(access_token), instance_url)

    # ------------------------------------------------------------------ crm check

    async def check(self) -> Check:
        """Do the client credentials work, and do the mapped Account fields exist for the run-as user?"""
        try:
            await self._token()
        except CRMCredentialsError as exc:
            return Check("salesforce", False, str(exc), {}, {})
        described = await gather_all(*(self._describe(name) for name in ("Account", "Contact", "Case")))
        account, contact, case = described
        if isinstance(account, str):
            if "rejected the credentials" in account:
                return Check("salesforce", False, account, {}, {})
            raise CRMUnavailable(account)
        names, relationships = account
        fields = {
            name: (name.split(".")[0].lower() in relationships) if "." in name else name.lower() in names
            for name in self._fields.account_fields()
        }
        access = {
            "Contact (read)": self._has(contact, ["Email", "AccountId"]),
            "Case (read)": self._has(case, [*CASE_FIELDS, "IsClosed", "AccountId"]),
        }
        return Check("salesforce", True, f"token issued; API {self._version}", fields, access)

    @staticmethod
    def _has(described: tuple[set[str], set[str]] | str, required: list[str]) -> str:
        if isinstance(described, str):
            return described
        missing = [name for name in required if name.lower() not in described[0]]
        return "ok" if not missing else "missing or not readable: " + ", ".join(missing)

    async def _describe(self, sobject: str) -> tuple[set[str], set[str]] | str:
        response = await self._api("GET", f"/services/data/{self._version}/sobjects/{sobject}/describe")
        if response.status_code >= 400:
            return str(fail(response, VENDOR, describe))
        body = json_body(response, VENDOR)
        described = body.get("fields") or () if isinstance(body, dict) else ()
        names = {str(f.get("name", "")).lower() for f in described}
        relationships = {str(f.get("relationshipName") or "").lower() for f in described} - {""}
        return names, relationships
