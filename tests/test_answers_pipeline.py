"""Answers through the whole pipeline: retrieval first, replies from passages, the optional LLM composer.

The core is built by the composition root; the LLM runs against the project's fake
OpenAI-compatible server on 127.0.0.1 (tests/llm/fake_openai.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from supportbot.adapters.bootstrap import bootstrap
from supportbot.adapters.cli import main
from supportbot.adapters.settings import load_settings
from supportbot.bot.domain import Action, Audience, OutboundKind
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from tests.conftest import Customer
from tests.fakes.core import FakeChannel, FakeClassifier, FakeClock, FakeCRM
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory
from tests.llm.fake_openai import FakeOpenAI, Reply

PARCELWISE = Path(__file__).resolve().parents[1] / "bench" / "data" / "parcelwise_kb"


def write_support_kb(folder: Path) -> Path:
    """Articles without intents, one with an internal section."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reset-password.md").write_text(
        "---\ntitle: Resetting your password\nurl: https://docs.example/reset-password\n---\n"
        "Click Forgot password on the login page and follow the link we email you.\n\n"
        "## The reset email did not arrive\n\n"
        "Wait 5 minutes, check spam, and ask IT to allow-list mail from no-reply@docs.example.\n\n"
        "## For support agents\n\n"
        "Check the mail log before escalating (AGENT-ONLY-7731).\n"
    )
    (folder / "invoices.md").write_text(
        "---\ntitle: Invoices\nurl: https://docs.example/invoices\n---\n"
        "Download invoices under Settings → Billing → Invoices; each has a PDF and a receipt.\n"
    )
    return folder


def runtime(tmp_path: Path, kb_dir: Path, channel: FakeChannel, **settings: object):
    config = load_settings(database_url="sqlite://", kb_dir=kb_dir, **settings)
    return bootstrap(
        config,
        uow=InMemoryUnitOfWorkFactory(),
        classifier=FakeClassifier(),  # knows none of these articles: every intent is out of scope here
        kb=MarkdownKnowledgeBase(kb_dir),
        crm=FakeCRM([]),
        clock=FakeClock(),
        channels=(channel,),
    )


def customer_posts(channel: FakeChannel) -> list:
    return [o for o, _ in channel.sent if o.audience is Audience.CUSTOMER and o.kind is not OutboundKind.REACTION]


async def test_a_kb_without_intents_still_answers_from_the_passage_that_answers(tmp_path):
    channel = FakeChannel("test")
    app = runtime(tmp_path, write_support_kb(tmp_path / "kb"), channel)
    alice = Customer(app, FakeClock(), account=None)
    result = await alice.says("The reset email never arrives, I already checked my spam folder")
    assert result.decision.action in (Action.ANSWER, Action.DRAFT), result.decision
    assert result.decision.rule.startswith("retrieval_")
    (citation,) = result.citations
    assert (citation.article_id, citation.section) == ("reset-password", "The reset email did not arrive")
    assert result.composer == "extractive"
    assert "allow-list" in result.reply and "AGENT-ONLY" not in result.reply
    assert not any(line.lstrip().startswith(">") for line in result.reply.splitlines())
    assert result.reply.count("https://docs.example/reset-password") == 1
    trace = result.decision.reply
    assert trace["composer"] == "extractive" and trace["section"] == "The reset email did not arrive"
    assert trace["passages"][0]["article_id"] == "reset-password"


async def test_a_question_the_kb_does_not_answer_is_handed_off(tmp_path):
    channel = FakeChannel("test")
    app = runtime(tmp_path, write_support_kb(tmp_path / "kb"), channel)
    result = await Customer(app, FakeClock(), account=None).says("Can you recommend a good pizza place in Lisbon?")
    assert result.decision.action is Action.HANDOFF and result.decision.rule == "out_of_scope"
    assert result.citations == () and result.composer is None
    assert "no knowledge-base passage answers it" in result.decision.reason


async def test_answers_and_drafts_are_sent_as_markdown_with_their_sections(tmp_path):
    channel = FakeChannel("test")
    app = runtime(tmp_path, PARCELWISE, channel)
    alice = Customer(app, FakeClock(), account=None)
    result = await alice.says("my carrier account connection fails with CARRIER_AUTH_FAILED, what do I do?")
    assert result.decision.action is not Action.HANDOFF, result.decision
    assert result.citations[0].article_id == "carrier-accounts"
    if result.decision.action is Action.ANSWER:
        (answer,) = [o for o in customer_posts(channel) if o.kind is OutboundKind.ANSWER]
        assert answer.payload["format"] == "markdown" and answer.payload["composer"] == "extractive"
        assert answer.payload["citations"][0]["section"] == result.citations[0].section
    else:
        (review,) = [o for o, _ in channel.sent if o.kind is OutboundKind.DRAFT_REVIEW]
        assert review.payload["format"] == "markdown"


