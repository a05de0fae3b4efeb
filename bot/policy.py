"""The decision policy: answer, draft or hand off, and always say why.

Rules are checked in order; the first that fires decides. Each returns a
Decision naming the rule and the scores it looked at, so "why did the bot do
that?" has an answer in the database, the triage card and the playground.

Thresholds, most specific first: a manager's runtime override for the intent
(``/support threshold``), ``policy.intent_thresholds`` from settings, the
model's measured per-intent threshold, the model's global threshold, then
``policy.default_threshold``. A tier threshold (``policy.tier_thresholds``)
can only raise the bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from supportbot.bot.domain import Account, Action, ArticleHit, Classification, Decision, Sentiment, Urgency
from supportbot.bot.settings import PolicySettings

# An article this similar to the question counts as matching even when it is
# not tagged with the predicted intent.
UNTAGGED_ARTICLE_SCORE = 0.35


@dataclass(frozen=True)
class PolicyInput:
    classification: Classification
    account: Account | None
    hits: Sequence[ArticleHit]
    model_thresholds: Mapping[str, float]
    overrides: Mapping[str, float]  # runtime per-intent overrides set by managers


class Policy:
    def __init__(self, settings: PolicySettings) -> None:
        self.settings = settings

    def threshold_for(
        self,
        intent: str,
        tier: str | None,
        model_thresholds: Mapping[str, float],
        overrides: Mapping[str, float],
    ) -> tuple[float, str]:
        """The automation threshold for an intent and where it came from."""
        s = self.settings
        if intent in overrides:
            value, source = overrides[intent], "manager override"
        elif intent in s.intent_thresholds:
            value, source = s.intent_thresholds[intent], "settings"
        elif intent in model_thresholds:
            value, source = model_thresholds[intent], "model (per intent)"
        elif "*" in model_thresholds:
            value, source = model_thresholds["*"], "model (global)"
        else:
            value, source = s.default_threshold, "default"
        if tier and tier in s.tier_thresholds and s.tier_thresholds[tier] > value:
            value, source = s.tier_thresholds[tier], f"{tier} tier"
        return value, source

    def matching_article(
        self, intent: str, hits: Sequence[ArticleHit], min_score: float | None = None
    ) -> ArticleHit | None:
        """The best hit tagged with the intent and similar enough, or any very similar hit.

        ``min_score`` defaults to the bar for drafts; answers need ``min_article_score``.
        """
        floor = self.settings.draft_min_article_score if min_score is None else min_score
        for hit in hits:
            tagged = intent in hit.article.intents
            if (tagged and hit.score >= floor) or hit.score >= UNTAGGED_ARTICLE_SCORE:
                return hit
        return None

    def decide(self, data: PolicyInput) -> Decision:
        c, s = data.classification, self.settings
        tier = data.account.tier if data.account else None
        threshold, source = self.threshold_for(c.intent, tier, data.model_thresholds, data.overrides)
        article = self.matching_article(c.intent, data.hits)
        scores = {
            "confidence": round(c.confidence, 4),
            "threshold": round(threshold, 4),
            "frustration": round(c.frustration, 4),
            "article_score": round(article.score, 4) if article else 0.0,
        }
        considered = tuple(h.article.id for h in data.hits)

        def decision(action: Action, rule: str, reason: str) -> Decision:
            return Decision(action, rule, reason, scores, considered)

        if c.urgency is Urgency.CRITICAL:
            cues = f" ({', '.join(c.urgency_reasons)})" if c.urgency_reasons else ""
            return decision(Action.HANDOFF, "urgent_handoff", f"Urgency is critical{cues}: a human takes it now.")
        if c.intent in s.handoff_intents:
            return decision(
                Action.HANDOFF,
                "sensitive_intent",
                f"Intent {c.intent} always goes to a human (policy.handoff_intents).",
            )
        if c.sentiment is Sentiment.NEGATIVE and c.frustration >= s.handoff_frustration:
            return decision(
                Action.HANDOFF,
                "frustrated_customer",
                f"The customer sounds frustrated (frustration {c.frustration:.2f} >= {s.handoff_frustration:.2f}).",
            )
        if c.out_of_scope:
            return decision(
                Action.HANDOFF,
                "out_of_scope",
                f"The question fits no known intent (best guess {c.intent} at {c.confidence:.2f}).",
            )
        if c.confidence < s.draft_min_confidence:
            return decision(
                Action.HANDOFF,
                "low_confidence",
                f"Confidence {c.confidence:.2f} is below {s.draft_min_confidence:.2f}, too low even for a draft.",
            )
        if article is None:
            return decision(
                Action.HANDOFF,
                "no_article",
                f"No knowledge-base article matches intent {c.intent}; nothing to answer from.",
            )
        if tier and tier in s.draft_tiers:
            return decision(
                Action.DRAFT,
                "tier_requires_review",
                f"{data.account.name if data.account else 'The account'} is on the {tier} tier: "
                "replies are reviewed by an agent (policy.draft_tiers).",
            )
        if c.intent not in s.automation_intents:
            return decision(
                Action.DRAFT,
                "intent_not_automated",
                f"Intent {c.intent} is not allowed for automatic answers (policy.automation_intents).",
            )
        if c.confidence < threshold:
            return decision(
                Action.DRAFT,
                "below_threshold",
                f"Confidence {c.confidence:.2f} is below the {threshold:.2f} threshold for {c.intent} ({source}).",
            )
        if article.score < s.min_article_score:
            return decision(
                Action.DRAFT,
                "weak_article_match",
                f"Article '{article.article.title}' matches only weakly ({article.score:.2f} < "
                f"{s.min_article_score:.2f}); an agent should check it answers the question.",
            )
        return decision(
            Action.ANSWER,
            "confident_answer",
            f"Intent {c.intent} at {c.confidence:.2f} clears its {threshold:.2f} threshold ({source}) "
            f"and article '{article.article.title}' matches ({article.score:.2f}).",
        )
