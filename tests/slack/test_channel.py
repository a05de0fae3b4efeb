"""SlackChannel against the fake Web API: mentions, refusals, error mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from supportbot.adapters.slack.channel import SlackChannel
from supportbot.bot.domain import Audience, Delivery, Outbound, OutboundKind
from supportbot.bot.errors import DeliveryError, RateLimited
from tests.slack.conftest import SHARED, TRIAGE


def _out(kind: OutboundKind, audience: Audience, text: str, **payload) -> Outbound:
    return Outbound(
        id="out_1",
        platform="slack",
        audience=audience,
        kind=kind,
        text=text,
        dedupe_key="k",
        created_at=datetime.now(UTC),
        conversation_id=None,
        payload=payload,
    )


@pytest.fixture
def channel(fake_slack):
    return SlackChannel(TRIAGE, client=AsyncWebClient(token="xoxb-t", base_url=fake_slack.api_url))


async def test_sla_notice_mentions_become_slack_mentions(channel, fake_slack):
    out = _out(
        OutboundKind.NOTICE,
        Audience.STAFF,
        "🚨 SLA escalation: @U_AGENT @<!here> please take this.",
        mentions=["U_AGENT", "<!here>"],
    )
    ts = await channel.send(out, Delivery("T_OURS", None, "1700000000.000001"))
    [post] = fake_slack.posts(TRIAGE)
    assert ts and post["thread_ts"] == "1700000000.000001"
    assert "<@U_AGENT>" in post["text"] and "<!here>" not in post["text"]


async def test_staff_kinds_are_never_posted_to_a_customer(channel, fake_slack):
    for kind in (
        OutboundKind.DRAFT_REVIEW,
        OutboundKind.NOTICE,
        OutboundKind.RELAY,
        OutboundKind.MIRROR_OPEN,
        OutboundKind.HANDOFF,
    ):
        with pytest.raises(DeliveryError) as info:
            await channel.send(_out(kind, Audience.CUSTOMER, "draft text"), Delivery("T", SHARED, "1.0"))
        assert info.value.permanent
    with pytest.raises(DeliveryError):  # a customer audience never goes to the triage channel either
        await channel.send(_out(OutboundKind.ANSWER, Audience.CUSTOMER, "x"), Delivery("T", TRIAGE, "1.0"))
    assert fake_slack.posts() == []


async def test_error_mapping(channel, fake_slack):
    answer = _out(OutboundKind.ANSWER, Audience.CUSTOMER, "hello")
    where = Delivery("T", SHARED, "1.0")
    fake_slack.fail("chat.postMessage", 429, retry_after=7)
    with pytest.raises(RateLimited) as limited:
        await channel.send(answer, where)
    assert limited.value.retry_after == 7
    fake_slack.fail("chat.postMessage", 502)
    with pytest.raises(DeliveryError) as transient:
        await channel.send(answer, where)
    assert not transient.value.permanent and not isinstance(transient.value, RateLimited)
    for error in ("channel_not_found", "not_in_channel", "is_archived"):
        fake_slack.fail("chat.postMessage", 200, error=error)
        with pytest.raises(DeliveryError) as permanent:
            await channel.send(answer, where)
        assert permanent.value.permanent, error
    fake_slack.fail("reactions.add", 200, error="already_reacted")
    reaction = _out(OutboundKind.REACTION, Audience.CUSTOMER, "eyes", emoji="eyes")
    assert await channel.send(reaction, Delivery("T", SHARED, "1.0", "1.0")) is None


async def test_a_post_can_be_found_again_by_its_outbound_id(channel, fake_slack):
    """After a crash between posting and recording, the dispatcher asks before posting again."""
    answer = _out(OutboundKind.ANSWER, Audience.CUSTOMER, "Settings → Billing.")
    thread = Delivery("T", SHARED, "1700000000.000001")
    assert await channel.already_sent(answer, thread) is None
    ts = await channel.send(answer, thread)
    assert await channel.already_sent(answer, thread) == ts
    other = _out(OutboundKind.ANSWER, Audience.CUSTOMER, "Settings → Billing.")
    other.id = "out_2"
    assert await channel.already_sent(other, thread) is None  # the same words are not the same post
    mirror = _out(OutboundKind.MIRROR_OPEN, Audience.STAFF, "New question from Alice")
    mirror.id = "out_3"
    ts = await channel.send(mirror, Delivery("T", None, None))
    assert await channel.already_sent(mirror, Delivery("T", None, None)) == ts  # top level in triage


REPLY = (
    "**The reset email did not arrive**\n\nWait 5 minutes & check *spam*; run `mail --test`.\n\n"
    "Source: [Resetting your password › The reset email did not arrive](https://docs.example/reset#the-reset)"
)


async def test_markdown_replies_are_posted_as_slack_mrkdwn(channel, fake_slack):
    answer = _out(OutboundKind.ANSWER, Audience.CUSTOMER, REPLY, format="markdown")
    await channel.send(answer, Delivery("T", SHARED, "1700000000.000001"))
    [post] = fake_slack.posts(SHARED)
    text = post["text"]
    assert text.startswith("*The reset email did not arrive*") and "**" not in text
    assert "&amp; check _spam_" in text and "`mail --test`" in text
    assert "<https://docs.example/reset#the-reset|Resetting your password › The reset email did not arrive>" in text
    assert text.count("https://docs.example/reset") == 1 and not text.lstrip().startswith(">")


async def test_plain_text_is_escaped_not_rendered(channel, fake_slack):
    reply = _out(OutboundKind.AGENT_REPLY, Audience.CUSTOMER, "use **bold** <@U1> & more")
    await channel.send(reply, Delivery("T", SHARED, "1700000000.000001"))
    [post] = fake_slack.posts(SHARED)
    assert post["text"] == "use **bold** &lt;@U1&gt; &amp; more"
