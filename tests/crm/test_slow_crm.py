"""A slow or rate-limited CRM (the real HubSpot adapter over loopback) never holds support up.

Measured before: a CRM dripping a byte every 3 s made every message wait 60 s, and a
``Retry-After: 30`` was honoured twice.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from supportbot.adapters.bootstrap import bootstrap
from supportbot.adapters.settings import load_settings
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from tests.conftest import Customer, write_kb
from tests.crm import fake_hubspot as hs
from tests.fakes.core import FakeChannel, FakeClassifier, FakeClock

DEADLINE = 1.0


@pytest.fixture
def app(tmp_path, monkeypatch, hubspot):
    for name in list(os.environ):
        if name.startswith(("SUPPORTBOT_", "HUBSPOT_")):
            monkeypatch.delenv(name)
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        kb_dir=write_kb(tmp_path / "kb"),
        crm="hubspot",
        hubspot_access_token=hs.TOKEN,
        hubspot_api_url=hubspot.url,
        crm_deadline_seconds=DEADLINE,
    )
    clock = FakeClock()
    runtime = bootstrap(
        settings,
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        clock=clock,
        channels=(FakeChannel("test"),),
    )
    runtime.clock = clock  # type: ignore[attr-defined]
    return runtime


async def _timed(customer: Customer, text: str, **kwargs):
    started = time.perf_counter()
    result = await customer.says(text, **kwargs)
    return result, time.perf_counter() - started


async def test_a_dripping_crm_costs_a_message_at_most_the_deadline_and_then_nothing(app, hubspot):
    hubspot.drips["/crm"] = 3.0
    bob = Customer(app, app.clock, user="U_BOB", account=hubspot.ids["acme"])
    result, seconds = await _timed(bob, "where can I find my invoice?")
    assert result.status == "processed" and result.decision is not None
    assert DEADLINE <= seconds < DEADLINE + 1.0, seconds
    asked = len(hubspot.requests("/crm"))
    # the failure is remembered: the next message of this customer does not wait again
    again, seconds = await _timed(bob, "and where is the PDF?", thread="U_BOB-1")
    assert again.status == "processed" and seconds < 0.5, seconds
    assert len(hubspot.requests("/crm")) == asked
    health = app.core.accounts.health()
    assert health.consecutive_failures >= 1 and health.last_error == "timeout"


async def test_retry_after_30_is_not_waited_for(app, hubspot):
    hubspot.fail("/crm", 429, retry_after="30", times=4)
    bob = Customer(app, app.clock, user="U_BOB", account=hubspot.ids["acme"])
    result, seconds = await _timed(bob, "where can I find my invoice?")
    assert result.status == "processed" and seconds < DEADLINE + 1.0, seconds


async def test_a_slow_lookup_does_not_hold_other_customers(app, hubspot):
    hubspot.drips["/crm"] = 3.0
    waiting = [Customer(app, app.clock, user=f"U_W{n}", account=f"{80_000 + n}", channel=f"C_W{n}") for n in range(20)]
    slow = asyncio.gather(*(c.says("where can I find my invoice?") for c in waiting))
    await asyncio.sleep(0.2)  # twenty lookups in flight (or queued for the CRM)
    others = [Customer(app, app.clock, user=f"U_{n}", account=None, channel=f"C_{n}") for n in range(20)]
    started = time.perf_counter()
    results = await asyncio.gather(*(c.says("How do I reset my password?") for c in others))
    seconds = time.perf_counter() - started
    assert all(r.status == "processed" for r in results)
    assert not slow.done() and seconds < DEADLINE / 2, seconds  # nobody waited for the others' CRM
    assert all(r.status == "processed" for r in await slow)


async def test_after_repeated_failures_the_breaker_stops_asking(app, hubspot):
    hubspot.fail("/crm", 503, times=1000)
    for n in range(6):
        customer = Customer(app, app.clock, user=f"U_{n}", account=f"{90_000 + n}")
        await customer.says("where can I find my invoice?")
    asked = len(hubspot.requests("/crm"))
    result, seconds = await _timed(Customer(app, app.clock, user="U_NEW", account="99999"), "my invoice?")
    assert result.status == "processed" and seconds < 0.5
    assert len(hubspot.requests("/crm")) == asked  # the breaker is open: not asked at all
    assert app.core.accounts.health().open_until is not None
