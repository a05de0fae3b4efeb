"""``supportbot chat``: the terminal channel and its agent commands over the same core."""

from __future__ import annotations

import io

import pytest

from supportbot.adapters.bootstrap import bootstrap
from supportbot.adapters.settings import load_settings
from supportbot.adapters.terminal import TerminalChannel, chat_loop
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from tests.conftest import ACCOUNTS, write_kb
from tests.fakes.core import FakeClassifier, FakeClock, FakeCRM
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory


@pytest.fixture
def terminal(tmp_path):
    out = io.StringIO()
    settings = load_settings(database_url="sqlite://", kb_dir=write_kb(tmp_path / "kb"))
    app = bootstrap(
        settings,
        uow=InMemoryUnitOfWorkFactory(),
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        crm=FakeCRM(ACCOUNTS),
        clock=FakeClock(),
        channels=(TerminalChannel(out),),
    )
    return app, out


async def _run(app, out, script):
    """Feed the lines ``script`` yields; it may look at the database between lines."""
    await chat_loop(app, "acc_big", "Bob", script(), out)
    return out.getvalue()


async def test_a_stale_draft_cannot_be_approved_from_the_terminal(terminal):
    app, out = terminal

    async def script():
        yield "where can I find my invoice?"  # enterprise: a draft for an agent
        with app.uow() as uow:
            (draft,) = uow.drafts.list()
        yield "forget it, none of our users can log in, it's down"  # a person is needed now
        yield f"/approve {draft.id}"

    text = await _run(app, out, script)
    assert "Draft reply awaiting approval" in text
    assert "Superseded" in text  # the stale card says so
    assert "[agent] this draft is out of date" in text
    with app.uow() as uow:
        assert [m for m in uow.messages.list() if m.kind.value == "agent_reply"] == []


async def test_a_customer_rates_once_from_the_terminal(terminal):
    app, out = terminal

    async def script():
        yield "none of our users can log in, it's down"
        with app.uow() as uow:
            (handoff,) = uow.handoffs.list()
        yield f"/resolve {handoff.id}"
        yield "5"  # the answer to "How did we do?"
        yield "/approve nothing"  # an agent command with a bad id: a clear message, the loop goes on

    text = await _run(app, out, script)
    assert "How did we do?" in text and "[agent] no draft nothing" in text.lower()
    with app.uow() as uow:
        (rating,) = uow.actions.list(action="csat")
        assert rating.detail["score"] == 5
        (conv,) = uow.conversations.list()
    outcome = await app.core.actions.rate(conv.id, "1", conv.customer_id)  # a later click: refused
    assert not outcome.ok and "already rated" in outcome.message


async def test_an_agent_claims_notes_replies_and_resolves_from_the_terminal(terminal):
    app, out = terminal
    seen: dict[str, object] = {}

    async def script():
        yield "/reply too early"  # no conversation yet: said so, nothing sent
        yield "none of our users can log in, it's down"  # critical: handed off
        yield "/claim"  # this conversation's open hand-off
        with app.uow() as uow:
            (handoff,) = uow.handoffs.list()
            seen["claimed"] = handoff.status.value
        yield "/note checking the SSO logs first"
        yield "/reply We are on it, an update within 10 minutes."
        yield "/resolve"

    text = await _run(app, out, script)
    assert "[agent] no conversation yet" in text
    assert seen["claimed"] == "claimed"
    assert "[agent] Claimed." in text and "/reply TEXT answers the customer" in text
    assert "[agent] Internal note saved" in text
    assert "Terminal agent> We are on it, an update within 10 minutes." in text  # the customer's side
    assert "Terminal agent> checking" not in text  # a note never reaches the customer
    assert "[agent] Resolved." in text
    with app.uow() as uow:
        (conv,) = uow.conversations.list()
        assert conv.status.value == "resolved" and conv.assignee_id == "agent-terminal"
        kinds = [m.kind.value for m in uow.messages.for_conversation(conv.id)]
        assert kinds.count("internal_note") == 1
        from supportbot.bot.context import latest_packet

        # stored twice (as written in the staff thread, as delivered), one transcript entry
        assert kinds.count("agent_reply") == 2
        replies = [m for m in latest_packet(uow, conv).transcript if m.kind.value == "agent_reply"]
        assert [m.text for m in replies] == ["We are on it, an update within 10 minutes."]
        assert replies[0].channel_id == conv.channel_id  # the copy the customer got


async def test_terminal_help_and_unknown_commands(terminal):
    app, out = terminal

    async def script():
        yield "/help"
        yield "/frobnicate now"
        yield "/reply"
        yield "/claim"  # no conversation yet

    text = await _run(app, out, script)
    for command in ("/reply TEXT", "/note TEXT", "/claim [HANDOFF]", "/resolve [ID]", "/approve DRAFT", "/help"):
        assert command in text
    assert "unknown command /frobnicate" in text
    assert "usage: /reply TEXT" in text
    assert "[agent] no conversation yet" in text
    with app.uow() as uow:
        assert uow.conversations.list() == [] and uow.actions.list() == []


async def test_a_reply_in_a_conversation_without_a_hand_off(terminal):
    app, out = terminal

    async def script():
        yield "where can I find my invoice?"  # enterprise: a draft
        yield "/claim"
        yield "/reply Hi Bob, Settings → Billing → Invoices."

    text = await _run(app, out, script)
    assert "[agent] this conversation has no open hand-off" in text
    assert "Terminal agent> Hi Bob, Settings → Billing → Invoices." in text
