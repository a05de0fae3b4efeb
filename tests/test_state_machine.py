"""The conversation state machine: transitions refuse invalid moves and return events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from supportbot.bot.commands import Actor, ApproveDraft, ResolveConversation
from supportbot.bot.domain import (
    Citation,
    Conversation,
    ConversationStatus,
    Draft,
    DraftStatus,
    Handoff,
    HandoffStatus,
    OutboundKind,
    Role,
)
from supportbot.bot.errors import Conflict
from supportbot.bot.events import (
    CustomerReturned,
    DraftApproved,
    DraftSuperseded,
    HandedOff,
    HandoffClaimed,
    Reopened,
    Resolved,
)
from tests.conftest import Customer

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
AGENT = Actor("U_AGENT", Role.AGENT, "Sam")


def conversation() -> Conversation:
    return Conversation("conv_1", "test", "W1", "C1", "100.1", "U1", None, T0, T0)


def draft() -> Draft:
    return Draft("draft_1", "conv_1", "dec_1", "Go to Settings.", (Citation("Docs", "https://x", "a"),), T0)


def test_hand_off_supersedes_pending_drafts_and_refuses_a_second_hand_off():
    conv, pending = conversation(), draft()
    handoff, events = conv.hand_off("urgent", T0, key="m1", pending_drafts=[pending])
    assert [type(e) for e in events] == [DraftSuperseded, HandedOff]
    assert pending.status is DraftStatus.SUPERSEDED and not conv.bot_handled
    with pytest.raises(Conflict, match="out of date"):
        pending.approve("U_AGENT", "Sam", T0)
    with pytest.raises(Conflict, match="already with a person"):
        conv.hand_off("again", T0, key="m2", open_handoffs=[handoff])


def test_draft_decisions_happen_once():
    d = draft()
    (approved,) = d.approve("U_AGENT", "Sam", T0, "Go to Settings → Billing.")
    assert isinstance(approved, DraftApproved) and approved.edited and d.status is DraftStatus.EDITED
    for move in (lambda: d.approve("U2", "Kim", T0), lambda: d.reject("U2", "Kim", T0, "no", None)):
        with pytest.raises(Conflict, match="already edited by U_AGENT"):
            move()
    with pytest.raises(Conflict):
        d.supersede("late", T0)


def test_claim_resolve_reopen():
    conv = conversation()
    handoff = Handoff("hand_1", conv.id, "why", T0)
    (claimed,) = conv.claim(handoff, "U_AGENT", "Sam", T0)
    assert isinstance(claimed, HandoffClaimed) and conv.assignee_id == "U_AGENT"
    assert conv.claim(handoff, "U_AGENT", "Sam", T0) == []  # the same person again: nothing new
    with pytest.raises(Conflict, match="already claimed by U_AGENT"):
        conv.claim(handoff, "U_OTHER", "Kim", T0)
    (resolved,) = conv.resolve(T0, by_id="U_AGENT", by_name="Sam", open_handoffs=[handoff])
    assert isinstance(resolved, Resolved) and handoff.status is HandoffStatus.RESOLVED
    with pytest.raises(Conflict, match="already resolved"):
        conv.resolve(T0, by_id="U_AGENT", by_name="Sam", open_handoffs=[])
    with pytest.raises(Conflict):
        conv.claim(handoff, "U_AGENT", "Sam", T0)
    later = T0 + timedelta(hours=1)
    (reopened,) = conv.customer_wrote(later)
    assert isinstance(reopened, Reopened) and reopened.resolved_at == T0
    assert conv.status is ConversationStatus.OPEN and conv.resolved_at is None
    with pytest.raises(Conflict):
        conv.reopen(later)


def test_waiting_on_the_customer_ends_when_they_write():
    conv = conversation()
    assert conv.wait_on_customer(T0) == [] and conv.status is ConversationStatus.WAITING_ON_CUSTOMER
    assert [type(e) for e in conv.customer_wrote(T0)] == [CustomerReturned]
    assert conv.status is ConversationStatus.OPEN
    conv.resolve(T0, by_id="U", by_name="U", open_handoffs=[])
    conv.wait_on_customer(T0)  # a late reply after resolution leaves it resolved
    assert conv.status is ConversationStatus.RESOLVED


async def test_a_follow_up_that_needs_a_person_supersedes_the_pending_draft(app, clock, channel, uow_factory):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    drafted = await bob.says("where can I find my invoice?")
    urgent = await bob.says("none of our users can log in, it's down", thread="U_BOB-1")
    assert urgent.decision.action.value == "handoff"
    with uow_factory() as uow:
        assert uow.drafts.get(drafted.draft_id).status is DraftStatus.SUPERSEDED
    (card,) = [o for o, _ in channel.sent if o.kind is OutboundKind.CARD_UPDATE and "Superseded" in o.text]
    assert card.payload["card"]["buttons"] == []  # the stale card has nothing left to press
    with pytest.raises(Conflict, match="out of date"):
        await app.commands.execute(ApproveDraft(drafted.draft_id, AGENT))
    answers = channel.texts(audience="customer", kind=OutboundKind.AGENT_REPLY)
    assert answers == []  # the old knowledge-base quote never follows "I've passed this to our team"


async def test_two_ratings_at_the_same_instant_store_one(tmp_path, clock):
    """Real threads on a real SQLite file: the database's claim decides, not the event loop."""
    from supportbot.adapters.bootstrap import bootstrap
    from supportbot.adapters.settings import load_settings
    from supportbot.bot.knowledge import MarkdownKnowledgeBase
    from supportbot.storage import SqlUnitOfWorkFactory, upgrade
    from tests.conftest import ACCOUNTS, write_kb
    from tests.fakes.core import FakeChannel, FakeClassifier, FakeCRM

    url = f"sqlite:///{tmp_path / 'rate.db'}"
    upgrade(url)
    settings = load_settings(database_url=url, kb_dir=write_kb(tmp_path / "kb"))
    replicas = [
        bootstrap(
            settings,
            uow=SqlUnitOfWorkFactory(url),
            classifier=FakeClassifier(),
            kb=MarkdownKnowledgeBase(settings.kb_dir),
            crm=FakeCRM(ACCOUNTS),
            clock=clock,
            channels=(FakeChannel("test"),),
            migrate=False,
        )
        for _ in range(2)
    ]
    first = await Customer(replicas[0], clock).says("How do I download my invoice?")
    await replicas[0].commands.execute(ResolveConversation(first.conversation_id, AGENT))
    outcomes = await asyncio.gather(
        *(r.core.actions.rate(first.conversation_id, "5", "U_ALICE") for r in replicas for _ in range(3))
    )
    assert sorted(o.ok for o in outcomes) == [False] * 5 + [True]
    assert all("already rated" in o.message for o in outcomes if not o.ok)
    with replicas[0].uow() as uow:
        assert len(uow.actions.list(action="csat")) == 1
    for replica in replicas:
        replica.core.db.close()
