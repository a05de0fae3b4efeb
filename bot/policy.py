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

from collections.abc import Callable, Mapping, Sequence
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
    # The knowledge base's articles carry intents the model knows (the bundled KB and model, or a
    # team that tagged its articles): then "out of scope" is informed, and retrieval alone needs a
    # strong passage (retrieval_answer_score) and only drafts.
    model_knows_kb: bool = False


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

    def answer_source(
        self, classification: Classification, hits: Sequence[ArticleHit], model_knows_kb: bool = False
    ) -> tuple[ArticleHit | None, str]:
        """The hit a reply would be built from and the route that found it.

        ``intent``: the model is in scope, confident enough for a draft, and an article tagged with its
        intent matches. ``retrieval``: otherwise the best passage, when its score says the knowledge
        base answers the question (``retrieval_draft_score``; ``retrieval_answer_score`` when the
        model knows the knowledge base and did not route the question). The intent model is never a
        precondition for finding an answer; it only changes which bars apply.
        """
        c, s = classification, self.settings
        if not c.out_of_scope and c.confidence >= s.draft_min_confidence:
            tagged = self.matching_article(c.intent, hits)
            if tagged is not None:
                return tagged, "intent"
        bar = s.retrieval_answer_score if model_knows_kb else s.retrieval_draft_score
        if hits and hits[0].score >= bar:
            return hits[0], "retrieval"
        return None, ""

    def decide(self, data: PolicyInput) -> Decision:
        c, s = data.classification, self.settings
        tier = data.account.tier if data.account else None
        threshold, source = self.threshold_for(c.intent, tier, data.model_thresholds, data.overrides)
        article, route = self.answer_source(c, data.hits, data.model_knows_kb)
        scores = {
            "confidence": round(c.confidence, 4),
            "threshold": round(threshold, 4),
            "frustration": round(c.frustration, 4),
            "article_score": round(article.score, 4) if article else 0.0,
        }
        considered = tuple(h.article.id for h in data.hits)
        if article is not None:  # the chosen article first: the reply is built from it (triage.reply_source)
            considered = (article.article.id, *(a for a in considered if a != article.article.id))

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
        if article is None:
            bar = s.retrieval_answer_score if data.model_knows_kb else s.retrieval_draft_score
            best = f" (best passage {data.hits[0].score:.2f} < {bar:.2f})" if data.hits else ""
            if c.out_of_scope:
                return decision(
                    Action.HANDOFF,
                    "out_of_scope",
                    f"The question fits no known intent (best guess {c.intent} at {c.confidence:.2f}) "
                    f"and no knowledge-base passage answers it{best}.",
                )
            if c.confidence < s.draft_min_confidence:
                return decision(
                    Action.HANDOFF,
                    "low_confidence",
                    f"Confidence {c.confidence:.2f} is below {s.draft_min_confidence:.2f}, too low even for a draft, "
                    f"and no knowledge-base passage answers the question{best}.",
                )
            return decision(
                Action.HANDOFF,
                "no_article",
                f"No knowledge-base passage answers the question{best}; nothing to answer from.",
            )
        if tier and tier in s.draft_tiers:
            return decision(
                Action.DRAFT,
                "tier_requires_review",
                f"{data.account.name if data.account else 'The account'} is on the {tier} tier: "
                "replies are reviewed by an agent (policy.draft_tiers).",
            )
        if route == "retrieval" and data.model_knows_kb:
            return decision(
                Action.DRAFT,
                "retrieval_draft",
                f"The intent model did not route the question (best guess {c.intent} at {c.confidence:.2f}"
                f"{', out of scope' if c.out_of_scope else ''}), but passage '{article.article.title}'"
                f"{' › ' + article.section if article.section else ''} matches strongly ({article.score:.2f}); "
                "an agent checks it.",
            )
        if route == "retrieval":
            return self._from_retrieval(c, article, decision)
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

    def _from_retrieval(
        self, c: Classification, hit: ArticleHit, decision: Callable[[Action, str, str], Decision]
    ) -> Decision:
        """The model did not route the question to an article; the passage score decides."""
        s = self.settings
        where = f"'{hit.article.title}'" + (f" › {hit.section}" if hit.section else "")
        known = not c.out_of_scope and c.confidence >= s.draft_min_confidence
        if known and c.intent not in s.automation_intents:
            return decision(
                Action.DRAFT,
                "intent_not_automated",
                f"Intent {c.intent} is not allowed for automatic answers (policy.automation_intents); "
                f"passage {where} matches ({hit.score:.2f}).",
            )
        if hit.score < s.retrieval_answer_score:
            return decision(
                Action.DRAFT,
                "retrieval_draft",
                f"Passage {where} may answer the question ({hit.score:.2f}, below the "
                f"{s.retrieval_answer_score:.2f} bar for answering from retrieval alone); an agent checks it.",
            )
        return decision(
            Action.ANSWER,
            "retrieval_answer",
            f"Passage {where} answers the question ({hit.score:.2f} >= {s.retrieval_answer_score:.2f}, "
            "retrieval alone; the intent model did not route it).",
        )
