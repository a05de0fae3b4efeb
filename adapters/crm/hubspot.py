"""HubSpot as the CRM: a private app's access token against the CRM v3/v4 REST APIs.

How a customer becomes an ``Account`` (company properties are named in ``HubSpotProperties``):

- account id: the company with that HubSpot id (``POST /crm/v3/objects/companies/batch/read``);
- Slack team / Discord guild: ``POST /crm/v3/objects/companies/search`` with an ``EQ`` filter
  on the mapped property;
- email: the contact with that ``email`` (contacts search), then its primary company
  (``GET /crm/v4/objects/contacts/{id}/associations/companies``, the association type labelled
  primary, typeId 1); with no such contact (or one without a company), the company whose
  ``domain`` is the email's domain, compared on the whole host;
- open tickets: the company's associated tickets (v4 associations, then tickets batch read)
  whose stage's ``metadata.ticketState`` in ``GET /crm/v3/pipelines/tickets`` is not CLOSED;
- owner: ``hubspot_owner_id`` shown as the owner's "first last" (``GET /crm/v3/owners/{id}``).

Pipelines and owners change rarely and are cached for a few minutes per adapter.
"""

from __future__ import annotations

import logging
import re
import time
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
from supportbot.adapters.crm.settings import HubSpotProperties
from supportbot.bot.domain import Account, AccountLookup, Ticket
from supportbot.bot.ports import CRM

log = logging.getLogger(__name__)

VENDOR = "HubSpot"
PRIMARY_COMPANY_TYPE_ID = 1  # HUBSPOT_DEFINED contact -> company "Primary" association
TICKET_PROPERTIES = ["subject", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "createdate"]
SEARCH_PAGE = 100  # the search API allows up to 100-200 per page depending on the version
MAX_SEARCH_PAGES = 20  # the search API stops at 10,000 results anyway
BATCH_SIZE = 100  # batch read accepts 100 inputs
ASSOCIATION_PAGE = 500
MAX_TICKETS = 2_000  # tickets read per company: enough for any open queue, bounded for the giant ones
CACHE_SECONDS = 300.0
_OWNER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # numeric in HubSpot; any URL-safe id is asked about


def _hubspot_error(response: httpx.Response) -> bool:
    """HubSpot's own error body, as opposed to a router's bare 404 for an endpoint it lacks."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and ("category" in body or body.get("status") == "error")


def describe(response: httpx.Response) -> str:
    """HubSpot's error body: {"status": "error", "category": ..., "message": ...}."""
    try:
        body = response.json()
    except ValueError:
        return one_line(response.text or response.reason_phrase)
    if not isinstance(body, dict):
        return one_line(body)
    parts = [str(body.get("category") or ""), str(body.get("message") or "")]
    return one_line(": ".join(p for p in parts if p) or response.reason_phrase)


@dataclass
class _Stage:
    label: str
    closed: bool


@dataclass
class _Cache:
    stages: dict[tuple[str, str], _Stage] = field(default_factory=dict)
    stages_at: float = -1e9
    owners: dict[str, tuple[str | None, float]] = field(default_factory=dict)


