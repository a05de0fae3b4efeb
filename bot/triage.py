"""Triage: every gate before the policy, then the policy, for one customer message.

``Triage.assess`` turns what was read about a message (``Snapshot``) into one
``Verdict``: ignore it (noise that opens nothing), relay it to the people who
own the conversation, or decide (answer, draft or hand off) with the rule and
reason that fired. It writes nothing; ``bot.intake`` records the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from supportbot.bot.answers import ComposedReply, reply_trace
from supportbot.bot.domain import (
    Account,
    Action,
    ArticleHit,
    Classification,
    Conversation,
    ConversationStatus,
    Decision,
    Draft,
    Handoff,
    InboundMessage,
    MessageKind,
    StoredMessage,
)
from supportbot.bot.lifecycle import says_not_helped
from supportbot.bot.modes import Mode, draft_only
from supportbot.bot.noise import is_noise
from supportbot.bot.policy import Policy, PolicyInput
from supportbot.bot.ports import Classifier, KnowledgeBase
from supportbot.bot.text import for_model

IGNORE, RELAY, DECIDE = "ignore", "relay", "decide"


@dataclass(frozen=True)
class Snapshot:
    """Everything read about an inbound message before deciding (one read-only unit of work)."""

    stored: StoredMessage
    msg: InboundMessage
    conversation: Conversation | None
    earlier: tuple[StoredMessage, ...] = ()  # the conversation's messages before this one
    pending_drafts: tuple[Draft, ...] = ()
    open_handoffs: tuple[Handoff, ...] = ()
    overrides: Mapping[str, float] = field(default_factory=dict)  # managers' threshold overrides
    mode: str = "auto"  # the channel's mode (bot.modes): auto, draft-only, shadow, off

    @property
    def human_owned(self) -> bool:
        conv = self.conversation
        return conv is not None and (not conv.bot_handled or bool(self.open_handoffs))

    def customer_context(self) -> list[str]:
        return [m.text for m in self.earlier if m.kind is MessageKind.CUSTOMER]


@dataclass(frozen=True)
class Verdict:
    kind: str  # ignore, relay, decide
    reason: str
    decision: Decision | None = None
    classification: Classification | None = None
    hits: tuple[ArticleHit, ...] = ()
    failed_answer: str | None = None  # the bot answer the customer said did not help
    noise: bool = False
    source: tuple[ArticleHit, ...] = ()  # the hits a reply is built from, the policy's chosen one first
    reply: ComposedReply | None = None  # set by the intake once the reply is composed

    @property
    def needs_reply(self) -> bool:
        """An answer or a draft: a reply must be composed before the verdict is recorded."""
        d = self.decision
        return self.kind == DECIDE and d is not None and d.action is not Action.HANDOFF and bool(self.source)

    def articles(self) -> tuple[dict[str, Any], ...]:
        return tuple({"id": h.article.id, "title": h.article.title, "score": round(h.score, 4)} for h in self.hits)


ANSWER_FAILED = Decision(Action.HANDOFF, "answer_failed", "The customer said the bot's answer did not help.")


class Triage:
    def __init__(self, classifier: Classifier, kb: KnowledgeBase, policy: Policy) -> None:
        self.classifier = classifier
        self.kb = kb
        self.policy = policy

    def assess(self, snap: Snapshot, account: Account | None) -> Verdict:
        """The one verdict for this message (CPU work: run it off the event loop)."""
        text, conv = snap.msg.text, snap.conversation
        # an @mention of the bot, or a message an agent ticketed (🎫), is always a request
        noise = is_noise(text) and not snap.msg.mentions_bot and not snap.msg.ticket_by
        if conv is None and noise:
            return Verdict(IGNORE, "greeting, thanks or emoji only: no ticket opened", noise=True)
        if conv is not None and not noise:
            failed = self._failed_answer(snap, conv)
            if failed is not None:  # "that didn't help": a person takes over with the failed answer in context
                return Verdict(DECIDE, ANSWER_FAILED.reason, ANSWER_FAILED, failed_answer=failed)
        if conv is not None and noise:
            return Verdict(RELAY, "noise in an existing conversation", noise=True)
        reopened = conv is not None and conv.status is ConversationStatus.RESOLVED
        if snap.human_owned and not reopened:
            return Verdict(RELAY, "a person owns this conversation")

        context = snap.customer_context()
        model_text = for_model(text)
        classification = self.classifier.classify(model_text, context=[for_model(t) for t in context])
        search_text = " ".join([*context[-2:], model_text]) if context else model_text
        hits = tuple(self.kb.search(search_text, intent=classification.intent, limit=3))
        knows_kb = self.model_knows_kb()
        decision = self.policy.decide(
            PolicyInput(classification, account, hits, self.classifier.thresholds(), snap.overrides, knows_kb)
        )
        if snap.mode == Mode.DRAFT_ONLY and not snap.msg.mentions_bot:
            decision = draft_only(decision)
        if snap.pending_drafts and decision.action is not Action.HANDOFF:
            # An agent is already reviewing a reply; only what needs a person now goes past the draft.
            return Verdict(RELAY, "a draft is awaiting approval", classification=classification, hits=hits)
        return Verdict(DECIDE, decision.reason, decision, classification, hits, source=reply_source(hits, decision))

    def model_knows_kb(self) -> bool:
        """Whether any article is tagged with an intent the current model predicts."""
        labels = set(self.classifier.labels())
        return any(labels.intersection(a.intents) for a in self.kb.articles())

    @staticmethod
    def _failed_answer(snap: Snapshot, conv: Conversation) -> str | None:
        """The bot answer a follow-up says did not help, if it says so."""
        if snap.human_owned or snap.pending_drafts or not conv.bot_handled:
            return None
        if conv.status is ConversationStatus.OPEN or not says_not_helped(snap.msg.text):
            return None
        replies = [m for m in snap.earlier if m.kind in (MessageKind.BOT_ANSWER, MessageKind.AGENT_REPLY)]
        return replies[-1].text if replies and replies[-1].kind is MessageKind.BOT_ANSWER else None


def reply_source(hits: tuple[ArticleHit, ...], decision: Decision) -> tuple[ArticleHit, ...]:
    """The hits an answer or a draft is built from, the article the policy chose (its first) first."""
    if decision.action is Action.HANDOFF or not decision.articles:
        return ()
    chosen = next((h for h in hits if h.article.id == decision.articles[0]), None)
    return (chosen, *(h for h in hits if h is not chosen)) if chosen is not None else ()


def with_reply(verdict: Verdict, reply: ComposedReply | None) -> Verdict:
    """The verdict once its reply is composed: a reply an agent must check turns an answer into a draft."""
    decision = verdict.decision
    assert decision is not None
    if reply is None:
        decision = Decision(
            Action.HANDOFF, "no_article", "No knowledge-base passage to build a reply from.", decision.scores
        )
        return replace(verdict, decision=decision, reason=decision.reason, source=())
    trace = reply_trace(reply, verdict.source)
    if reply.needs_review and decision.action is Action.ANSWER:
        reason = f"{reply.review_reason} (The policy would have answered: {decision.reason})"
        decision = replace(decision, action=Action.DRAFT, rule="composed_reply_needs_review", reason=reason)
    elif reply.needs_review and decision.action is Action.DRAFT:  # the reviewer should know what to check
        decision = replace(decision, reason=f"{decision.reason} The composed reply: {reply.review_reason}")
    decision = replace(decision, reply=trace)
    return replace(verdict, decision=decision, reason=decision.reason, reply=reply)
