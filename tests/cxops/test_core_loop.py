"""The CX-ops parts of the core on the conversation-style fixture: relabels that stick, corrections,
the review queue, simulate deciding as the pipeline does, gaps, the KB audit, the weekly summary."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from supportbot.adapters.bootstrap import bootstrap
from supportbot.adapters.playground import views
from supportbot.adapters.settings import load_settings
from supportbot.bot.cards import Card
from supportbot.bot.commands import Actor, RejectDraft, RelabelIntent
from supportbot.bot.domain import OutboundKind, Role
from supportbot.bot.gaps import find_gaps, suggested_title, unanswered
from supportbot.bot.intake import THRESHOLD_PREFIX
from supportbot.bot.kb_audit import audit_kb
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.bot.review import corrections, review_queue, with_corrections
from supportbot.bot.simulate import Ticket, simulate
from tests.conftest import ACCOUNTS, Customer, write_kb
from tests.cxops.gap_topics import DISTRACTORS, TOPICS
from tests.fakes.core import FakeChannel, FakeClassifier, FakeClock, FakeCRM
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory

AGENT = Actor("U_AGENT", Role.AGENT, "Sam")


async def test_a_relabel_sticks_and_corrections_record_what_the_model_said(app, clock, uow_factory, channel):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")  # enterprise: a draft
    drafted = await bob.says("where can I find my invoice?")
    assert drafted.decision.action.value == "draft"
    await app.commands.execute(RejectDraft(drafted.draft_id, AGENT, "they ask about a refund", "refund"))
    with uow_factory() as uow:
        (record,) = uow.classifications.for_conversation(drafted.conversation_id)
        assert (record.classification.intent, record.corrected_intent, record.intent) == ("invoice", "refund", "refund")
        assert uow.conversations.get(drafted.conversation_id).intent == "refund"
        (why,) = views.why(app.core.kb, uow, uow.conversations.get(drafted.conversation_id))
        assert why["classification"]["corrected_intent"] == "refund" and why["classification"]["intent"] == "invoice"
    updates = [o for o, _ in channel.sent if o.kind is OutboundKind.CARD_UPDATE]
    settled = Card.from_dict(updates[-1].payload["card"])
    intent_field = next(f.value for f in settled.fields if f.label == "Intent")
    assert intent_field.startswith("refund (set by an agent; model: invoice")
    assert any("Intent set to refund by Sam (the model said invoice)" in t for t in channel.texts())
    # a second label of the same message: the latest wins, and "predicted" is still the model's answer
    await app.commands.execute(RelabelIntent(drafted.conversation_id, AGENT, "sso_saml"))
    assert await app.core.corrections() == [("where can I find my invoice?", "sso_saml", "invoice")]
    with uow_factory() as uow:
        assert uow.classifications.for_conversation(drafted.conversation_id)[0].corrected_intent == "sso_saml"
        detail = [a.detail for a in uow.actions.list(action="reject_draft")][0]
        assert detail["predicted_intent"] == "invoice"


def test_corrections_join_the_training_rows():
    texts, labels, used = with_corrections(
        ["reset my password", "where is my invoice"],
        ["password_reset", "invoice"],
        [
            _correction("Where is my  invoice", "refund"),  # same text (case, spaces): relabelled
            _correction("reset my password", "password_reset"),  # says what the data says: not used
            _correction("cancel please", "cancellation"),  # new: added
            _correction("cancel please", "refund"),  # the latest label of a text wins
        ],
    )
    assert texts == ["reset my password", "where is my invoice", "cancel please"]
    assert labels == ["password_reset", "refund", "refund"] and used == 2


def _correction(text: str, intent: str):
    from datetime import UTC, datetime

    from supportbot.bot.review import Correction

    return Correction(None, None, text, intent, "", datetime.now(UTC), "A1")


async def test_the_review_queue_puts_explicit_overrides_first(app, clock, uow_factory):
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    drafted = await bob.says("where can I find my invoice?")
    await app.commands.execute(RejectDraft(drafted.draft_id, AGENT, "wrong answer"))  # no intent given
    alice = Customer(app, clock, user="U_ALICE2")
    answered = await alice.says("how do I reset my password")
    assert answered.decision.action.value == "answer"
    await app.core.record_feedback(answered.conversation_id, positive=False, user_id="U_ALICE2")
    carol = Customer(app, clock, user="U_CAROL")
    odd = await carol.says("what is the capital of France")
    with uow_factory() as uow:
        items = review_queue(uow)
    assert [(i.conversation_id, i.reason) for i in items] == [
        (drafted.conversation_id, "rejected_draft"),
        (answered.conversation_id, "thumbs_down"),
        (odd.conversation_id, "out_of_scope"),
    ]
    assert items[2].to_dict() == {
        "conversation_id": odd.conversation_id,
        "reason": "out_of_scope",
        "text": "what is the capital of France",
    }
    await app.commands.execute(RelabelIntent(odd.conversation_id, AGENT, "refund", items[2].message_id))
    with uow_factory() as uow:
        assert odd.conversation_id not in [i.conversation_id for i in review_queue(uow)]
        assert [c.message_id for c in corrections(uow)] == [items[2].message_id]


async def test_simulate_decides_each_ticket_as_the_pipeline_does(app, clock, uow_factory):
    texts = [
        "how do I download my invoice",
        "I forgot my password",
        "webhook deliveries fail",
        "our SSO login loops",
        "the app is down for everyone",
        "tell me a joke",
        "thanks!",
        "please cancel our plan",
    ]
    labels = [
        "invoice",
        "password_reset",
        "webhooks",
        "sso_saml",
        "outage",
        "out_of_scope",
        "out_of_scope",
        "cancellation",
    ]
    with uow_factory() as uow:
        uow.settings.set(THRESHOLD_PREFIX + "password_reset", 0.99)  # a manager's override counts
        uow.commit()
    account = ACCOUNTS[0]
    sim = simulate(
        app.core.triage,
        [Ticket(t, lb) for t, lb in zip(texts, labels, strict=True)],
        account=account,
        overrides={"password_reset": 0.99},
        labels=app.core.classifier.labels(),
        oos_labels=["out_of_scope"],
        target_precision=0.95,
    )
    for n, (text, outcome) in enumerate(zip(texts, sim.outcomes, strict=True)):
        result = await Customer(app, clock, user=f"U_SIM{n}", account=account.id).says(text)
        pipeline = result.decision.action.value if result.decision else None
        assert outcome.action == pipeline, (text, outcome, result.detail)
    # only the invoice: the override holds the password question, SSO is not automated, the webhook (0.70)
    # is below its model threshold (0.75)
    assert sim.n == 8 and sim.actions["answer"] == 1 / 8
    by_t = {p.threshold: p for p in sim.curve}
    assert by_t[1.0].answered == 0 and by_t[1.0].precision is None
    assert by_t[0.96].answered < by_t[0.9].answered  # the password question (0.95) drops out
    assert sim.recommended.precision is not None and sim.recommended.precision >= 0.95
    assert sim.recommended.automation_rate >= sim.actions["answer"]


async def test_gaps_group_unanswered_questions_by_what_they_say(app, clock, uow_factory):
    questions = [*TOPICS["tableau"], *TOPICS["data_residency"], *DISTRACTORS]
    results = {}
    for n, text in enumerate(questions):
        results[text] = await Customer(app, clock, user=f"U_GAP{n}").says(text)
        clock.advance(minutes=1)
    with uow_factory() as uow:
        found = unanswered(uow, clock.now() - timedelta(days=1))
    by_text = {q.text: q for q in found}
    assert {"Is there a Tableau connector for Nimbus?", "how do I reset my password"} & set(by_text) == {
        "Is there a Tableau connector for Nimbus?"
    }  # the answered password question is no gap
    topics = find_gaps(found, encoder=None, min_size=3)  # TF-IDF: the fallback without the encoder
    tableau = next(t for t in topics if "tableau" in t.label)
    assert set(tableau.conversation_ids) == {results[t].conversation_id for t in TOPICS["tableau"]}
    assert tableau.size == 6 and len(tableau.examples) == 5
    assert [t.size for t in topics] == sorted((t.size for t in topics), reverse=True)
    assert suggested_title("Hi team, how do we get our data into Tableau? thanks") == "How to get our data into Tableau"


async def test_the_weekly_summary_lists_the_gaps(tmp_path):
    clock = FakeClock()  # a Thursday
    channel = FakeChannel("test")
    settings = load_settings(
        database_url="sqlite://", kb_dir=write_kb(tmp_path / "kb"), operations={"report_weekday": 3, "report_hour": 8}
    )
    app = bootstrap(
        settings,
        uow=InMemoryUnitOfWorkFactory(),
        classifier=FakeClassifier(),
        kb=MarkdownKnowledgeBase(settings.kb_dir),
        crm=FakeCRM(ACCOUNTS),
        clock=clock,
        channels=(channel,),
    )
    for n, text in enumerate(TOPICS["tableau"]):
        await Customer(app, clock, user=f"U_W{n}").says(text)
    assert await app.core.weekly_report.post()
    (report,) = [o for o, _ in channel.sent if o.kind is OutboundKind.REPORT]
    assert "• Knowledge gaps: " in report.text and "Tableau" in report.text
    assert report.payload["gaps"][0]["size"] == 6


async def test_kb_audit_flags_articles_that_failed_customers(app, clock, uow_factory, tmp_path):
    kb_dir = Path(app.settings.kb_dir)
    stale = kb_dir / "webhooks.md"
    stale.write_text(stale.read_text().replace("intents: [webhooks]", "intents: [webhooks]\nupdated: 2020-01-15"))
    alice = Customer(app, clock, user="U_AUD")
    answered = await alice.says("how do I reset my password")
    await app.core.record_feedback(answered.conversation_id, positive=False, user_id="U_AUD")
    bob = Customer(app, clock, user="U_BOB", account="acc_big")
    drafted = await bob.says("where can I find my invoice?")
    await app.commands.execute(RejectDraft(drafted.draft_id, AGENT, "outdated"))
    with uow_factory() as uow:
        audit = audit_kb(uow, app.core.kb.articles(), kb_dir, clock.now(), stale_days=180).to_dict()
    flagged = {r["id"]: r for r in audit["flagged"]}
    assert flagged["reset-password"]["negative_answers"] == 1 and flagged["download-invoices"]["rejected_drafts"] == 1
    assert {r["id"] for r in audit["never_cited"]} == {"saml-errors", "webhooks"}
    assert [(r["id"], r["updated"]) for r in audit["stale"]] == [("webhooks", "2020-01-15")]
    assert "webhooks" not in {r["id"] for r in audit["undated"]}


async def test_a_retrained_candidate_is_proposed_to_the_managers_not_promoted(app, channel, uow_factory):
    from datetime import UTC, datetime

    from supportbot.adapters.retrain import RetrainJob
    from supportbot.bot.domain import ModelStatus, ModelVersion
    from supportbot.bot.models import queue_proposal

    t = datetime(2026, 11, 1, tzinfo=UTC)
    with uow_factory() as uow:
        uow.model_versions.add(
            ModelVersion(
                "intent-cur",
                "intent",
                "/m/cur",
                "h",
                t,
                {"precision_at_target": 0.99, "rows": 100},
                ModelStatus.CURRENT,
                t,
            )
        )
        uow.model_versions.add(
            ModelVersion(
                "intent-new",
                "intent",
                "/m/new",
                "h",
                t,
                {"precision_at_target": 0.995, "rows": 112, "corrections_used": 12},
            )
        )
        queue_proposal(uow, app.core.outbox, ["test"], "intent-new", {"held-out accuracy": (0.81, 0.84)})
        uow.commit()
    await app.core.dispatch_outbox()
    (post,) = [o for o, _ in channel.sent if o.kind is OutboundKind.REPORT]
    assert "Model candidate intent-new vs current intent-cur" in post.text
    assert "corrections used: — → 12" in post.text and "held-out accuracy: 0.8100 → 0.8400" in post.text
    assert "/support model promote intent-new" in post.text
    with uow_factory() as uow:
        assert uow.model_versions.current("intent").id == "intent-cur"  # only proposed
    # without enough new corrections the scheduled job does not train at all
    assert await RetrainJob(app).run() is None
