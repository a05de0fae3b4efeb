"""A fake Salesforce org on loopback, following the public REST API and OAuth docs.

Two listeners: the "login" URL (``SALESFORCE_INSTANCE_URL``) serves
``POST /services/oauth2/token`` (client credentials flow) and answers with an ``instance_url``
pointing at the second listener, which alone serves the data API:
``GET /services/data/vXX.X/query?q=SOQL`` (``totalSize``/``done``/``records``/``nextRecordsUrl``
paging; the SOQL is parsed by ``tests.crm.soql``) and ``GET .../sobjects/{name}/describe``.
Errors use Salesforce's shapes: ``[{"message", "errorCode"}]`` (401 ``INVALID_SESSION_ID``,
400 ``MALFORMED_QUERY`` / ``INVALID_FIELD`` / ``INVALID_QUERY_FILTER_OPERATOR``) and
``{"error", "error_description"}`` from the token endpoint. Faults (429/5xx with or without
Retry-After) can be queued per path prefix; every request is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.crm.soql import SoqlError, get, matches, parse

CLIENT_ID = "3MVG9fakeConsumerKey"
CLIENT_SECRET = "fake-consumer-secret-8A4BE698"
_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_VERSION = re.compile(r"v\d{2,3}\.\d")
SITE = web.AppKey("site", str)

# Field API names per object, as describe lists them (relationship "Owner" via OwnerId).
SCHEMA: dict[str, list[dict[str, Any]]] = {
    "Account": [
        {"name": n, "relationshipName": None}
        for n in (
            "Id",
            "Name",
            "Website",
            "Supportbot_Tier__c",
            "Supportbot_ARR__c",
            "Supportbot_Renewal_Date__c",
            "Supportbot_Health__c",
            "Supportbot_Slack_Team_ID__c",
            "Supportbot_Discord_Guild_ID__c",
        )
    ]
    + [{"name": "OwnerId", "relationshipName": "Owner"}],
    "Contact": [{"name": n, "relationshipName": None} for n in ("Id", "Email", "LastName")]
    + [{"name": "AccountId", "relationshipName": "Account"}],
    "Case": [
        {"name": n, "relationshipName": None} for n in ("Id", "CaseNumber", "Subject", "Status", "Priority", "IsClosed")
    ]
    + [{"name": "AccountId", "relationshipName": "Account"}],
}


@dataclass
class Seen:
    site: str  # "login" or "api"
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    path_prefix: str
    status: int
    retry_after: str | None = None
    remaining: int = 1


@dataclass
class FakeSalesforce:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # user id -> Name
    batch_size: int = 2000  # records per query page (Salesforce's default)
    flat_relationships: bool = False  # answer "Owner.Name": ... instead of a nested Owner record
    seen: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)  # path prefix -> seconds before answering
    schema: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: list(v) for k, v in SCHEMA.items()})

    def __post_init__(self) -> None:
        self.live_tokens: set[str] = set()
        self.tokens_issued = 0
        self._counter = itertools.count(1)
        self._locators: dict[str, list[dict[str, Any]]] = {}
        self._runners: list[web.AppRunner] = []
        self.login_port = self.api_port = 0

    # ------------------------------------------------------------ lifecycle
    @property
    def login_url(self) -> str:
        return f"http://127.0.0.1:{self.login_port}"

    @property
    def instance_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    async def start(self) -> FakeSalesforce:
        for site_name in ("login", "api"):
            app = web.Application()
            app[SITE] = site_name
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            if site_name == "login":
                self.login_port = port
            else:
                self.api_port = port
            self._runners.append(runner)
        return self

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    # ------------------------------------------------------------ test controls
    def expire_sessions(self) -> None:
        """Every issued token now answers 401 INVALID_SESSION_ID (a revoked or timed-out session)."""
        self.live_tokens.clear()

    def fail(self, path_prefix: str, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        self.faults.append(Fault(path_prefix, status, retry_after, times))

    def requests(self, site: str | None = None, prefix: str = "") -> list[Seen]:
        return [s for s in self.seen if (site is None or s.site == site) and s.path.startswith(prefix)]

    def queries(self) -> list[str]:
        return [s.query["q"] for s in self.seen if "q" in s.query]

    # ------------------------------------------------------------ dispatch
    async def _handle(self, request: web.Request) -> web.Response:
        site = request.app[SITE]
        form = dict(await request.post()) if request.method == "POST" else {}
        self.seen.append(
            Seen(
                site,
                request.method,
                request.path,
                dict(request.query),
                request.headers.get("Authorization"),
                {k: str(v) for k, v in form.items()},
            )
        )
        for prefix, seconds in self.delays.items():
            if request.path.startswith(prefix):
                await asyncio.sleep(seconds)
        for fault in self.faults:
            if fault.remaining > 0 and request.path.startswith(fault.path_prefix):
                fault.remaining -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                code = "REQUEST_LIMIT_EXCEEDED" if fault.status == 429 else "SERVER_UNAVAILABLE"
                return _errors(fault.status, code, "injected fault", headers)
        if request.path == "/services/oauth2/token" and request.method == "POST":
            return self._token({k: str(v) for k, v in form.items()})
        if site != "api":  # data calls must go to the token's instance_url
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        match = re.fullmatch(r"/services/data/(?P<v>[^/]+)/(?P<rest>.+)", request.path)
        if not match or not _VERSION.fullmatch(match["v"]):
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if token not in self.live_tokens:
            return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        rest = match["rest"]
        if rest == "query" and request.method == "GET":
            return self._query(request.query.get("q", ""), match["v"])
        if rest.startswith("query/") and request.method == "GET":
            return self._more(rest.removeprefix("query/"), match["v"])
        described = re.fullmatch(r"sobjects/(\w+)/describe", rest)
        if described and request.method == "GET":
            name = described[1]
            if name not in self.schema:
                return _errors(404, "NOT_FOUND", f"The requested resource does not exist: {name}")
            return web.json_response({"name": name, "fields": self.schema[name]})
        return _errors(404, "NOT_FOUND", "The requested resource does not exist")

    def _token(self, form: dict[str, str]) -> web.Response:
        if form.get("grant_type") != "client_credentials":
            return web.json_response(
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, status=400
            )
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"}, status=400
            )
        self.tokens_issued += 1
        token = f"00DFAKE!AQ{self.tokens_issued:04d}.sessiontoken"
        self.live_tokens.add(token)
        return web.json_response(
            {
                "access_token": token,
                "signature": "fake-signature=",
                "token_format": "opaque",
                "instance_url": self.instance_url,
                "id": f"{self.login_url}/id/00DFAKE/005FAKE",
                "token_type": "Bearer",
                "issued_at": "1767225600000",
                "scope": "api",
            }
        )

    # ------------------------------------------------------------ SOQL
    def _query(self, soql: str, version: str) -> web.Response:
        try:
            query = parse(soql)
            table = {"Account": self.accounts, "Contact": self.contacts, "Case": self.cases}.get(query.sobject)
            if table is None:
                raise SoqlError("INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
            known = {f["name"].lower() for f in self.schema[query.sobject]}
            relations = {
                str(f["relationshipName"]).lower() for f in self.schema[query.sobject] if f["relationshipName"]
            }
            for name in [*query.fields, *(c.field for c in query.where)]:
                head = name.split(".")[0].lower()
                if ("." in name and head not in relations) or ("." not in name and head not in known):
                    raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{query.sobject}'.")
            for condition in query.where:
                if condition.field.lower().endswith("id") and condition.field.lower() in ("id", "accountid"):
                    value = condition.literal.text() if condition.literal.raw is not None else None
                    if value is not None and not _ID.fullmatch(value):
                        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}")
        except SoqlError as exc:
            return _errors(400, exc.code, str(exc))
        rows = [r for r in table if all(matches(self._joined(query.sobject, r), c) for c in query.where)]
        if query.limit is not None:
            rows = rows[: query.limit]
        records = [self._project(query.sobject, r, query.fields, version) for r in rows]
        return self._page(records, version, total=len(records))

    def _more(self, locator: str, version: str) -> web.Response:
        records = self._locators.pop(locator, None)
        if records is None:
            return _errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        total = int(locator.rsplit("-", 1)[1]) + len(records)
        return self._page(records, version, total=total, offset=int(locator.rsplit("-", 1)[1]))

    def _page(self, records: list[dict[str, Any]], version: str, *, total: int, offset: int = 0) -> web.Response:
        page, rest = records[: self.batch_size], records[self.batch_size :]
        body: dict[str, Any] = {"totalSize": total, "done": not rest, "records": page}
        if rest:
            locator = f"01gFAKE{next(self._counter):05d}-{offset + len(page)}"
            self._locators[locator] = rest
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}"
        return web.json_response(body)

    def _joined(self, sobject: str, row: dict[str, Any]) -> dict[str, Any]:
        if sobject == "Account" and row.get("OwnerId"):
            return {**row, "Owner": {"Name": self.users.get(row["OwnerId"])}}
        return row

    def _project(self, sobject: str, row: dict[str, Any], fields: list[str], version: str) -> dict[str, Any]:
        joined = self._joined(sobject, row)
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{row.get('Id')}"}
        }
        for name in fields:
            if "." in name and self.flat_relationships:
                out[name] = get(joined, name)
            elif "." in name:
                rel, leaf = name.split(".", 1)
                related = get(joined, rel)
                canonical = next(
                    (
                        f["relationshipName"]
                        for f in self.schema[sobject]
                        if str(f["relationshipName"]).lower() == rel.lower()
                    ),
                    rel,
                )
                if related is None:
                    out[canonical] = None
                else:
                    node = out.setdefault(canonical, {"attributes": {"type": "User", "url": "/services/data/x/User"}})
                    node[leaf] = get(related, leaf)
            else:
                canonical = next((f["name"] for f in self.schema[sobject] if f["name"].lower() == name.lower()), name)
                out[canonical] = row.get(canonical)
        return out


def _errors(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response([{"message": message, "errorCode": code}], status=status, headers=headers)
