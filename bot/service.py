"""The support pipeline: every inbound message and agent action goes through here.

Inbound message: store it (a duplicate delivery stops here) -> group it into a
conversation -> skip noise -> classify -> fetch account context -> decide ->
queue what to post (outbox) and record everything in one transaction -> post.

Posting goes through the outbox: an Outbound is committed together with the
decision that caused it and sent afterwards, so a crash never loses a reply
and a retry never sends one twice (its ``dedupe_key`` is unique).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from supportbot.bot import presenter
from supportbot.bot.domain import (
    OUT_OF_SCOPE,
    Account,
    AccountLookup,
    Action,
    AgentActionRecord,
    Audience,
    Author,
    Citation,
    Classification,
    ClassificationRecord,
    Conversation,
    ConversationStatus,
    Decision,
    DecisionRecord,
    Delivery,
    Draft,
    Handoff,
    HandoffStatus,
    InboundMessage,
    MessageKind,
    MessageState,
    ModelVersion,
    Outbound,
    OutboundKind,
    OutboxStatus,
    Role,
    StoredMessage,
    new_id,
)
from supportbot.bot.errors import Conflict, DeliveryError, DuplicateDelivery, InvalidInput, RateLimited
from supportbot.bot.noise import is_noise
from supportbot.bot.policy import Policy, PolicyInput
from supportbot.bot.ports import CRM, Channel, Classifier, Clock, KnowledgeBase, UnitOfWork, UnitOfWorkFactory
from supportbot.bot.text import clean_text, for_model

log = logging.getLogger(__name__)

THRESHOLD_PREFIX = "threshold."
MAX_DELIVERY_ATTEMPTS = 8
# How long a dispatcher's claim on an outbound keeps other replicas off it. It must
# outlast one channel.send (platform calls time out well within it), or a slow send
# could be repeated by another replica; a crashed sender's items wait this long.
OUTBOX_CLAIM_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class CoreConfig:
    grouping_window: timedelta = timedelta(minutes=10)
    note_marker: str = "//"
    max_message_chars: int = 40_000
    crm_cache: timedelta = timedelta(minutes=15)


@dataclass
class InboundResult:
    """What happened to one inbound message; ``supportbot ask`` prints this."""

    status: str  # processed, duplicate, ignored, rejected, relayed, note, failed
    detail: str = ""
    conversation_id: str | None = None
    message_id: str | None = None
    classification: Classification | None = None
    decision: Decision | None = None
    account: Account | None = None
    reply: str | None = None  # answer sent, or draft text awaiting approval
    citations: tuple[Citation, ...] = ()
    draft_id: str | None = None
    handoff_id: str | None = None
    articles: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        c, d, a = self.classification, self.decision, self.account
        return {
            "status": self.status,
            "detail": self.detail,
            "conversation_id": self.conversation_id,
            "intent": c.intent if c else None,
            "confidence": round(c.confidence, 4) if c else None,
            "out_of_scope": c.out_of_scope if c else None,
            "top_intents": [{"intent": s.intent, "probability": round(s.probability, 4)} for s in c.top_intents]
            if c
            else [],
            "urgency": c.urgency.value if c else None,
            "urgency_reasons": list(c.urgency_reasons) if c else [],
            "sentiment": c.sentiment.value if c else None,
            "frustration": round(c.frustration, 3) if c else None,
            "account": {"id": a.id, "name": a.name, "tier": a.tier, "arr": a.arr} if a else None,
            "action": d.action.value if d else None,
            "rule": d.rule if d else None,
            "reason": d.reason if d else self.detail,
            "scores": dict(d.scores) if d else {},
            "reply": self.reply,
            "citations": [{"title": x.title, "url": x.url, "article_id": x.article_id} for x in self.citations],
            "articles_considered": list(self.articles),
            "draft_id": self.draft_id,
            "handoff_id": self.handoff_id,
            "model_version": c.model_version if c else None,
        }


@dataclass(frozen=True)
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0


class SupportCore:
    """The application core. Built once by the composition root."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        classifier: Classifier,
        kb: KnowledgeBase,
        crm: CRM,
        clock: Clock,
        policy: Policy,
        config: CoreConfig | None = None,
        channels: Mapping[str, Channel] | None = None,
    ) -> None:
        self.uow = uow
        self.classifier = classifier
        self.kb = kb
        self.crm = crm
        self.clock = clock
        self.policy = policy
        self.config = config or CoreConfig()
        self.channels: dict[str, Channel] = dict(channels or {})
        self._dispatch_lock = asyncio.Lock()  # one dispatch per process; claims order the replicas
        self._worker_id = new_id("worker")  # owner of this instance's outbox claims
        self.hooks: list[Any] = []  # SLA, lifecycle and CSAT hooks (see call_hooks and intercept_inbound)

    def register_channel(self, channel: Channel) -> None:
        self.channels[channel.platform] = channel

    def call_hooks(self, name: str, *args: Any) -> None:
        """Call ``name(*args)`` on every hook that has it (SLA, lifecycle, CSAT hooks)."""
        for hook in self.hooks:
            method = getattr(hook, name, None)
            if method is not None:
                method(*args)

    # ================================================================ inbound
    async def handle_inbound(self, msg: InboundMessage, *, dispatch: bool = True) -> InboundResult:
        """Process one customer message exactly once."""
        try:
            text = clean_text(msg.text, max_chars=self.config.max_message_chars)
        except InvalidInput as exc:
            return InboundResult("rejected", str(exc))
        msg = replace(msg, text=text)
        now = self.clock.now()
        stored = StoredMessage(
            id=new_id("msg"),
            platform=msg.platform,
            workspace_id=msg.workspace_id,
            channel_id=msg.channel_id,
            external_id=msg.message_id,
            conversation_id=None,
            author_id=msg.author.user_id,
            author_name=msg.author.display_name,
            role=msg.author.role,
            kind=MessageKind.CUSTOMER,
            text=text,
            created_at=msg.sent_at or now,
            state=MessageState.RECEIVED,
            thread_id=msg.thread_id,
            raw=_raw_with_origin(msg),
        )
        # Step 1: store before processing, so a crash can be recovered and a retry is a no-op.
        with self.uow() as uow:
            try:
                uow.messages.add(stored)
            except DuplicateDelivery:
                return InboundResult("duplicate", "this message was already received", message_id=None)
            uow.commit()
        result = await self._process(stored, msg)
        if dispatch:
            await self.dispatch_outbox()
        return result

    async def recover(self) -> int:
        """Process messages stored before a crash but never processed."""
        with self.uow() as uow:
            pending = uow.messages.in_state(MessageState.RECEIVED, limit=500)
        for stored in pending:
            msg = InboundMessage(
                platform=stored.platform,
                workspace_id=stored.workspace_id,
                channel_id=stored.channel_id,
                message_id=stored.external_id,
                author=_author_of(stored),
                text=stored.text,
                sent_at=stored.created_at,
                thread_id=stored.thread_id,
                account_id=_origin(stored).get("account_id"),
                raw=stored.raw,
            )
            await self._process(stored, msg)
        if pending:
            log.info("recovered %d unprocessed messages", len(pending))
        await self.dispatch_outbox()
        return len(pending)

    async def _process(self, stored: StoredMessage, msg: InboundMessage) -> InboundResult:
        try:
            try:
                return await self._process_unsafe(stored, msg)
            except Conflict:
                # Another message of the same thread created the conversation
                # between our lookup and our insert: process again, joining it.
                return await self._process_unsafe(stored, msg)
        except Exception as exc:  # the process must live; the message stays for inspection
            log.exception("processing message %s failed", stored.id)
            with self.uow() as uow:
                current = uow.messages.get(stored.id)
                if current is not None:
                    current.state, current.error = MessageState.FAILED, f"{type(exc).__name__}: {exc}"[:500]
                    uow.messages.save(current)
                    uow.commit()
            return InboundResult("failed", f"internal error while processing: {type(exc).__name__}")

    async def _process_unsafe(self, stored: StoredMessage, msg: InboundMessage) -> InboundResult:
        now = self.clock.now()
        with self.uow() as uow:
            conv = self._find_conversation(uow, msg, now)
            if msg.author.role is not Role.CUSTOMER:
                return self._staff_in_customer_thread(uow, stored, msg, conv, now)
        if conv is not None:
            for hook in self.hooks:  # e.g. a CSAT rating typed as a reply: recorded, not a new question
                intercept = getattr(hook, "intercept_inbound", None)
                handled = await intercept(self, conv, stored, msg) if intercept is not None else None
                if handled is not None:
                    return handled
        noise = is_noise(msg.text)
        if conv is None and noise:
            with self.uow() as uow:
                self._set_state(uow, stored.id, MessageState.IGNORED, None)
                uow.commit()
            return InboundResult("ignored", "greeting, thanks or emoji only: no ticket opened")

        account = await self.account_for(
            AccountLookup(
                account_id=msg.account_id,
                platform=msg.platform,
                email=msg.author.email,
                slack_team_id=msg.author.team_id if msg.platform == "slack" else None,
                discord_guild_id=msg.workspace_id if msg.platform == "discord" else None,
            )
        )
        with self.uow() as uow:
            is_new = conv is None
            if conv is None:
                conv = Conversation(
                    id=new_id("conv"),
                    platform=msg.platform,
                    workspace_id=msg.workspace_id,
                    channel_id=msg.channel_id,
                    thread_id=msg.thread_id or msg.message_id,
                    customer_id=msg.author.user_id,
                    account_id=account.id if account else None,
                    created_at=now,
                    updated_at=now,
                )
            else:
                conv = uow.conversations.get(conv.id) or conv
                if not noise:
                    self.call_hooks("on_customer_message", uow, conv, now)
            previous_status = conv.status
            reopened = conv.status is ConversationStatus.RESOLVED and not noise  # "thanks 👍" does not reopen
            conv.updated_at = now
            conv.last_customer_message_at = now
            if reopened:
                conv.status, conv.resolved_at = ConversationStatus.OPEN, None
            if account and not conv.account_id:
                conv.account_id = account.id
            current = uow.messages.get(stored.id) or stored
            current.conversation_id = conv.id
            uow.messages.save(current)
            uow.conversations.save(conv)

            if not is_new:
                self._queue(
                    uow,
                    conv,
                    Audience.STAFF,
                    OutboundKind.RELAY,
                    f"{msg.author.display_name or 'Customer'}: {msg.text}",
                    f"relay:{stored.id}",
                    {"author": msg.author.display_name, "message_id": stored.id},
                )
            human_owned = not conv.bot_handled or bool(
                uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id)
            )
            pending_draft = any(d.status.value == "pending" for d in uow.drafts.list(conversation_id=conv.id))
            failed = (
                None
                if (is_new or noise or human_owned or pending_draft)
                else self._failed_answer(uow, conv, previous_status, msg.text)
            )
            if failed is not None:  # "that didn't help": hand off with the failed answer in context
                decision = Decision(Action.HANDOFF, "answer_failed", "The customer said the bot's answer did not help.")
                handoff = self._hand_off_failed_answer(uow, conv, decision, failed, stored.id, now)
                self._set_state(uow, stored.id, MessageState.PROCESSED, conv.id)
                uow.commit()
                return InboundResult(
                    "processed",
                    decision.reason,
                    conversation_id=conv.id,
                    message_id=stored.id,
                    decision=decision,
                    account=account,
                    handoff_id=handoff.id,
                    reply=presenter.HANDOFF_ACK,
                )
            if noise or (human_owned and not reopened):
                why = "noise in an existing conversation" if noise else "a person owns this conversation"
                return self._relayed(uow, stored, conv, account, why, ignored=noise)
            context = [
                m.text
                for m in uow.messages.for_conversation(conv.id)
                if m.kind is MessageKind.CUSTOMER and m.id != stored.id
            ]
            overrides = self.threshold_overrides(uow)
            uow.commit()

        model_text = for_model(msg.text)
        classification = self.classifier.classify(model_text, context=[for_model(t) for t in context])
        search_text = " ".join([*context[-2:], model_text]) if context else model_text
        hits = self.kb.search(search_text, intent=classification.intent, limit=3)
        decision = self.policy.decide(
            PolicyInput(classification, account, hits, self.classifier.thresholds(), overrides)
        )
        if pending_draft and decision.action is not Action.HANDOFF:
            # An agent is already reviewing a reply; only something that needs a
            # person now (an outage, an angry customer) goes past the draft.
            with self.uow() as uow:
                return self._relayed(uow, stored, conv, account, "a draft is awaiting approval")
        return self._record_decision(stored, msg, conv, is_new, account, classification, decision, hits)

    def _staff_in_customer_thread(
        self,
        uow: UnitOfWork,
        stored: StoredMessage,
        msg: InboundMessage,
        conv: Conversation | None,
        now: datetime,
    ) -> InboundResult:
        """An agent answered right in the customer's thread: a human reply, not a question."""
        current = uow.messages.get(stored.id) or stored
        if conv is None or not msg.author.role.is_staff:
            current.state = MessageState.IGNORED
            uow.messages.save(current)
            uow.commit()
            return InboundResult("ignored", "not a customer message and not in a conversation")
        current.kind, current.state, current.conversation_id = MessageKind.AGENT_REPLY, MessageState.PROCESSED, conv.id
        uow.messages.save(current)
        conv = uow.conversations.get(conv.id) or conv
        conv.bot_handled, conv.updated_at = False, now
        conv.assignee_id = conv.assignee_id or msg.author.user_id
        conv.first_response_at = conv.first_response_at or now
        if conv.status is not ConversationStatus.RESOLVED:
            conv.status = ConversationStatus.WAITING_ON_CUSTOMER
        uow.conversations.save(conv)
        self._queue(
            uow,
            conv,
            Audience.STAFF,
            OutboundKind.NOTICE,
            f"{msg.author.display_name or msg.author.user_id} replied in the customer's thread: {msg.text}",
            f"staff-in-thread:{stored.id}",
            {},
        )
        uow.commit()
        return InboundResult(
            "relayed", "a staff member replied in the customer's thread", conversation_id=conv.id, message_id=stored.id
        )

    def _relayed(
        self,
        uow: UnitOfWork,
        stored: StoredMessage,
        conv: Conversation,
        account: Account | None,
        why: str,
        *,
        ignored: bool = False,
    ) -> InboundResult:
        """Finish a message that the bot does not answer: staff already see it in the mirror."""
        current = uow.conversations.get(conv.id)
        if current is not None and not ignored and current.status is ConversationStatus.WAITING_ON_CUSTOMER:
            current.status = ConversationStatus.OPEN  # the customer wrote: we owe them a response again
            uow.conversations.save(current)
        self._set_state(uow, stored.id, MessageState.IGNORED if ignored else MessageState.PROCESSED, conv.id)
        uow.commit()
        return InboundResult(
            "relayed", f"relayed to staff: {why}", conversation_id=conv.id, message_id=stored.id, account=account
        )

    def _record_decision(
        self,
        stored: StoredMessage,
        msg: InboundMessage,
        conv: Conversation,
        is_new: bool,
        account: Account | None,
        classification: Classification,
        decision: Decision,
        hits: list,
    ) -> InboundResult:
        now = self.clock.now()
        result = InboundResult(
            "processed",
            conversation_id=conv.id,
            message_id=stored.id,
            classification=classification,
            decision=decision,
            account=account,
            articles=tuple({"id": h.article.id, "title": h.article.title, "score": round(h.score, 4)} for h in hits),
        )
        with self.uow() as uow:
            conv = uow.conversations.get(conv.id) or conv
            if classification.intent != OUT_OF_SCOPE or conv.intent is None:
                conv.intent = classification.intent
            if classification.urgency.rank > conv.urgency.rank or is_new:
                conv.urgency = classification.urgency
            self.call_hooks("on_decision", uow, conv, account, classification, decision, is_new)
            uow.classifications.add(ClassificationRecord(new_id("cls"), conv.id, stored.id, classification, now))
            record = DecisionRecord(new_id("dec"), conv.id, stored.id, decision, account.tier if account else None, now)
            uow.decisions.add(record)
            packet = self._packet(uow, conv, account, classification, decision, msg.author.display_name)
            if is_new:
                self._queue(
                    uow,
                    conv,
                    Audience.CUSTOMER,
                    OutboundKind.REACTION,
                    "eyes",
                    f"eyes:{conv.id}",
                    {"emoji": "eyes", "message_external_id": msg.message_id},
                )
                card = presenter.mirror_card(packet)
                self._queue(
                    uow,
                    conv,
                    Audience.STAFF,
                    OutboundKind.MIRROR_OPEN,
                    card.title,
                    f"mirror:{conv.id}",
                    {"card": card.to_dict()},
                )
            best = self.policy.matching_article(classification.intent, hits)
            if decision.action is Action.ANSWER and best is not None:
                text = presenter.answer_text(best)
                citations = (presenter.citation_of(best),)
                self._queue(
                    uow,
                    conv,
                    Audience.CUSTOMER,
                    OutboundKind.ANSWER,
                    text,
                    f"answer:{stored.id}",
                    {"citations": [c.__dict__ for c in citations], "decision_id": record.id},
                )
                self._queue(
                    uow,
                    conv,
                    Audience.STAFF,
                    OutboundKind.NOTICE,
                    f"Answered automatically:\n{text}",
                    f"answer-notice:{stored.id}",
                    {},
                )
                conv.status = ConversationStatus.WAITING_ON_CUSTOMER
                result.reply, result.citations = text, citations
            elif decision.action is Action.DRAFT and best is not None:
                draft = Draft(
                    new_id("draft"),
                    conv.id,
                    record.id,
                    presenter.answer_text(best),
                    (presenter.citation_of(best),),
                    now,
                )
                uow.drafts.save(draft)
                card = presenter.draft_card(draft, packet)
                self._queue(
                    uow,
                    conv,
                    Audience.STAFF,
                    OutboundKind.DRAFT_REVIEW,
                    card.title,
                    f"draft:{draft.id}",
                    {"card": card.to_dict(), "draft_id": draft.id, "draft_text": draft.text},
                )
                conv.status = ConversationStatus.OPEN
                result.reply, result.citations, result.draft_id = draft.text, draft.citations, draft.id
            else:
                handoff = self._open_handoff(uow, conv, decision.reason, packet, stored.id)
                result.handoff_id = handoff.id
                result.reply = presenter.HANDOFF_ACK
            uow.conversations.save(conv)
            self._set_state(uow, stored.id, MessageState.PROCESSED, conv.id)
            uow.commit()
        return result

    def _open_handoff(
        self, uow: UnitOfWork, conv: Conversation, reason: str, packet: presenter.ContextPacket, key: str
    ) -> Handoff:
        handoff = Handoff(new_id("hand"), conv.id, reason, self.clock.now())
        uow.handoffs.save(handoff)
        conv.bot_handled = False
        conv.status = ConversationStatus.OPEN
        card = presenter.handoff_card(handoff, packet)
        self._queue(
            uow,
            conv,
            Audience.STAFF,
            OutboundKind.HANDOFF,
            card.title,
            f"handoff:{handoff.id}",
            {"card": card.to_dict(), "handoff_id": handoff.id},
        )
        self._queue(uow, conv, Audience.CUSTOMER, OutboundKind.SYSTEM, presenter.HANDOFF_ACK, f"handoff-ack:{key}", {})
        return handoff

    def _find_conversation(self, uow: UnitOfWork, msg: InboundMessage, now: datetime) -> Conversation | None:
        if msg.thread_id:
            conv = uow.conversations.find_by_thread(msg.platform, msg.workspace_id, msg.channel_id, msg.thread_id)
            if conv is not None:
                return conv
        if self.config.grouping_window > timedelta(0) and not msg.thread_id:
            return uow.conversations.latest_for_customer(
                msg.platform,
                msg.workspace_id,
                msg.channel_id,
                msg.author.user_id,
                now - self.config.grouping_window,
            )
        return None

    def _packet(
        self,
        uow: UnitOfWork,
        conv: Conversation,
        account: Account | None,
        classification: Classification | None,
        decision: Decision | None,
        customer_name: str = "",
    ) -> presenter.ContextPacket:
        transcript = uow.messages.for_conversation(conv.id)
        if not customer_name:
            customer_name = next((m.author_name for m in transcript if m.role is Role.CUSTOMER), "")
        return presenter.ContextPacket(conv, customer_name, account, classification, decision, transcript)

    def packet_for(self, uow: UnitOfWork, conv: Conversation) -> presenter.ContextPacket:
        """The latest context of a conversation (for adapters and commands)."""
        classes = uow.classifications.for_conversation(conv.id)
        decisions = uow.decisions.for_conversation(conv.id)
        return self._packet(
            uow,
            conv,
            self._cached_account(uow, conv),
            classes[-1].classification if classes else None,
            decisions[-1].decision if decisions else None,
        )

    @staticmethod
    def _set_state(uow: UnitOfWork, message_id: str, state: MessageState, conversation_id: str | None) -> None:
        current = uow.messages.get(message_id)
        if current is not None:
            current.state = state
            current.conversation_id = conversation_id or current.conversation_id
            uow.messages.save(current)

    def _queue(
        self,
        uow: UnitOfWork,
        conv: Conversation | None,
        audience: Audience,
        kind: OutboundKind,
        text: str,
        dedupe_key: str,
        payload: dict[str, Any],
        platform: str | None = None,
    ) -> bool:
        return uow.outbox.add(
            Outbound(
                id=new_id("out"),
                platform=platform or (conv.platform if conv else ""),
                audience=audience,
                kind=kind,
                text=text,
                dedupe_key=dedupe_key,
                created_at=self.clock.now(),
                conversation_id=conv.id if conv else None,
                payload=payload,
            )
        )

    def queue(
        self,
        uow: UnitOfWork,
        conv: Conversation | None,
        audience: Audience,
        kind: OutboundKind,
        text: str,
        dedupe_key: str,
        payload: dict[str, Any] | None = None,
        platform: str | None = None,
    ) -> bool:
        """Queue an outbound message in the caller's transaction (used by commands and operations)."""
        return self._queue(uow, conv, audience, kind, text, dedupe_key, payload or {}, platform)

    def register_model_version(self, path: str = "", data_hash: str = "", metrics: dict | None = None) -> None:
        """Record the classifier version in use, so every decision can be traced to a model."""
        with self.uow() as uow:
            active = uow.model_versions.active("intent")
            if active is None or active.id != self.classifier.version:
                uow.model_versions.add(
                    ModelVersion(self.classifier.version, "intent", path, data_hash, self.clock.now(), metrics or {})
                )
                uow.commit()

    def corrections(self, since: datetime | None = None) -> list[tuple[str, str, str]]:
        """Agents' intent corrections as (text, corrected intent, predicted intent), for retraining."""
        with self.uow() as uow:
            relabels = uow.actions.list(since=since, action="relabel")
        return [
            (a.detail.get("text", ""), a.detail["intent"], a.detail.get("predicted_intent") or "")
            for a in relabels
            if a.detail.get("text") and a.detail.get("intent")
        ]

    # ================================================================ feedback
    async def record_feedback(
        self,
        conversation_id: str,
        *,
        positive: bool,
        user_id: str,
        score: int | None = None,
        comment: str = "",
        dispatch: bool = True,
    ) -> InboundResult:
        """A customer's rating (👍/👎 or 1-5). Negative feedback on a bot answer
        reopens the conversation and hands it off with the failed answer in context."""
        now = self.clock.now()
        with self.uow() as uow:
            conv = uow.conversations.get(conversation_id)
            if conv is None:
                raise InvalidInput(f"no conversation {conversation_id}")
            if conv.customer_id != user_id:
                raise InvalidInput("only the customer of this conversation can rate it")
            uow.actions.add(
                AgentActionRecord(
                    new_id("act"),
                    user_id,
                    Role.CUSTOMER,
                    "csat",
                    now,
                    conv.id,
                    conv.id,
                    {"positive": positive, "negative": not positive, "score": score, "comment": comment[:1000]},
                )
            )
            result = InboundResult("processed", "thanks for the feedback", conversation_id=conv.id)
            open_handoffs = uow.handoffs.list(
                statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id
            )
            if not positive and conv.bot_handled and not open_handoffs:
                answers = [m for m in uow.messages.for_conversation(conv.id) if m.kind is MessageKind.BOT_ANSWER]
                failed = answers[-1].text if answers else "(no answer found)"
                decision = Decision(Action.HANDOFF, "answer_failed", "The customer said the bot's answer did not help.")
                decisions = uow.decisions.for_conversation(conv.id)
                handoff = self._hand_off_failed_answer(
                    uow,
                    conv,
                    decision,
                    failed,
                    decisions[-1].message_id if decisions else "",
                    now,
                    f"feedback:{conv.id}:{now.isoformat()}",
                )
                result.decision, result.handoff_id = decision, handoff.id
            uow.conversations.save(conv)
            uow.commit()
        if dispatch:
            await self.dispatch_outbox()
        return result

    @staticmethod
    def _failed_answer(
        uow: UnitOfWork, conv: Conversation, previous_status: ConversationStatus, text: str
    ) -> str | None:
        """The bot answer a follow-up says did not help, if it says so."""
        from supportbot.bot.lifecycle import says_not_helped

        if not conv.bot_handled or previous_status is ConversationStatus.OPEN or not says_not_helped(text):
            return None
        replies = [
            m
            for m in uow.messages.for_conversation(conv.id)
            if m.kind in (MessageKind.BOT_ANSWER, MessageKind.AGENT_REPLY)
        ]
        return replies[-1].text if replies and replies[-1].kind is MessageKind.BOT_ANSWER else None

    def _hand_off_failed_answer(
        self,
        uow: UnitOfWork,
        conv: Conversation,
        decision: Decision,
        failed: str,
        message_id: str,
        now: datetime,
        key: str | None = None,
    ) -> Handoff:
        uow.decisions.add(DecisionRecord(new_id("dec"), conv.id, message_id, decision, None, now))
        classes = uow.classifications.for_conversation(conv.id)
        packet = self._packet(
            uow, conv, self._cached_account(uow, conv), classes[-1].classification if classes else None, decision
        )
        conv.status, conv.resolved_at, conv.updated_at = ConversationStatus.OPEN, None, now
        handoff = self._open_handoff(
            uow, conv, f"{decision.reason} Failed answer: {failed[:300]}", packet, key or message_id
        )
        uow.conversations.save(conv)
        return handoff

    @staticmethod
    def _cached_account(uow: UnitOfWork, conv: Conversation) -> Account | None:
        cached = uow.accounts.get(f"id:{conv.account_id}") if conv.account_id else None
        return cached[0] if cached else None

    # ================================================================ accounts
    async def account_for(self, lookup: AccountLookup) -> Account | None:
        """CRM account for a customer, cached in the database for ``crm_cache``."""
        key = _lookup_key(lookup)
        if key is None:
            return None
        now = self.clock.now()
        with self.uow() as uow:
            cached = uow.accounts.get(key)
        if cached and now - cached[1] < self.config.crm_cache:
            return cached[0]
        try:
            account = await self.crm.find_account(lookup)
        except Exception as exc:  # a CRM outage must not stop support: use the stale copy
            log.warning("CRM lookup failed (%s); using cached account if any", type(exc).__name__)
            return cached[0] if cached else None
        if account is not None:
            with self.uow() as uow:
                uow.accounts.put(key, account, now)
                uow.accounts.put(f"id:{account.id}", account, now)
                uow.commit()
        return account

    @staticmethod
    def threshold_overrides(uow: UnitOfWork) -> dict[str, float]:
        return {k[len(THRESHOLD_PREFIX) :]: float(v) for k, v in uow.settings.items(THRESHOLD_PREFIX).items()}

    # ================================================================ outbox
    async def dispatch_outbox(self, limit: int = 100) -> DispatchStats:
        """Send what is due; failures stay pending and are retried with backoff."""
        async with self._dispatch_lock:
            sent = retried = failed = deferred = 0
            now = self.clock.now()
            with self.uow() as uow:
                due = uow.outbox.due(now, limit)
                # Messages of one conversation go out in order: nothing overtakes
                # an earlier message that is waiting for a retry. Reactions are
                # decoration and neither wait nor hold others up.
                waiting = self._waiting_since(uow, due, now)
                conversations = {
                    cid: uow.conversations.get(cid) for cid in {i.conversation_id for i in due if i.conversation_id}
                }
            for item in due:
                channel = self.channels.get(item.platform)
                held = item.conversation_id in waiting and item.created_at >= waiting[item.conversation_id]
                if channel is None or (held and item.kind is not OutboundKind.REACTION):
                    deferred += 1
                    continue
                delivery = self._delivery_for(item, conversations.get(item.conversation_id or ""))
                if delivery is None:  # the mirror thread does not exist yet
                    deferred += 1
                    continue
                if not self._claim(item):  # another replica is sending it (or already did)
                    deferred += 1
                    self._hold(waiting, item)
                    continue
                try:
                    external_id = await channel.send(item, delivery)
                except RateLimited as exc:
                    self._retry_later(item, str(exc), timedelta(seconds=max(exc.retry_after, 0.0)))
                    retried += 1
                    self._hold(waiting, item)
                    continue
                except DeliveryError as exc:
                    if exc.permanent:
                        self._give_up(item, str(exc))
                        failed += 1
                    else:
                        self._retry_later(item, str(exc), _backoff(item.attempts))
                        retried += 1
                        self._hold(waiting, item)
                    continue
                except Exception as exc:  # an adapter bug must not stop other deliveries
                    log.exception("channel %s failed to send %s", item.platform, item.id)
                    self._retry_later(item, f"{type(exc).__name__}: {exc}", _backoff(item.attempts))
                    retried += 1
                    self._hold(waiting, item)
                    continue
                self._mark_sent(item, external_id, conversations.get(item.conversation_id or ""))
                sent += 1
            return DispatchStats(sent, retried, failed, deferred)

    @staticmethod
    def _waiting_since(uow: UnitOfWork, due: list[Outbound], now: datetime) -> dict[str, datetime]:
        """Per conversation, the creation time of its oldest message waiting for a retry."""
        waiting: dict[str, datetime] = {}
        for conversation_id in {i.conversation_id for i in due if i.conversation_id}:
            for other in uow.outbox.list(conversation_id=conversation_id):
                if (
                    other.status is OutboxStatus.PENDING
                    and other.kind is not OutboundKind.REACTION
                    and (
                        (other.next_attempt_at is not None and other.next_attempt_at > now)
                        or (other.claimed_until is not None and other.claimed_until > now)
                    )
                ):
                    first = waiting.get(conversation_id)
                    waiting[conversation_id] = min(first, other.created_at) if first else other.created_at
        return waiting

    @staticmethod
    def _hold(waiting: dict[str, datetime], item: Outbound) -> None:
        if item.conversation_id and item.kind is not OutboundKind.REACTION:
            first = waiting.get(item.conversation_id)
            waiting[item.conversation_id] = min(first, item.created_at) if first else item.created_at

    @staticmethod
    def _delivery_for(item: Outbound, conv: Conversation | None) -> Delivery | None:
        if item.audience is Audience.CUSTOMER:
            if conv is None:
                return None
            return Delivery(conv.workspace_id, conv.channel_id, conv.thread_id, item.payload.get("message_external_id"))
        if item.audience is Audience.STAFF:
            if conv is None:
                return Delivery("", None, None)
            if item.kind is OutboundKind.MIRROR_OPEN:
                return Delivery(conv.workspace_id, None, None)
            if conv.staff_thread_id is None:
                return None
            return Delivery(conv.workspace_id, None, conv.staff_thread_id)
        return Delivery(conv.workspace_id if conv else "", None, None)

    def _claim(self, item: Outbound) -> bool:
        """Take ``item`` for this instance in its own committed transaction, before sending."""
        with self.uow() as uow:
            claimed = uow.outbox.claim(item.id, self._worker_id, self.clock.now(), OUTBOX_CLAIM_LEASE)
            uow.commit()
        return claimed

    def _retry_later(self, item: Outbound, error: str, delay: timedelta) -> None:
        with self.uow() as uow:
            current = uow.outbox.get(item.id)
            if current is None:
                return
            current.attempts += 1
            current.last_error = error[:500]
            current.claimed_by = current.claimed_until = None  # next_attempt_at governs the retry
            if current.attempts >= MAX_DELIVERY_ATTEMPTS:
                current.status = OutboxStatus.FAILED
                log.error("giving up on outbound %s after %d attempts: %s", item.id, current.attempts, error)
            else:
                current.next_attempt_at = self.clock.now() + delay
            uow.outbox.save(current)
            uow.commit()

    def _give_up(self, item: Outbound, error: str) -> None:
        with self.uow() as uow:
            current = uow.outbox.get(item.id)
            if current is not None:
                current.attempts += 1
                current.status, current.last_error = OutboxStatus.FAILED, error[:500]
                current.claimed_by = current.claimed_until = None
                uow.outbox.save(current)
                uow.commit()
        log.error("outbound %s failed permanently: %s", item.id, error)

    def _mark_sent(self, item: Outbound, external_id: str | None, conv: Conversation | None) -> None:
        """Record a delivery in one short transaction; ``conv`` is this dispatch run's cached copy."""
        now = self.clock.now()
        with self.uow() as uow:
            item.status, item.external_id, item.attempts = OutboxStatus.SENT, external_id, item.attempts + 1
            item.claimed_by = item.claimed_until = None
            uow.outbox.save(item)
            first_response = item.kind in (OutboundKind.ANSWER, OutboundKind.AGENT_REPLY)
            mirror = item.kind is OutboundKind.MIRROR_OPEN and external_id is not None
            if conv is not None and (mirror or (first_response and conv.first_response_at is None)):
                current = uow.conversations.get(conv.id) or conv  # fresh: others may have changed it
                if mirror:
                    current.staff_thread_id = conv.staff_thread_id = external_id
                if first_response and current.first_response_at is None:
                    current.first_response_at = conv.first_response_at = now
                uow.conversations.save(current)
            if conv is not None and item.audience is Audience.CUSTOMER and item.kind is not OutboundKind.REACTION:
                kind = {
                    OutboundKind.ANSWER: MessageKind.BOT_ANSWER,
                    OutboundKind.AGENT_REPLY: MessageKind.AGENT_REPLY,
                }.get(item.kind, MessageKind.SYSTEM)
                uow.messages.add(
                    StoredMessage(
                        id=new_id("msg"),
                        platform=conv.platform,
                        workspace_id=conv.workspace_id,
                        channel_id=conv.channel_id,
                        external_id=external_id or f"out:{item.id}",
                        conversation_id=conv.id,
                        author_id=item.payload.get("agent_id") or "supportbot",
                        author_name=item.payload.get("agent_name") or "supportbot",
                        role=Role.AGENT if kind is MessageKind.AGENT_REPLY else Role.BOT,
                        kind=kind,
                        text=item.text,
                        created_at=now,
                        thread_id=conv.thread_id,
                        raw={"outbound_id": item.id, "citations": item.payload.get("citations", [])},
                    )
                )
            uow.commit()


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 300))


def _lookup_key(lookup: AccountLookup) -> str | None:
    if lookup.account_id:
        return f"id:{lookup.account_id}"
    if lookup.slack_team_id:
        return f"slack:{lookup.slack_team_id}"
    if lookup.discord_guild_id:
        return f"discord:{lookup.discord_guild_id}"
    if lookup.email and "@" in lookup.email:
        return f"domain:{lookup.email.rsplit('@', 1)[1].lower()}"
    return None


def _raw_with_origin(msg: InboundMessage) -> dict[str, Any]:
    """The platform payload plus what recovery needs to rebuild the message."""
    origin = {"account_id": msg.account_id, "team_id": msg.author.team_id, "email": msg.author.email}
    return {**(msg.raw or {}), "_origin": origin}


def _origin(stored: StoredMessage) -> dict[str, Any]:
    return (stored.raw or {}).get("_origin") or {}


def _author_of(stored: StoredMessage) -> Author:
    origin = _origin(stored)
    return Author(
        user_id=stored.author_id,
        display_name=stored.author_name,
        role=stored.role,
        team_id=origin.get("team_id"),
        email=origin.get("email"),
    )
