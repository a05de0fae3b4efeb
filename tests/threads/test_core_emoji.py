"""Emoji workflows for agents in the core, with our own fakes."""

from __future__ import annotations

from supportbot.bot.commands import Actor
from supportbot.bot.domain import ConversationStatus, HandoffStatus, OutboundKind, Role
from supportbot.bot.reactions import Reaction

AGENT = Actor("U_AGENT", Role.AGENT, "Sam")
CUSTOMER = Actor("U_ALICE", Role.CUSTOMER, "Alice")


def reaction(message_id: str, emoji: str, actor: Actor = AGENT) -> Reaction:
    return Reaction("test", "W1", "C_SHARED", message_id, emoji, actor)


async def test_ticket_opens_a_conversation_from_a_message_skipped_as_noise(app, alice, channel, uow_factory):
    skipped = await alice.says("ok")
    assert skipped.status == "ignored"
    result = await app.core.reactions.react(reaction("U_ALICE-1", "ticket"))
    assert result is not None and result.ok and result.conversation_id
    with uow_factory() as uow:
        (conv,) = uow.conversations.list()
        assert conv.thread_id == "U_ALICE-1"
    again = await app.core.reactions.react(reaction("U_ALICE-1", "ticket"))
    assert again is not None and not again.ok and "already" in again.message


async def test_claim_and_resolve_by_reaction(app, alice, clock, uow_factory):
    asked = await alice.says("How do I download my invoice?")
    claimed = await app.core.reactions.react(reaction("U_ALICE-1", "eyes"))
    assert claimed is not None and claimed.ok
    with uow_factory() as uow:
        (handoff,) = uow.handoffs.list(conversation_id=asked.conversation_id)
        assert handoff.status is HandoffStatus.CLAIMED and handoff.claimed_by == "U_AGENT"
    resolved = await app.core.reactions.react(reaction("U_ALICE-1", "white_check_mark"))
    assert resolved is not None and resolved.ok
    with uow_factory() as uow:
        assert uow.conversations.get(asked.conversation_id).status is ConversationStatus.RESOLVED


async def test_customers_reactions_and_other_emoji_do_nothing(app, alice, channel, uow_factory):
    await alice.says("ok")
    await alice.says("How do I download my invoice?")
    before = list(channel.sent)
    for emoji in ("ticket", "eyes", "white_check_mark"):
        assert await app.core.reactions.react(reaction("U_ALICE-1", emoji, CUSTOMER)) is None
        assert await app.core.reactions.react(reaction("U_ALICE-2", emoji, CUSTOMER)) is None
    assert await app.core.reactions.react(reaction("U_ALICE-2", "tada")) is None
    await app.core.dispatch_outbox()
    assert channel.sent == before
    with uow_factory() as uow:
        assert len(uow.conversations.list()) == 1 and uow.handoffs.list() == []


async def test_emoji_names_are_configurable(make_app, clock, channel, uow_factory):
    from tests.conftest import Customer

    app = make_app(emoji={"ticket": ["bookmark"], "claim": ["raising_hand"]})
    await Customer(app, clock).says("ok")
    assert await app.core.reactions.react(reaction("U_ALICE-1", "ticket")) is None
    opened = await app.core.reactions.react(reaction("U_ALICE-1", "bookmark"))
    assert opened is not None and opened.ok
    claimed = await app.core.reactions.react(reaction("U_ALICE-1", "raising_hand::skin-tone-3"))
    assert claimed is not None and claimed.ok
    await app.core.dispatch_outbox()
    assert [o for o, _ in channel.sent if o.kind is OutboundKind.HANDOFF]