async def test_the_stored_decision_keeps_how_the_reply_was_built(tmp_path):
    channel = FakeChannel("test")
    app = runtime(tmp_path, write_support_kb(tmp_path / "kb"), channel)
    result = await Customer(app, FakeClock(), account=None).says("The reset email never arrives, checked spam")
    stored = await app.core.db.read(lambda uow: uow.decisions.for_conversation(result.conversation_id))
    assert stored[-1].decision.reply["section"] == "The reset email did not arrive"


# ----------------------------------------------------------------------------- the LLM composer


@pytest.fixture
async def llm_app(tmp_path, fake_llm: FakeOpenAI):
    channel = FakeChannel("test")
    app = runtime(
        tmp_path,
        write_support_kb(tmp_path / "kb"),
        channel,
        llm_url=fake_llm.url,
        llm_model="tiny-model",
        llm_timeout=2.0,
        policy={"retrieval_answer_score": 0.0},  # every passage answer is automatic: the composer decides
    )
    return app, channel


async def test_with_a_model_server_every_answer_is_composed_and_traced(llm_app, fake_llm):
    app, channel = llm_app
    fake_llm.script(Reply(content="Wait 5 minutes, check spam, then ask IT to allow-list our address [1]."))
    result = await Customer(app, FakeClock(), account=None).says("The reset email never arrives, checked spam")
    assert result.decision.action is Action.ANSWER and result.composer == "llm"
    assert result.citations[0].section == "The reset email did not arrive"
    llm = result.decision.reply["llm"]
    assert llm["model"] == "tiny-model" and llm["total_tokens"] == 366 and llm["latency_ms"] > 0
    prompt = json.dumps(fake_llm.requests[0])
    assert "AGENT-ONLY-7731" not in prompt  # internal sections never enter a prompt
    (answer,) = [o for o in customer_posts(channel) if o.kind is OutboundKind.ANSWER]
    assert answer.payload["composer"] == "llm" and "[1]" not in answer.text


async def test_a_composed_reply_without_citation_is_a_draft_never_sent(llm_app, fake_llm):
    app, channel = llm_app
    fake_llm.script(Reply(content="Just wait a bit, it will come."))
    result = await Customer(app, FakeClock(), account=None).says("The reset email never arrives, checked spam")
    assert result.decision.action is Action.DRAFT
    assert result.decision.rule == "composed_reply_needs_review"
    assert "cites no passage" in result.decision.reason
    assert [o for o in customer_posts(channel) if o.kind is OutboundKind.ANSWER] == []


async def test_an_invented_citation_is_a_draft(llm_app, fake_llm):
    app, _ = llm_app
    fake_llm.script(Reply(content="Check spam [7]."))
    result = await Customer(app, FakeClock(), account=None).says("The reset email never arrives, checked spam")
    assert result.decision.action is Action.DRAFT and "[7]" in result.decision.reason


async def test_a_model_server_that_times_out_falls_back_to_the_extractive_reply(llm_app, fake_llm):
    app, _ = llm_app
    fake_llm.script(Reply(delay=5.0))
    result = await Customer(app, FakeClock(), account=None).says("The reset email never arrives, checked spam")
    assert result.decision.action is Action.ANSWER and result.composer == "extractive"
    assert "timeout" in result.decision.reply["fallback_reason"].lower()
    assert len(fake_llm.requests) == 1  # a timeout is never retried


async def test_a_failing_model_server_falls_back_after_two_retries(llm_app, fake_llm):
    app, _ = llm_app
    fake_llm.script(*(Reply(status=503, headers={"Retry-After": "0"}) for _ in range(3)))
    result = await Customer(app, FakeClock(), account=None).says("The reset email never arrives, checked spam")
    assert result.composer == "extractive" and len(fake_llm.requests) == 3
    assert "allow-list" in result.reply


async def test_hand_offs_never_call_the_model(llm_app, fake_llm):
    app, _ = llm_app
    result = await Customer(app, FakeClock(), account=None).says("Can you recommend a good pizza place in Lisbon?")
    assert result.decision.action is Action.HANDOFF and fake_llm.requests == []


def test_ask_json_reports_the_section_and_the_composer(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_KB_DIR", str(write_support_kb(tmp_path / "kb")))
    result = CliRunner().invoke(main, ["ask", "The reset email never arrives, I checked spam", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert data["composer"] == "extractive"
    assert data["citations"][0]["section"] == "The reset email did not arrive"
    assert set(data["citations"][0]) == {"title", "url", "article_id", "section"}


async def test_internal_notes_reach_staff_cards_and_never_the_customer(tmp_path):
    channel = FakeChannel("test")
    app = runtime(tmp_path, write_support_kb(tmp_path / "kb"), channel)
    await Customer(app, FakeClock(), account=None).says("The reset email never arrives, I already checked spam")
    staff = [o for o, _ in channel.sent if o.audience is not Audience.CUSTOMER]
    assert any("AGENT-ONLY-7731" in json.dumps(o.payload) for o in staff)
    assert all("AGENT-ONLY-7731" not in o.text + json.dumps(o.payload) for o in customer_posts(channel))
