"""Metrics on a hand-made event log; every expected number is worked out in comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from supportbot.bot.domain import (
    Action,
    AgentActionRecord,
    Classification,
    ClassificationRecord,
    Conversation,
    ConversationStatus,
    Decision,
    DecisionRecord,
    Draft,
    DraftStatus,
    Handoff,
    IntentScore,
    MessageKind,
    MessageState,
    Role,
    Sentiment,
    StoredMessage,
    Urgency,
)
from supportbot.bot.metrics import compute_metrics, compute_stats
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # Monday
SINCE, UNTIL = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 9, tzinfo=UTC)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


class Log:
    def __init__(self, uow) -> None:
        self.uow = uow
        self.n = 0

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def conv(
        self, cid, platform, *, status=ConversationStatus.OPEN, first=None, resolved=None, frt_due=None, res_due=None
    ) -> None:
        self.uow.conversations.save(
            Conversation(
                cid,
                platform,
                "W",
                "C",
                f"th-{cid}",
                "U",
                None,
                T0,
                T0,
                status=status,
                first_response_at=first,
                resolved_at=resolved,
                first_response_due_at=frt_due,
                resolution_due_at=res_due,
                urgency=Urgency.NORMAL,
            )
        )

    def decide(self, cid, action, tier, at=T0) -> None:
        self.uow.decisions.add(DecisionRecord(self._id("d"), cid, "m", Decision(action, "r", "why"), tier, at))

    def classify(self, cid, intent, confidence=0.9, *, oos=False, top=()) -> None:
        c = Classification(intent, confidence, oos, Urgency.NORMAL, Sentiment.NEUTRAL, top_intents=top)
        self.uow.classifications.add(ClassificationRecord(self._id("c"), cid, "m", c, T0))

    def handoff(self, cid, at) -> None:
        self.uow.handoffs.save(Handoff(self._id("h"), cid, "reason", at))

    def draft(self, cid, status) -> None:
        self.uow.drafts.save(Draft(self._id("dr"), cid, "d", "text", (), T0, status=status))

    def act(self, cid, action, at, **detail) -> None:
        self.uow.actions.add(AgentActionRecord(self._id("a"), "U", Role.AGENT, action, at, cid, cid, detail))

    def customer_says(self, cid, at) -> None:
        self.uow.messages.add(
            StoredMessage(
                self._id("m"),
                "slack",
                "W",
                "C",
                self._id("x"),
                cid,
                "U",
                "U",
                Role.CUSTOMER,
                MessageKind.CUSTOMER,
                "hello again",
                at,
                MessageState.PROCESSED,
            )
        )


@pytest.fixture
def uow_factory():
    factory = InMemoryUnitOfWorkFactory()
    with factory() as uow:
        log = Log(uow)
        # c1 pro/slack: answered, resolved after 2 h, rated 5 -> automated resolution; FRT 60 s (met), res met
        log.conv(
            "c1",
            "slack",
            status=ConversationStatus.RESOLVED,
            first=T0 + M,
            resolved=T0 + 2 * H,
            frt_due=T0 + 4 * H,
            res_due=T0 + D,
        )
        log.decide("c1", Action.ANSWER, "pro")
        log.classify("c1", "invoice")
        log.act("c1", "csat", T0 + 2 * H, positive=True, negative=False, score=5)
        # c2 pro/slack: answered, handed off 3 h later -> not automated; FRT 120 s met; resolution due T0+1h,
        # still open -> missed
        log.conv("c2", "slack", first=T0 + 2 * M, frt_due=T0 + 4 * H, res_due=T0 + H)
        log.decide("c2", Action.ANSWER, "pro")
        log.decide("c2", Action.HANDOFF, None, T0 + 3 * H)
        log.classify("c2", "password_reset")
        log.handoff("c2", T0 + 3 * H)
        # c3 enterprise/discord: draft edited (distance 0.4); FRT 1800 s vs 15 min due -> missed; resolved after
        # 5 h vs 4 h due -> missed; rated 2 (negative)
        log.conv(
            "c3",
            "discord",
            status=ConversationStatus.RESOLVED,
            first=T0 + 30 * M,
            resolved=T0 + 5 * H,
            frt_due=T0 + 15 * M,
            res_due=T0 + 4 * H,
        )
        log.decide("c3", Action.DRAFT, "enterprise")
        log.classify("c3", "sso_saml")
        log.draft("c3", DraftStatus.EDITED)
        log.act("c3", "edit_draft", T0 + 30 * M, edit_distance=0.4)
        log.act("c3", "csat", T0 + 5 * H, positive=False, negative=True, score=2)
        # c4 enterprise/discord: draft rejected and relabelled invoice -> refund; FRT 600 s met; waiting
        # on the customer, so the resolution clock is undecided
        log.conv(
            "c4",
            "discord",
            status=ConversationStatus.WAITING_ON_CUSTOMER,
            first=T0 + 10 * M,
            frt_due=T0 + 15 * M,
            res_due=T0 + 4 * H,
        )
        log.decide("c4", Action.DRAFT, "enterprise")
        log.classify("c4", "invoice")
        log.draft("c4", DraftStatus.REJECTED)
        log.act("c4", "reject_draft", T0 + 10 * M, corrected_intent="refund", predicted_intent="invoice")
        log.act("c4", "relabel", T0 + 10 * M, predicted_intent="invoice", intent="refund")
        # c5 no account/slack: answered (FRT 300 s), resolved at +1 h, the customer wrote again at +2 h
        # (reopened within 24 h) -> not automated; no SLA due times
        log.conv("c5", "slack", first=T0 + 5 * M)
        log.decide("c5", Action.ANSWER, None)
        log.classify("c5", "webhooks")
        log.act("c5", "resolve", T0 + H)
        log.customer_says("c5", T0 + 2 * H)
        # c6 pro/slack: handed off at once, never answered; both clocks past due at UNTIL -> missed;
        # the model abstained (best guess refund at 0.3)
        log.conv("c6", "slack", frt_due=T0 + 4 * H, res_due=T0 + 3 * D)
        log.decide("c6", Action.HANDOFF, "pro")
        log.classify("c6", "out_of_scope", 0.3, oos=True, top=(IntentScore("refund", 0.3),))
        log.handoff("c6", T0)
        # c7 pro/slack: draft approved; FRT 1200 s met; resolved after 1 day (met); rated 4; invoice at 0.45
        log.conv(
            "c7",
            "slack",
            status=ConversationStatus.RESOLVED,
            first=T0 + 20 * M,
            resolved=T0 + D,
            frt_due=T0 + 4 * H,
            res_due=T0 + 3 * D,
        )
        log.decide("c7", Action.DRAFT, "pro")
        log.classify("c7", "invoice", 0.45)
        log.draft("c7", DraftStatus.APPROVED)
        log.act("c7", "csat", T0 + D, positive=True, negative=False, score=4)
        # c8 pro/slack: answered (FRT 240 s), 👎 (no score) -> not automated; waiting, no due times
        log.conv("c8", "slack", status=ConversationStatus.WAITING_ON_CUSTOMER, first=T0 + 4 * M)
        log.decide("c8", Action.ANSWER, "pro")
        log.classify("c8", "webhooks")
        log.act("c8", "csat", T0 + H, positive=False, negative=True, score=None)
        # a later rating of c1 does not count: only the first rating of a conversation does
        log.act("c1", "csat", T0 + 3 * H, positive=False, negative=True, score=1)
        uow.commit()
    return factory


def test_overall_metrics_match_hand_computed_values(uow_factory):
    with uow_factory() as uow:
        s = compute_stats(uow, SINCE, UNTIL)
    assert s.volume == 8
    assert s.answered_by_bot == 4  # c1 c2 c5 c8
    assert s.automated_resolutions == 1 and s.automated_resolution_rate == 1 / 8  # only c1
    assert s.deflection_rate == 4 / 8  # raw deflection is kept apart
    assert s.handoffs == 2 and s.handoff_rate == 2 / 8  # c2 c6
    # FRT sorted: 60 120 240 300 600 1200 1800; p50 = rank 3 = 300; p90 = rank 5.4 = 1200 + 0.4 * 600 = 1440
    assert s.first_response_p50_s == 300 and s.first_response_p90_s == pytest.approx(1440)
    # resolution: 7200 18000 86400; p50 = 18000; p90 = rank 1.8 = 18000 + 0.8 * 68400 = 72720
    assert s.resolved == 3 and s.resolution_p50_s == 18000 and s.resolution_p90_s == pytest.approx(72720)
    # FRT clocks: met c1 c2 c4 c7, missed c3 c6 -> 4/6; resolution: met c1 c7, missed c2 c3 c6 -> 2/5
    assert (s.frt_sla_met, s.frt_sla_missed) == (4, 2)
    assert (s.resolution_sla_met, s.resolution_sla_missed) == (2, 3)
    # conversations with a decided clock: c1 c2 c3 c4 c6 c7 = 6, none missed: c1 c4 c7 -> 0.5
    assert s.sla_compliance == 0.5
    # first ratings: c1 + (5), c3 - (2), c7 + (4), c8 - (no score): 2/4 positive, mean score 11/3
    assert (s.csat_responses, s.csat) == (4, 0.5) and s.csat_mean_score == pytest.approx(3.667)
    assert (s.csat_auto_responses, s.csat_auto) == (2, 0.5)  # c1 and c8 were answered by the bot
    # drafts: c3 edited, c4 rejected, c7 approved -> a third each; the one edit had distance 0.4
    assert (s.draft_approval_rate, s.draft_edit_rate, s.draft_rejection_rate) == (1 / 3, 1 / 3, 1 / 3)
    assert s.mean_edit_distance == 0.4
    # reviewed by an agent: c3 c4 c7; relabelled: c4 -> accuracy 2/3
    assert (s.reviewed, s.relabelled) == (3, 1) and s.intent_accuracy == pytest.approx(2 / 3)
    assert s.top_intents[0] == ("invoice", 3)


def test_breakdowns_intents_and_low_confidence_topics(uow_factory):
    with uow_factory() as uow:
        m = compute_metrics(uow, SINCE, UNTIL)
    assert {k: v.volume for k, v in m.by_tier.items()} == {"enterprise": 2, "pro": 5, "unknown": 1}
    assert m.by_tier["pro"].automated_resolution_rate == 1 / 5
    assert {k: v.volume for k, v in m.by_platform.items()} == {"discord": 2, "slack": 6}
    # enterprise: FRT missed (c3) and met (c4); resolution missed (c3) -> 1 of 2 decided conversations clean
    assert m.by_tier["enterprise"].sla_compliance == 0.5
    assert len(m.daily) == 8 and m.daily[0][1].volume == 8 and sum(d.volume for _, d in m.daily) == 8
    invoice = next(r for r in m.intents if r.intent == "invoice")
    # invoice: c1 c4 c7; reviewed c4 c7; c4 rejected + relabelled = 2 overrides; accuracy 1/2
    assert (invoice.conversations, invoice.reviewed, invoice.overrides, invoice.accuracy) == (3, 2, 2, 0.5)
    assert [(r.intent, r.overrides) for r in m.most_overridden] == [("invoice", 2), ("sso_saml", 1)]
    # low confidence: c6 abstained (guess refund, 0.3) and c7 invoice at 0.45
    assert [(r.guess, r.count, r.mean_confidence, r.abstained) for r in m.low_confidence] == [
        ("invoice", 1, 0.45, 0),
        ("refund", 1, 0.3, 1),
    ]
    assert sorted(m.frt_seconds) == [60, 120, 240, 300, 600, 1200, 1800]


def test_empty_window_has_no_rates(uow_factory):
    with uow_factory() as uow:
        s = compute_stats(uow, UNTIL + D, UNTIL + 2 * D)
    assert s.volume == 0 and s.automated_resolution_rate is None and s.csat is None and s.sla_compliance is None
