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
