"""CRM context in the core: background refresh of recent copies, "CRM unavailable" in the packet, /support health."""

from __future__ import annotations

from dataclasses import replace

from supportbot.bot.commands import Actor
from supportbot.bot.domain import OutboundKind, Role
from tests.conftest import ACCOUNTS

MANAGER = Actor("U_BOSS", "Boss", Role.MANAGER)


def cards(channel, kind):
    return [o.payload["card"] for o, _ in channel.sent if o.kind is kind and "card" in o.payload]


async def test_a_recent_copy_is_used_at_once_and_refreshed_in_the_background(app, alice, crm, clock):
    await alice.says("How do I download my invoice?")
    assert crm.lookups == 1
    clock.advance(seconds=0.85 * app.settings.crm_cache_seconds)  # past the refresh point, before expiry
    crm.accounts[0] = replace(ACCOUNTS[0], name="Small Co (renamed)")
    await alice.says("And how do I reset my password?", thread="U_ALICE-1")
    await app.core.accounts.drain()
    assert crm.lookups == 2  # refreshed once, in the background
    cached = await app.core.db.read(lambda uow: uow.accounts.get("id:acc_small"))
    assert cached[0].name == "Small Co (renamed)" and cached[1] == clock.now()
    await alice.says("one more thing about webhooks", thread="U_ALICE-1")
    await app.core.accounts.drain()
    assert crm.lookups == 2  # the refreshed copy is fresh again: nobody asks


async def test_the_packet_says_when_the_crm_was_unavailable(app, alice, crm, channel):
    crm.broken = True
    await alice.says("My dashboard shows wrong numbers and nobody can explain it, what is going on")
    packets = cards(channel, OutboundKind.MIRROR_OPEN)
    fields = {f["label"]: f["value"] for f in packets[0]["fields"]}
    assert fields["Account"] == "unknown (the CRM was unavailable)"


async def test_a_cached_account_is_marked_stale_when_the_crm_is_down(app, alice, crm, channel, clock):
    await alice.says("How do I download my invoice?")
    clock.advance(seconds=app.settings.crm_cache_seconds + 1)
    crm.broken = True
    await alice.says("Is there a Tableau connector for our BI team please?")
    fields = {f["label"]: f["value"] for f in cards(channel, OutboundKind.MIRROR_OPEN)[-1]["fields"]}
    assert fields["Account"].startswith("Small Co") and fields["CRM"] == "unavailable: showing the last cached copy"


async def test_support_help_shows_the_crm_health(app, alice, crm, clock):
    reply = await app.core.support.run(MANAGER, "")
    assert "CRM: ok (not asked yet)" in reply.text
    await alice.says("How do I download my invoice?")
    clock.advance(minutes=3)
    assert "CRM: ok (last success 3 min ago)" in (await app.core.support.run(MANAGER, "help")).text
    crm.broken = True
    clock.advance(seconds=app.settings.crm_cache_seconds)
    await alice.says("How do I download my invoice again?")
    text = (await app.core.support.run(MANAGER, "help")).text
    assert "CRM: failing (1 in a row)" in text and "last error ConnectionError 0 s ago" in text