class HubSpotCRM(CRM):
    def __init__(
        self,
        token: str,
        *,
        api_url: str = "https://api.hubapi.com",
        properties: HubSpotProperties | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        list_limit: int = 200,
    ) -> None:
        if not token:
            raise ValueError("a HubSpot access token is required")
        self._props = properties or HubSpotProperties()
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._list_limit = list_limit
        self._base = api_url.rstrip("/")
        self._cache = _Cache()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._http = LoopClient(
            lambda: httpx.AsyncClient(
                base_url=self._base, headers=headers, timeout=timeouts(timeout), transport=transport
            )
        )

    def __repr__(self) -> str:  # never the token
        return f"HubSpotCRM(api_url={self._base!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ the port

    async def find_account(self, lookup: AccountLookup) -> Account | None:
        if lookup.account_id:
            company = await self._company(lookup.account_id)
            return await self._account(company) if company else None
        for prop, value in (
            (self._props.slack_team_id, lookup.slack_team_id),
            (self._props.discord_guild_id, lookup.discord_guild_id),
        ):
            if value:
                company = await self._company_where(prop, value)
                if company:
                    return await self._account(company)
        if lookup.email:
            return await self._by_email(lookup.email)
        return None

    async def list_accounts(self) -> list[Account]:
        """Companies that have a tier (the playground's picker); without their tickets."""
        filters = [{"propertyName": self._props.tier, "operator": "HAS_PROPERTY"}]
        companies = []
        async for company in self._search("companies", filters, self._props.company_properties()):
            companies.append(company)
            if len(companies) >= self._list_limit:
                break
        owners = await gather_all(*(self._owner_name(self._prop(c, self._props.owner)) for c in companies))
        return [self._to_account(c, owner, ()) for c, owner in zip(companies, owners, strict=True)]

    # ------------------------------------------------------------------ lookups

    async def _by_email(self, email: str) -> Account | None:
        domain = email_domain(email)
        if domain is None:
            return None
        filters = [{"propertyName": "email", "operator": "EQ", "value": email.strip()}]
        async for contact in self._search("contacts", filters, ["email", "associatedcompanyid"], limit=10):
            company_id = await self._primary_company(contact)
            company = await self._company(company_id) if company_id else None
            if company:
                return await self._account(company)
            break  # the contact has no company: fall back to the domain
        domain_filter = [{"propertyName": self._props.domain, "operator": "EQ", "value": domain}]
        async for company in self._search("companies", domain_filter, self._props.company_properties()):
            if same_host(self._prop(company, self._props.domain), domain):  # never notacme.com
                return await self._account(company)
        return None

    async def _company_where(self, prop: str, value: str) -> dict[str, Any] | None:
        filters = [{"propertyName": prop, "operator": "EQ", "value": value}]
        async for company in self._search("companies", filters, self._props.company_properties(), limit=10):
            if str(self._prop(company, prop)).strip().lower() == value.strip().lower():  # as EQ compares
                return company
        return None

    async def _company(self, company_id: str) -> dict[str, Any] | None:
        if not company_id.isdigit():  # HubSpot record ids are numbers: anything else cannot match
            return None
        found = await self._batch_read("companies", [company_id], self._props.company_properties())
        return found[0] if found else None

    async def _primary_company(self, contact: dict[str, Any]) -> str | None:
        associations = [a async for a in self._associations("contacts", str(contact["id"]), "companies")]
        for association in associations:
            for kind in association.get("associationTypes") or ():
                # typeId 1 is the primary company; HubSpot renamed its label once, so the label
                # only counts for HubSpot's own types (a user's "Primary billing" label is not it)
                hubspot_defined = kind.get("category") == "HUBSPOT_DEFINED"
                label = str(kind.get("label") or "").lower()
                if hubspot_defined and (kind.get("typeId") == PRIMARY_COMPANY_TYPE_ID or "primary" in label):
                    return str(association["toObjectId"])
        if associations:
            return str(associations[0]["toObjectId"])
        # HubSpot also keeps the primary company's id on the contact itself
        return as_text(self._prop(contact, "associatedcompanyid"))

    # ------------------------------------------------------------------ account assembly

    async def _account(self, company: dict[str, Any]) -> Account:
        owner, tickets = await gather_all(
            self._owner_name(self._prop(company, self._props.owner)), self._open_tickets(str(company["id"]))
        )
        return self._to_account(company, owner, tickets)

    def _to_account(self, company: dict[str, Any], owner: str | None, tickets: tuple[Ticket, ...]) -> Account:
        p = self._props
        domain = host_of(self._prop(company, p.domain))
        slack, guild = as_text(self._prop(company, p.slack_team_id)), as_text(self._prop(company, p.discord_guild_id))
        return Account(
            id=str(company["id"]),
            name=as_text(self._prop(company, p.name)) or str(company["id"]),
            tier=(as_text(self._prop(company, p.tier)) or "free").lower(),
            arr=as_number(self._prop(company, p.arr)),
            renewal_date=as_date(self._prop(company, p.renewal_date)),
            owner=owner,
            health=self._prop(company, p.health) or None,
            slack_team_ids=(slack,) if slack else (),
            email_domains=(domain,) if domain else (),
            discord_guild_ids=(guild,) if guild else (),
            open_tickets=tickets,
        )

    async def _open_tickets(self, company_id: str) -> tuple[Ticket, ...]:
        ids: list[str] = []
        async for association in self._associations("companies", company_id, "tickets"):
            ids.append(str(association["toObjectId"]))
            if len(ids) >= MAX_TICKETS:
                log.warning("HubSpot company %s has over %d tickets; reading the first", company_id, MAX_TICKETS)
                break
        if not ids:
            return ()
        chunks = [ids[i : i + BATCH_SIZE] for i in range(0, len(ids), BATCH_SIZE)]
        tickets = [
            t
            for chunk in await gather_all(*(self._batch_read("tickets", c, TICKET_PROPERTIES) for c in chunks))
            for t in chunk
        ]
        stages = await self._stages()
        if any(self._stage_key(t) not in stages for t in tickets):
            stages = await self._stages(refresh=True)  # a stage created since we cached the pipelines
        open_tickets = []
        for ticket in tickets:
            stage = stages.get(self._stage_key(ticket))
            if stage is not None and stage.closed:
                continue
            open_tickets.append(
                Ticket(
                    id=str(ticket["id"]),
                    subject=self._prop(ticket, "subject") or "",
                    status=stage.label if stage else str(self._prop(ticket, "hs_pipeline_stage") or ""),
                    priority=self._prop(ticket, "hs_ticket_priority") or "",
                    opened_at=self._prop(ticket, "createdate"),
                )
            )
        return tuple(open_tickets)

    def _stage_key(self, ticket: dict[str, Any]) -> tuple[str, str]:
        return (str(self._prop(ticket, "hs_pipeline") or ""), str(self._prop(ticket, "hs_pipeline_stage") or ""))

    async def _stages(self, *, refresh: bool = False) -> dict[tuple[str, str], _Stage]:
        if not refresh and time.monotonic() - self._cache.stages_at < CACHE_SECONDS:
            return self._cache.stages
        body = await self._get("/crm/v3/pipelines/tickets")
        stages: dict[tuple[str, str], _Stage] = {}
        for pipeline in body.get("results") or ():
            for stage in pipeline.get("stages") or ():
                state = str((stage.get("metadata") or {}).get("ticketState") or "").upper()
                entry = _Stage(label=str(stage.get("label") or stage.get("id")), closed=state == "CLOSED")
                stages[(str(pipeline.get("id")), str(stage.get("id")))] = entry
                stages.setdefault(("", str(stage.get("id"))), entry)  # a ticket without hs_pipeline
        self._cache.stages, self._cache.stages_at = stages, time.monotonic()
        return stages

    async def _owner_name(self, owner_id: Any) -> str | None:
        owner_id = as_text(owner_id)
        if not owner_id or not _OWNER_ID.fullmatch(owner_id):
            return None
        cached = self._cache.owners.get(owner_id)
        if cached and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        response = await self._send("GET", f"/crm/v3/owners/{owner_id}")
        if response.status_code in (401, 403):
            raise fail(response, VENDOR, describe)
        if response.status_code >= 400:  # gone or never was: the account simply has no owner
            name = None
        else:
            owner = json_body(response, VENDOR)
            full = " ".join(str(owner.get(k) or "").strip() for k in ("firstName", "lastName")).strip()
            name = full or as_text(owner.get("email"))
        self._cache.owners[owner_id] = (name, time.monotonic())
        return name

    # ------------------------------------------------------------------ API calls

    @staticmethod
    def _prop(record: dict[str, Any], name: str) -> Any:
        return (record.get("properties") or {}).get(name)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await send(
            self._http.get(),
            method,
            path,
            vendor=VENDOR,
            policy=self._retry,
            total_timeout=self._timeout * 2,
            describe=describe,
            **kwargs,
        )

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self._send("GET", path, params=params)
        if response.status_code >= 400:
            raise fail(response, VENDOR, describe)
        return json_body(response, VENDOR)

    async def _search(
        self, object_type: str, filters: list[dict[str, Any]], properties: list[str], *, limit: int = SEARCH_PAGE
    ):
        body: dict[str, Any] = {"filterGroups": [{"filters": filters}], "properties": properties, "limit": limit}
        for _ in range(MAX_SEARCH_PAGES):
            response = await self._send("POST", f"/crm/v3/objects/{object_type}/search", json=body)
            if response.status_code >= 400:
                raise fail(response, VENDOR, describe)
            page = json_body(response, VENDOR)
            for record in page.get("results") or ():
                yield record
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            body = {**body, "after": str(after)}

    async def _associations(self, from_type: str, object_id: str, to_type: str):
        params: dict[str, Any] = {"limit": ASSOCIATION_PAGE}
        path = f"/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}"
        while True:
            response = await self._send("GET", path, params=params)
            if response.status_code == 404:  # the record is gone
                return
            if response.status_code >= 400:
                raise fail(response, VENDOR, describe)
            page = json_body(response, VENDOR)
            for association in page.get("results") or ():
                if association.get("toObjectId") is not None:
                    yield association
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            params = {**params, "after": str(after)}

    async def _batch_read(self, object_type: str, ids: list[str], properties: list[str]) -> list[dict[str, Any]]:
        body = {"properties": properties, "inputs": [{"id": i} for i in ids]}
        response = await self._send("POST", f"/crm/v3/objects/{object_type}/batch/read", json=body)
        if response.status_code in (404, 405) and not _hubspot_error(response):
            # no batch endpoint here (a proxy or a partial API): read the records one by one
            found = await gather_all(*(self._read_one(object_type, i, properties) for i in ids))
            return [r for r in found if r is not None]
        if response.status_code == 404:  # none of the ids exists
            return []
        if response.status_code >= 400:
            raise fail(response, VENDOR, describe)
        # 200, or 207 Multi-Status when some ids do not exist (listed under "errors")
        by_id = {str(r.get("id")): r for r in json_body(response, VENDOR).get("results") or () if not r.get("archived")}
        return [by_id[i] for i in ids if i in by_id]

    async def _read_one(self, object_type: str, object_id: str, properties: list[str]) -> dict[str, Any] | None:
        params = {"properties": ",".join(properties)}
        response = await self._send("GET", f"/crm/v3/objects/{object_type}/{object_id}", params=params)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise fail(response, VENDOR, describe)
        return json_body(response, VENDOR)

    # ------------------------------------------------------------------ crm check

    async def check(self) -> Check:
        """Do the token and scopes work, and do the mapped company properties exist?"""
        response = await self._send("GET", "/crm/v3/properties/companies")
        if response.status_code in (401, 403):
            return Check("hubspot", False, str(fail(response, VENDOR, describe)), {}, {})
        if response.status_code >= 400:
            raise fail(response, VENDOR, describe)
        names = {p.get("name") for p in json_body(response, VENDOR).get("results") or ()}
        fields = {name: name in names for name in self._props.company_properties()}
        probes = {
            "contacts (crm.objects.contacts.read)": ("POST", "/crm/v3/objects/contacts/search", {"json": {"limit": 1}}),
            "companies (crm.objects.companies.read)": (
                "POST",
                "/crm/v3/objects/companies/search",
                {"json": {"limit": 1}},
            ),
            "tickets (tickets)": ("GET", "/crm/v3/pipelines/tickets", {}),
            "owners (crm.objects.owners.read)": ("GET", "/crm/v3/owners", {"params": {"limit": 1}}),
        }
        access = {}
        for area, (method, path, kwargs) in probes.items():
            probe = await self._send(method, path, **kwargs)
            access[area] = "ok" if probe.status_code < 400 else str(fail(probe, VENDOR, describe))
        return Check("hubspot", True, f"token accepted by {self._base}", fields, access)
