"""Conversion between domain dataclasses (``bot.domain``) and table rows.

Flat entities map field by field (enums to their values, datetimes to UTC);
nested value objects go through explicit JSON codecs below so the stored
shape is stable and readable (``{"intent": ..., "top_intents": [...]}``)
rather than pickled or repr'd. The JSON decoders ignore unknown keys and fall
back to the dataclass defaults for missing ones, so adding a field to a value
object does not break reading older rows.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, TypeVar

from sqlmodel import SQLModel

from supportbot.bot.domain import (
    Account,
    Action,
    AgentActionRecord,
    Citation,
    Classification,
    ClassificationRecord,
    Conversation,
    Decision,
    DecisionRecord,
    Draft,
    Handoff,
    IntentScore,
    ModelVersion,
    Outbound,
    Sentiment,
    SlaEvent,
    StoredMessage,
    Ticket,
    Urgency,
)
from supportbot.bot.errors import InvalidInput
from supportbot.storage import tables

E = TypeVar("E")


# --------------------------------------------------------------------------- datetimes


def to_utc(value: datetime) -> datetime:
    """Aware UTC for storage; naive datetimes are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def from_db(value: datetime) -> datetime:
    """Aware UTC from what the driver returned (SQLite returns naive UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def check_text(field: str, value: str) -> str:
    """Reject NUL characters: PostgreSQL text columns cannot hold them.

    Every backend (SQLite and the in-memory fake too) rejects them the same
    way, so behaviour does not depend on the database. JSON columns are fine:
    NUL is escaped there.
    """
    if "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL character, which cannot be stored")
    return value


# --------------------------------------------------------------------------- JSON codecs


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def classification_to_json(c: Classification) -> dict[str, Any]:
    return {
        "intent": c.intent,
        "confidence": c.confidence,
        "out_of_scope": c.out_of_scope,
        "urgency": c.urgency.value,
        "sentiment": c.sentiment.value,
        "top_intents": [{"intent": s.intent, "probability": s.probability} for s in c.top_intents],
        "urgency_reasons": list(c.urgency_reasons),
        "frustration": c.frustration,
        "model_version": c.model_version,
    }


def classification_from_json(data: dict[str, Any]) -> Classification:
    d = _known(Classification, data)
    d["urgency"] = Urgency(d["urgency"])
    d["sentiment"] = Sentiment(d["sentiment"])
    d["top_intents"] = tuple(IntentScore(**_known(IntentScore, s)) for s in d.get("top_intents", ()))
    d["urgency_reasons"] = tuple(d.get("urgency_reasons", ()))
    return Classification(**d)


def decision_to_json(d: Decision) -> dict[str, Any]:
    return {
        "action": d.action.value,
        "rule": d.rule,
        "reason": d.reason,
        "scores": dict(d.scores),
        "articles": list(d.articles),
        **({"reply": d.reply} if d.reply is not None else {}),
    }


def decision_from_json(data: dict[str, Any]) -> Decision:
    d = _known(Decision, data)
    d["action"] = Action(d["action"])
    d["scores"] = dict(d.get("scores", {}))
    d["articles"] = tuple(d.get("articles", ()))
    return Decision(**d)


def citations_to_json(citations: tuple[Citation, ...]) -> list[dict[str, Any]]:
    return [{"title": c.title, "url": c.url, "article_id": c.article_id, "section": c.section} for c in citations]


def citations_from_json(data: list[dict[str, Any]]) -> tuple[Citation, ...]:
    return tuple(Citation(**_known(Citation, c)) for c in data)


def ticket_to_json(t: Ticket) -> dict[str, Any]:
    return {"id": t.id, "subject": t.subject, "status": t.status, "priority": t.priority, "opened_at": t.opened_at}


def account_to_json(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "tier": a.tier,
        "arr": a.arr,
        "renewal_date": a.renewal_date.isoformat() if a.renewal_date is not None else None,
        "owner": a.owner,
        "health": a.health,
        "slack_team_ids": list(a.slack_team_ids),
        "email_domains": list(a.email_domains),
        "discord_guild_ids": list(a.discord_guild_ids),
        "open_tickets": [ticket_to_json(t) for t in a.open_tickets],
    }


def account_from_json(data: dict[str, Any]) -> Account:
    d = _known(Account, data)
    if d.get("renewal_date") is not None:
        d["renewal_date"] = date.fromisoformat(d["renewal_date"])
    for name in ("slack_team_ids", "email_domains", "discord_guild_ids"):
        d[name] = tuple(d.get(name, ()))
    d["open_tickets"] = tuple(Ticket(**_known(Ticket, t)) for t in d.get("open_tickets", ()))
    return Account(**d)


# --------------------------------------------------------------------------- entities

# Fields that are not a plain column value: (encode, decode) per entity field.
_CODECS: dict[type, dict[str, tuple[Any, Any]]] = {
    ClassificationRecord: {"classification": (classification_to_json, classification_from_json)},
    DecisionRecord: {"decision": (decision_to_json, decision_from_json)},
    Draft: {"citations": (citations_to_json, citations_from_json)},
}

ROW_TYPES: dict[type, type[SQLModel]] = {
    Conversation: tables.ConversationRow,
    StoredMessage: tables.MessageRow,
    ClassificationRecord: tables.ClassificationRow,
    DecisionRecord: tables.DecisionRow,
    Draft: tables.DraftRow,
    Handoff: tables.HandoffRow,
    AgentActionRecord: tables.AgentActionRow,
    Outbound: tables.OutboxRow,
    ModelVersion: tables.ModelVersionRow,
    SlaEvent: tables.SlaEventRow,
}


@dataclasses.dataclass(frozen=True)
class _FieldPlan:
    name: str
    enum: type[Enum] | None
    is_datetime: bool
    is_tuple: bool


_PLANS: dict[type, tuple[_FieldPlan, ...]] = {}


def _plan(cls: type) -> tuple[_FieldPlan, ...]:
    """How each field of ``cls`` maps to a column, worked out once per class."""
    known = _PLANS.get(cls)
    if known is None:
        known = _PLANS[cls] = _make_plan(cls)
    return known


def _make_plan(cls: type) -> tuple[_FieldPlan, ...]:
    hints = typing.get_type_hints(cls)
    plans = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        enum = next((a for a in args if isinstance(a, type) and issubclass(a, Enum)), None)
        is_dt = any(a is datetime for a in args)
        is_tuple = any(typing.get_origin(a) is tuple for a in args)
        plans.append(_FieldPlan(f.name, enum, is_dt, is_tuple))
    return tuple(plans)


def to_values(entity: Any, *, copy_json: bool = True) -> dict[str, Any]:
    """Column values for ``entity`` (without the surrogate ``seq``).

    ``copy_json=False`` skips copying dict/list values; only for callers that
    serialize the values at once and keep no reference (Core statements).
    """
    cls = type(entity)
    codecs = _CODECS.get(cls, {})
    values: dict[str, Any] = {}
    for p in _plan(cls):
        value = getattr(entity, p.name)
        if p.name in codecs:
            value = codecs[p.name][0](value)
        elif value is None:
            pass
        elif p.enum is not None:
            value = p.enum(value).value
        elif isinstance(value, str):
            check_text(f"{cls.__name__}.{p.name}", value)
        elif p.is_datetime:
            value = to_utc(value)
        elif p.is_tuple:
            value = list(value)
        elif copy_json and isinstance(value, dict | list):
            value = copy.deepcopy(value)  # never alias the caller's dict into the session
        values[p.name] = value
    return values


def to_row(entity: Any) -> SQLModel:
    """A new (unsaved) row for ``entity``."""
    return ROW_TYPES[type(entity)](**to_values(entity))


def update_row(row: SQLModel, entity: Any) -> None:
    """Copy every field of ``entity`` onto an existing row."""
    for name, value in to_values(entity).items():
        setattr(row, name, value)


def from_row(cls: type[E], row: Any, *, copy_json: bool = True) -> E:
    """The domain object of type ``cls`` stored in ``row`` (a table model or a Core result row).

    ``copy_json=False`` skips copying dict/list values; only for rows whose
    JSON was freshly decoded and is referenced by nothing else (Core results).
    """
    codecs = _CODECS.get(cls, {})
    kwargs: dict[str, Any] = {}
    for p in _plan(cls):
        value = getattr(row, p.name)
        if p.name in codecs:
            value = codecs[p.name][1](value)
        elif value is None:
            pass
        elif p.enum is not None:
            value = p.enum(value)
        elif p.is_datetime:
            value = from_db(value)
        elif p.is_tuple:
            value = tuple(value)
        elif copy_json and isinstance(value, dict | list):
            value = copy.deepcopy(value)  # mutating the result must not touch the row
        kwargs[p.name] = value
    return cls(**kwargs)
