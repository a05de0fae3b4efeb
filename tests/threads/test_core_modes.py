"""Per-channel modes and mentions in the core, with our own fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from supportbot.bot.commands import Actor, ResolveConversation
from supportbot.bot.domain import Audience, Author, InboundMessage, OutboundKind, Role
from supportbot.bot.metrics import compute_stats
from tests.conftest import Customer

AGENT = Actor("U_AGENT", Role.AGENT, "Sam")
MANAGER = Actor("U_MANAGER", Role.MANAGER, "Morgan")


def customer_side(channel) -> list:
    return [o for o, _ in channel.sent if o.audience is Audience.CUSTOMER]


def agent_reply(thread: str, text: str, n: int = 1) -> InboundMessage:
    from datetime import UTC, datetime

    return InboundMessage(
        "test",
        "W1",
        "C_SHARED",
        f"agent-{n}",
        Author("U_AGENT", "Sam", Role.AGENT),
        text,
        datetime(2026, 11, 26, 9, 5, tzinfo=UTC),
        thread_id=thread,
    )


async def test_off_ignores_the_channel_entirely(make_app, clock, channel, uow_factory):
    app = make_app(channel_modes={"C_SHARED": "off"})
    alice = Customer(app, clock)
    for text in ("How do I download my invoice?", "hi", "none of our users can log in since 9am"):
        result = await alice.says(text)
        assert result.status == "ignored"
    assert channel.sent == []
    with uow_factory() as uow:
        assert uow.conversations.list() == []


async def test_draft_only_turns_every_answer_into_a_draft(make_app, clock, channel):
    app = make_app(channel_modes={"C_SHARED": "draft-only"})
    result = await Customer(app, clock).says("How do I download my invoice?")
    assert result.decision.action.value == "draft" and result.decision.rule == "draft_only_channel"
    assert [o.kind for o in customer_side(channel) if o.kind is OutboundKind.ANSWER] == []
    assert [o.kind for o, _ in channel.sent if o.kind is OutboundKind.DRAFT_REVIEW]


async def test_a_mention_in_draft_only_is_answered_and_a_mentioned_greeting_is_a_request(make_app, clock, channel):
    app = make_app(channel_modes={"C_SHARED": "draft-only"})
    alice = Customer(app, clock)
    result = await app.core.handle_inbound(replace(alice.message("How do I download my invoice?"), mentions_bot=True))
    assert result.decision.action.value == "answer"
    clock.advance(seconds=1)
    hello = await app.core.handle_inbound(replace(alice.message("hello"), mentions_bot=True))
    assert hello.status == "processed" and hello.conversation_id  # a request, not noise


async def test_a_mention_never_joins_the_previous_conversation(app, alice, clock):
    first = await alice.says("hey, a question about billing")  # no reply yet within the window...
    mentioned = await app.core.handle_inbound(replace(alice.message("How do I reset my password?"), mentions_bot=True))
    assert mentioned.conversation_id != first.conversation_id  # ...but a mention is a request of its own


async def test_shadow_posts_nothing_to_customers_and_shows_staff_what_it_would_send(make_app, clock, channel):
    app = make_app(channel_modes={"C_SHARED": "shadow"})
    alice = Customer(app, clock)
    answer = await alice.says("How do I download my invoice?")
    clock.advance(minutes=5)  # nobody replied where the customer reads: only the window separates questions
    outage = await alice.says("none of our users can log in since 9am")
    clock.advance(minutes=5)
    await alice.says("hi")
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    draft = await bob.says("where can I find my invoice?")
    await app.commands.execute(ResolveConversation(answer.conversation_id, AGENT))
    await app.core.dispatch_outbox()
    assert customer_side(channel) == []  # no answer, ack, reaction, prompt or CSAT
    notices = [o for o, _ in channel.sent if o.payload.get("shadow")]
    assert [n.payload["action"] for n in notices] == ["answer", "handoff", "draft"]
    assert "Settings → Billing → Invoices" in notices[0].text and "would have answered" in notices[0].text
    with app.core.uow() as uow:
        records = uow.decisions.list()
        assert all(r.shadow for r in records) and len(records) == 3
        assert uow.handoffs.list() == [] and uow.drafts.list() == []
    opened = {answer.conversation_id, outage.conversation_id, draft.conversation_id}
    assert len(opened) == 3 and opened == {r.conversation_id for r in records}
    assert len([o for o, _ in channel.sent if o.kind is OutboundKind.MIRROR_OPEN]) == 3


async def test_shadow_agreement_is_measured_from_the_agents_own_reply_and_reported_apart(make_app, clock, channel):
    app = make_app(channel_modes={"C_SHARED": "shadow"})
    alice = Customer(app, clock)
    first = await alice.says("How do I download my invoice?")
    await app.core.handle_inbound(
        agent_reply("U_ALICE-1", "See https://docs.example.com/download-invoices for the PDFs.")
    )
    clock.advance(seconds=30)  # the agent replied: a new question is a new conversation
    second = await alice.says("How do I reset my password?")
    await app.core.handle_inbound(agent_reply("U_ALICE-2", "Let me check with the team about refunds.", n=2))
    await app.core.handle_inbound(agent_reply("U_ALICE-2", "https://docs.example.com/download-invoices", n=3))
    with app.core.uow() as uow:
        by_conv = {r.conversation_id: r.shadow_agreement for r in uow.decisions.list()}
        stats = compute_stats(uow, clock.now() - timedelta(days=1), clock.now() + timedelta(minutes=1))
    assert by_conv[first.conversation_id] == "article"
    assert by_conv[second.conversation_id] == "none"  # the first reply counts
    assert stats.volume == 0 and stats.answered_by_bot == 0  # shadow conversations are reported apart
    assert (stats.shadow_decisions, stats.shadow_answers, stats.shadow_compared, stats.shadow_agreed) == (2, 2, 2, 1)
    assert stats.shadow_agreement_rate == 0.5
    assert stats.to_dict()["shadow"]["agreement_rate"] == 0.5
    from supportbot.bot.metrics import compute_metrics
    from supportbot.bot.report import render_html

    with app.core.uow() as uow:
        metrics = compute_metrics(uow, clock.now() - timedelta(days=1), clock.now() + timedelta(minutes=1))
    html = render_html(metrics)
    assert "Shadow mode: agents agreed" in html and "2 shadow decisions" in html
    assert customer_side(channel) == []


async def test_support_mode_is_for_managers_and_takes_effect_at_once(app, alice, clock, channel):
    refused = await app.core.support.run(AGENT, "mode C_SHARED shadow")
    assert not refused.ok and "managers" in refused.text
    listed = await app.core.support.run(AGENT, "mode")
    assert listed.ok and "auto" in listed.text
    bad = await app.core.support.run(MANAGER, "mode C_SHARED loud")
    assert not bad.ok and "draft-only" in bad.text
    done = await app.core.support.run(MANAGER, "mode <#C_SHARED|small-co> shadow")
    assert done.ok and "shadow mode" in done.text, done.text
    assert "C_SHARED" in (await app.core.support.run(MANAGER, "mode")).text
    await alice.says("How do I download my invoice?")
    assert customer_side(channel) == []
    assert (await app.core.support.run(MANAGER, "mode C_SHARED off")).ok
    clock.advance(seconds=200)
    assert (await alice.says("How do I reset my password?")).status == "ignored"
    assert (await app.core.support.run(MANAGER, "mode C_SHARED auto")).ok
    clock.advance(seconds=200)
    await alice.says("How do I reset my password?")
    assert [o.kind for o in customer_side(channel)]
