"""/metrics and /healthz on the runtime's ops server, over loopback HTTP, with the real core."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from supportbot.adapters.bootstrap import Runtime, bootstrap
from supportbot.adapters.settings import load_settings
from supportbot.bot.errors import DeliveryError, RateLimited
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.storage import SqlUnitOfWorkFactory
from tests.conftest import ACCOUNTS, Customer, write_kb
from tests.fakes.core import FakeChannel, FakeClassifier, FakeClock, FakeCRM
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory


def _runtime(tmp_path, clock: FakeClock, crm: FakeCRM, channel: FakeChannel, uow=None) -> Runtime:
    settings = load_settings(
        database_url="sqlite://",
        kb_dir=write_kb(tmp_path / "kb"),
        http_host="127.0.0.1",
        http_port=0,
        playground_enabled=False,
    )
    runtime = bootstrap(
        settings,
        uow=uow or InMemoryUnitOfWorkFactory(),
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        crm=crm,
        clock=clock,
        channels=(channel,),
        serve=True,
    )
    assert runtime.ops is not None  # every `supportbot run` has one, whatever the channels
    runtime.ops.health.cache_seconds = 0  # each request sees the present
    return runtime


@pytest.fixture
async def ops(tmp_path):
    clock, crm, channel = FakeClock(), FakeCRM(ACCOUNTS), FakeChannel("test")
    runtime = _runtime(tmp_path, clock, crm, channel)
    assert runtime.ops is not None
    await runtime.ops.start()
    async with aiohttp.ClientSession(base_url=runtime.ops.url) as session:
        yield runtime, session, clock, crm, channel
    await runtime.ops.stop()


async def _metrics(session: aiohttp.ClientSession) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with session.get("/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _health(session: aiohttp.ClientSession) -> tuple[int, dict]:
    async with session.get("/healthz") as resp:
        return resp.status, await resp.json()


async def test_metrics_count_inbound_decisions_deliveries_and_latencies(ops):
    runtime, session, clock, _, channel = ops
    alice = Customer(runtime, clock)
    channel.failures.append((None, RateLimited(5)))
    result = await alice.says("How do I download my invoice?")
    await alice.says("How do I download my invoice?", message_id="U_ALICE-1")  # delivered twice
    decision = result.decision
    assert decision is not None
    m = await _metrics(session)
    assert m[("supportbot_inbound_messages_total", (("outcome", "stored"), ("platform", "test")))] == 1
    assert m[("supportbot_inbound_messages_total", (("outcome", "duplicate"), ("platform", "test")))] == 1
    key = (("action", decision.action.value), ("platform", "test"), ("rule", decision.rule))
    assert m[("supportbot_decisions_total", key)] == 1
    retried = [
        v
        for (name, labels), v in m.items()
        if name == "supportbot_deliveries_total" and ("cause", "rate_limited") in labels
    ]
    assert retried == [1]
    for operation in ("crm_lookup", "triage", "process"):
        assert m[("supportbot_latency_seconds_count", (("operation", operation),))] >= 1
    with runtime.core.uow() as uow:
        pending, _ = uow.outbox.backlog()
    assert pending >= 1 and m[("supportbot_outbox_pending", ())] == pending
    assert m[("supportbot_database_up", ())] == 1 and m[("supportbot_crm_up", ())] == 1

    clock.advance(seconds=10)  # past Retry-After: the outbox sends and the series follow
    await runtime.core.dispatcher.dispatch()
    m = await _metrics(session)
    sent = sum(
        v for (name, labels), v in m.items() if name == "supportbot_deliveries_total" and ("outcome", "sent") in labels
    )
    assert sent >= 1 and m[("supportbot_outbox_pending", ())] == 0


async def test_healthz_ok_then_degraded_by_crm_and_stuck_outbox_but_still_200(ops):
    runtime, session, clock, crm, channel = ops
    status, body = await _health(session)
    assert status == 200 and body["ok"] is True and body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["outbox"]["pending"] == 0

    crm.broken = True  # the CRM is down: support goes on, /healthz says so, orchestrators leave us alone
    await Customer(runtime, clock).says("How do I download my invoice?")
    status, body = await _health(session)
    assert status == 200 and body["ok"] is True and body["status"] == "degraded"
    assert body["checks"]["crm"] == body["checks"]["crm"] | {
        "ok": False,
        "consecutive_failures": 1,
        "last_error": "ConnectionError",
    }
    m = await _metrics(session)
    assert m[("supportbot_crm_up", ())] == 0 and m[("supportbot_crm_consecutive_failures", ())] == 1

    crm.broken = False
    clock.advance(minutes=2)  # past the failure cache: the next lookup asks again and succeeds
    channel.failures.extend([(None, DeliveryError("platform API down"))] * 20)
    await Customer(runtime, clock, user="U_BOB").says("How do I download my invoice?")
    status, body = await _health(session)
    assert body["checks"]["crm"]["ok"] is True and body["checks"]["outbox"]["ok"] is True
    clock.advance(minutes=10)  # replies still pending ten minutes on: the platform API is stuck
    status, body = await _health(session)
    outbox = body["checks"]["outbox"]
    assert status == 200 and body["status"] == "degraded"
    assert outbox["ok"] is False and outbox["pending"] >= 1 and outbox["oldest_pending_seconds"] >= 600
    m = await _metrics(session)
    assert m[("supportbot_outbox_oldest_pending_age_seconds", ())] >= 600


async def test_healthz_is_503_when_the_database_is_unreachable(tmp_path):
    runtime = _runtime(
        tmp_path,
        FakeClock(),
        FakeCRM(ACCOUNTS),
        FakeChannel("test"),
        uow=SqlUnitOfWorkFactory("postgresql://postgres@127.0.0.1:1/nothing"),
    )
    assert runtime.ops is not None
    await runtime.ops.start()
    try:
        async with aiohttp.ClientSession(base_url=runtime.ops.url) as session:
            status, body = await _health(session)
            assert status == 503 and body["ok"] is False and body["status"] == "down"
            assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
            assert body["checks"]["outbox"]["ok"] is False
            m = await _metrics(session)  # still served: the scraper sees the database is down
            assert m[("supportbot_database_up", ())] == 0
    finally:
        await runtime.ops.stop()
        runtime.core.db.close()


async def test_healthz_reports_each_platform_service(ops):
    runtime, session, *_ = ops

    class Gateway:
        name = "gateway"
        up = True

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        def health(self) -> dict[str, object]:
            return {"ok": self.up, "connected": self.up}

    gateway = Gateway()
    runtime.services["gateway"] = gateway
    status, body = await _health(session)
    assert body["status"] == "ok" and body["checks"]["gateway"] == {"ok": True, "connected": True}
    gateway.up = False
    status, body = await _health(session)
    assert status == 200 and body["status"] == "degraded" and body["checks"]["gateway"]["ok"] is False
    m = await _metrics(session)
    assert m[("supportbot_platform_up", (("platform", "gateway"),))] == 0


async def test_unknown_paths_are_404(ops):
    _, session, *_ = ops
    async with session.get("/slack/events") as resp:
        assert resp.status == 404  # nothing mounted without Slack in HTTP mode
