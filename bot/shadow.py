"""Shadow mode: decide and record as usual, post nothing where customers read, show staff what it would have sent.

A team trials the bot on live traffic this way before switching it on. Each decision is stored
flagged ``shadow``; when an agent then replies in the customer's thread themselves, their reply is
compared with the bot's would-be answer (the same article cited, or the same intent) and the result
is kept with the decision, so the metrics can say how often the bot agreed with the team.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supportbot.bot import presenter
from supportbot.bot.answers import MARKDOWN
from supportbot.bot.domain import (
    OUT_OF_SCOPE,
    Account,
    Action,
    Audience,
    Conversation,
    ConversationStatus,
    Decision,
    InboundMessage,
    OutboundKind,
    StoredMessage,
)
from supportbot.bot.events import Event
from supportbot.bot.ports import UnitOfWork
from supportbot.bot.triage import Verdict

if TYPE_CHECKING:
    from supportbot.bot.intake import InboundResult, Intake

ARTICLE, INTENT, NONE = "article", "intent", "none"
_WOULD = {
    Action.ANSWER: "answered automatically",
    Action.DRAFT: "written a draft for an agent to approve",
    Action.HANDOFF: "handed this to a person",
}


def record_shadow(
    intake: Intake,
    uow: UnitOfWork,
    stored: StoredMessage,
    msg: InboundMessage,
    conv: Conversation,
    is_new: bool,
    events: list[Event],
    verdict: Verdict,
    decision: Decision,
    account: Account | None,
    crm_unavailable: bool = False,
) -> InboundResult:
    """Record the decision flagged shadow; the triage thread shows what the bot would have sent."""
    from supportbot.bot.intake import InboundResult

    classification = verdict.classification
    assert classification is not None
    record = intake.record_decision(uow, stored, conv, is_new, events, classification, decision, account, shadow=True)
    if is_new:
        packet = intake.packet_for(uow, stored, msg, conv, is_new, verdict, decision, account, crm_unavailable)
        intake.open_mirror(uow, conv, packet)
    reply = verdict.reply if decision.action is not Action.HANDOFF else None
    best = next(
        (h for h in verdict.source if reply and reply.citations and h.article.id == reply.citations[0].article_id), None
    )
    would_send = reply.text if reply is not None else None
    if decision.action is Action.HANDOFF:
        would_send = presenter.HANDOFF_ACK
    text = (
        f"Shadow mode: nothing was posted to the customer. The bot would have {_WOULD[decision.action]} "
        f"({decision.rule}): {decision.reason}"
    )
    if would_send:
        text += f"\nIt would have sent:\n{would_send}"
    payload: dict[str, Any] = {
        "shadow": True,
        "decision_id": record.id,
        "action": decision.action.value,
        "rule": decision.rule,
        "intent": classification.intent,
        "would_send": would_send,
        "article_id": best.article.id if best else None,
        "article_title": best.article.title if best else None,
        "article_url": best.article.url if best else None,
    }
    if reply is not None:
        payload["format"] = MARKDOWN  # the would-be reply renders as it would have for the customer
        payload["composer"] = reply.composer
    intake.outbox.queue(uow, conv, Audience.STAFF, OutboundKind.NOTICE, text, f"shadow:{record.id}", payload)
    conv.status = ConversationStatus.OPEN
    uow.conversations.save(conv)
    return InboundResult(
        "processed",
        f"shadow mode: {decision.reason}",
        conversation_id=conv.id,
        message_id=stored.id,
        classification=classification,
        decision=decision,
        account=account,
        articles=verdict.articles(),
    )


def agreement(would: dict[str, Any], reply: str, reply_intent: str | None) -> str:
    """How an agent's reply compares with the bot's would-be answer: same article, same intent, or neither."""
    lowered = reply.lower()
    for key in ("article_url", "article_title"):
        value = would.get(key)
        if value and str(value).lower() in lowered:
            return ARTICLE
    if reply_intent and reply_intent == would.get("intent") and reply_intent != OUT_OF_SCOPE:
        return INTENT
    return NONE


def compare_shadow(uow: UnitOfWork, conv: Conversation, reply: str, reply_intent: str | None) -> None:
    """An agent replied in a shadow conversation: compare the first such reply with the latest shadow decision."""
    for record in reversed(uow.decisions.for_conversation(conv.id)):
        if not record.shadow:
            continue
        if record.shadow_agreement is None:
            notice = uow.outbox.find(f"shadow:{record.id}")
            uow.decisions.set_shadow_agreement(
                record.id, agreement(notice.payload if notice else {}, reply, reply_intent)
            )
        return
