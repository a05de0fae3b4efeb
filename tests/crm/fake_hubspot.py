"""A fake HubSpot account on loopback, following the public CRM v3/v4 API docs.

Serves, with ``Authorization: Bearer`` private-app tokens and per-endpoint scopes:
``POST /crm/v3/objects/{type}/search`` (filterGroups OR'ed, filters AND'ed; EQ, NEQ, IN,
NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN; ``limit`` up to 200; ``after``
paging; 400 on an unknown property), ``POST /crm/v3/objects/{type}/batch/read`` (207 with
``errors`` for missing ids), ``GET /crm/v4/objects/{from}/{id}/associations/{to}``
(``toObjectId`` + ``associationTypes`` with category/typeId/label, ``after`` paging),
``GET /crm/v3/pipelines/tickets`` (stages with ``metadata.ticketState``),
``GET /crm/v3/owners/{id}`` and ``/crm/v3/owners``, ``GET /crm/v3/properties/{type}``.
Errors carry HubSpot's body (``status``, ``category``, ``message``, ``correlationId``);
429s carry the ``X-HubSpot-RateLimit-*`` headers and, when a test asks, ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
ALL_SCOPES = {
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "tickets",
    "crm.objects.owners.read",
    "crm.schemas.companies.read",
}
PRIMARY = {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}
UNLABELED_CONTACT_COMPANY = {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}
COMPANY_TICKET = {"category": "HUBSPOT_DEFINED", "typeId": 340, "label": None}
DEFAULT_PROPERTIES = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "tickets": [
        "content",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_pipeline",
        "hs_pipeline_stage",
        "subject",
    ],
}
COMPANY_SCHEMA = [
    "name",
    "domain",
    "hubspot_owner_id",
    "supportbot_tier",
    "supportbot_arr",
    "supportbot_renewal_date",
    "supportbot_health",
    "supportbot_slack_team_id",
    "supportbot_discord_guild_id",
    "hs_object_id",
    "createdate",
]
SCHEMAS = {
    "companies": COMPANY_SCHEMA,
    "contacts": ["email", "firstname", "lastname", "hs_object_id", "createdate", "associatedcompanyid"],
    "tickets": [
        "subject",
        "content",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_priority",
        "hs_object_id",
        "createdate",
    ],
}
SCOPE_FOR = {"contacts": "crm.objects.contacts.read", "companies": "crm.objects.companies.read", "tickets": "tickets"}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


@dataclass
class Fault:
    path_prefix: str
    status: int
    retry_after: str | None = None
    remaining: int = 1


@dataclass
class FakeHubSpot:
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"contacts": {}, "companies": {}, "tickets": {}}
    )  # type -> id -> properties
    associations: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    owners: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    scopes: set[str] = field(default_factory=lambda: set(ALL_SCOPES))
    schemas: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in SCHEMAS.items()})
    search_page_cap: int = 200  # HubSpot's documented maximum; tests lower it to exercise paging
    association_page_cap: int = 500
    loose_text_match: bool = False  # EQ matches substrings: near misses a client must re-check
    batch_routes: bool = True  # False: batch/read is not routed at all (a bare 404, as from a proxy)
    seen: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)  # path prefix -> seconds before answering
    drips: dict[str, float] = field(default_factory=dict)  # path prefix -> seconds between bytes of a body never done

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(10_001)
        self.ids: dict[str, str] = {}  # names a test seeded, for readable assertions
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeHubSpot:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    # ------------------------------------------------------------ building data
    def add(self, object_type: str, properties: dict[str, Any], object_id: str | None = None) -> str:
        object_id = object_id or str(next(self._ids))
        self.objects[object_type][object_id] = {k: None if v is None else str(v) for k, v in properties.items()}
        return object_id

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, *types: dict[str, Any]) -> None:
        kinds = list(types) or [UNLABELED_CONTACT_COMPANY if to_type == "companies" else COMPANY_TICKET]
        self.associations.setdefault((from_type, from_id, to_type), []).append(
            {"toObjectId": int(to_id), "associationTypes": kinds}
        )

    def fail(self, path_prefix: str, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        self.faults.append(Fault(path_prefix, status, retry_after, times))

    def requests(self, prefix: str = "", method: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(prefix) and (method is None or s.method == method)]

    # ------------------------------------------------------------ dispatch
    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        self.seen.append(
            Seen(request.method, request.path, dict(request.query), body, request.headers.get("Authorization"))
        )
        for prefix, seconds in self.delays.items():
            if request.path.startswith(prefix):
                await asyncio.sleep(seconds)
        for prefix, seconds in self.drips.items():
            if request.path.startswith(prefix):
                return await self._drip(request, seconds)
        for fault in self.faults:
            if fault.remaining > 0 and request.path.startswith(fault.path_prefix):
                fault.remaining -= 1
                return self._fault(fault)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            )
        path, method = request.path, request.method
        if (m := re.fullmatch(r"/crm/v3/objects/(\w+)/search", path)) and method == "POST":
            return self._guard(SCOPE_FOR.get(m[1]), lambda: self._search(m[1], body or {}))
        if (m := re.fullmatch(r"/crm/v3/objects/(\w+)/batch/read", path)) and method == "POST":
            if not self.batch_routes:
                return web.Response(status=404, text="404: Not Found")
            return self._guard(SCOPE_FOR.get(m[1]), lambda: self._batch_read(m[1], body or {}))
        if (m := re.fullmatch(r"/crm/v3/objects/(\w+)/(\d+)", path)) and method == "GET":
            return self._guard(SCOPE_FOR.get(m[1]), lambda: self._read_one(m[1], m[2], request.query))
        if (m := re.fullmatch(r"/crm/v4/objects/(\w+)/([^/]+)/associations/(\w+)", path)) and method == "GET":
            return self._guard(SCOPE_FOR.get(m[1]), lambda: self._associations(m[1], m[2], m[3], request.query))
        if path == "/crm/v3/pipelines/tickets" and method == "GET":
            return self._guard("tickets", lambda: web.json_response({"results": self.pipelines}))
        if (m := re.fullmatch(r"/crm/v3/owners/?([^/]*)", path)) and method == "GET":
            return self._guard("crm.objects.owners.read", lambda: self._owners(m[1]))
        if (m := re.fullmatch(r"/crm/v3/properties/(\w+)", path)) and method == "GET":
            scope = "crm.schemas.companies.read" if m[1] == "companies" else SCOPE_FOR.get(m[1])
            return self._guard(scope, lambda: self._properties(m[1]))
        return _error(404, "OBJECT_NOT_FOUND", f"resource not found: {method} {path}")

    async def _drip(self, request: web.Request, seconds: float) -> web.StreamResponse:
        """200 and headers at once, then one byte every ``seconds``: every read is quick, the body never ends."""
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b"{")
        try:
            while True:
                await asyncio.sleep(seconds)
                await response.write(b" ")
        except (ConnectionResetError, asyncio.CancelledError):
            return response

    def _guard(self, scope: str | None, answer) -> web.Response:
        if scope is None:
            return _error(404, "OBJECT_NOT_FOUND", "Unknown object type")
        if scope not in self.scopes:
            return _error(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call.",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
            )
        return answer()

    def _fault(self, fault: Fault) -> web.Response:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.status == 429:
            headers |= {
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Max": "100",
                "X-HubSpot-RateLimit-Remaining": "0",
            }
            body = {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "SECONDLY",
            }
            return web.json_response(body, status=429, headers=headers)
        return _error(fault.status, "INTERNAL_ERROR", "internal error", headers=headers)

    # ------------------------------------------------------------ CRM objects
    def _record(self, object_type: str, object_id: str, wanted: list[str] | None) -> dict[str, Any]:
        stored = self.objects[object_type][object_id]
        names = wanted if wanted else DEFAULT_PROPERTIES.get(object_type, [])
        props = {n: stored.get(n) for n in names if n in self.schemas[object_type]}
        props["hs_object_id"] = object_id
        return {
            "id": object_id,
            "properties": props,
            "createdAt": "2026-01-05T10:00:00.000Z",
            "updatedAt": "2026-11-20T10:00:00.000Z",
            "archived": False,
        }

    def _search(self, object_type: str, body: dict[str, Any]) -> web.Response:
        groups = body.get("filterGroups") or []
        limit = int(body.get("limit", 10))
        if limit > 200 or limit < 0:
            return _error(400, "VALIDATION_ERROR", "limit must be between 0 and 200")
        if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
            return _error(400, "VALIDATION_ERROR", "too many filterGroups or filters")
        for group in groups:
            for f in group.get("filters") or []:
                if f.get("propertyName") not in self.schemas[object_type]:
                    return _error(
                        400,
                        "VALIDATION_ERROR",
                        f"There was a problem with the request. Property {f.get('propertyName')!r} does not exist",
                    )
        hits = [
            object_id
            for object_id, props in sorted(self.objects[object_type].items(), key=lambda kv: int(kv[0]))
            if not groups
            or any(all(_filter(props, f, self.loose_text_match) for f in g.get("filters") or []) for g in groups)
        ]
        start = int(body.get("after") or 0)
        size = min(limit, self.search_page_cap)
        page = hits[start : start + size]
        answer: dict[str, Any] = {
            "total": len(hits),
            "results": [self._record(object_type, i, body.get("properties")) for i in page],
        }
        if start + size < len(hits):
            answer["paging"] = {"next": {"after": str(start + size), "link": "?after=" + str(start + size)}}
        return web.json_response(answer)

    def _batch_read(self, object_type: str, body: dict[str, Any]) -> web.Response:
        inputs = body.get("inputs") or []
        if len(inputs) > 100:
            return _error(400, "VALIDATION_ERROR", "batch size must be at most 100")
        found = [i["id"] for i in inputs if str(i.get("id")) in self.objects[object_type]]
        missing = [str(i.get("id")) for i in inputs if str(i.get("id")) not in self.objects[object_type]]
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": [self._record(object_type, str(i), body.get("properties")) for i in found],
            "startedAt": "2026-11-26T09:00:00.000Z",
            "completedAt": "2026-11-26T09:00:00.050Z",
        }
        if missing:
            answer["numErrors"] = 1
            answer["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some " + object_type + " objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                }
            ]
            return web.json_response(answer, status=207)
        return web.json_response(answer)

    def _read_one(self, object_type: str, object_id: str, query: Any) -> web.Response:
        if object_id not in self.objects[object_type]:
            return _error(404, "OBJECT_NOT_FOUND", f"Object {object_id} not found")
        wanted = [p for p in str(query.get("properties", "")).split(",") if p]
        return web.json_response(self._record(object_type, object_id, wanted))

    def _associations(self, from_type: str, object_id: str, to_type: str, query: Any) -> web.Response:
        if not object_id.isdigit():
            return _error(400, "VALIDATION_ERROR", f"Unable to parse object id {object_id!r}")
        limit = min(int(query.get("limit", 500)), 500, self.association_page_cap)
        rows = self.associations.get((from_type, object_id, to_type), [])
        start = int(query.get("after") or 0)
        answer: dict[str, Any] = {"results": rows[start : start + limit]}
        if start + limit < len(rows):
            answer["paging"] = {"next": {"after": str(start + limit), "link": None}}
        return web.json_response(answer)

    def _owners(self, owner_id: str) -> web.Response:
        if not owner_id:
            return web.json_response({"results": list(self.owners.values())[:1]})
        owner = self.owners.get(owner_id)
        if owner is None:
            return _error(404, "OBJECT_NOT_FOUND", f"Owner {owner_id} not found")
        return web.json_response(owner)

    def _properties(self, object_type: str) -> web.Response:
        names = self.schemas.get(object_type, [])
        return web.json_response(
            {
                "results": [
                    {"name": n, "label": n.replace("_", " ").title(), "type": "string", "fieldType": "text"}
                    for n in names
                ]
            }
        )


def _filter(props: dict[str, Any], f: dict[str, Any], loose: bool = False) -> bool:
    """HubSpot compares text case-insensitively."""
    value = props.get(f.get("propertyName"))
    op = f.get("operator", "EQ")
    text = None if value is None else str(value).lower()
    if op == "HAS_PROPERTY":
        return value not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if op in ("IN", "NOT_IN"):
        inside = text in {str(v).lower() for v in f.get("values") or []}
        return inside if op == "IN" else not inside
    target = str(f.get("value", "")).lower()
    if op == "EQ":
        return text == target or (loose and text is not None and target in text)
    if op == "NEQ":
        return text != target
    if op == "CONTAINS_TOKEN":
        pattern = re.escape(target).replace(r"\*", ".*")
        return text is not None and any(re.fullmatch(pattern, token) for token in re.split(r"[\s@]+", text))
    raise ValueError(f"operator {op} not supported by the fake")


def _error(
    status: int, category: str, message: str, *, errors: list[Any] | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status, headers=headers)
