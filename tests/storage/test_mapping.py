"""Domain <-> row conversion without a database (the contract suite covers the round trip through SQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from supportbot.bot.domain import (
    Action,
    Citation,
    Classification,
    ClassificationRecord,
    Decision,
    DecisionRecord,
    Draft,
    Sentiment,
    Urgency,
)
from supportbot.storage import mapping
from supportbot.storage.tables import ClassificationRow, ConversationRow, OutboxRow
from tests.storage import builders as b

ENTITIES = sorted(b.fully_populated().items())


@pytest.mark.parametrize(("name", "entity"), ENTITIES, ids=[name for name, _ in ENTITIES])
def test_every_entity_round_trips_through_a_row(name: str, entity: object) -> None:
    row = mapping.to_row(entity)
    assert mapping.from_row(type(entity), row) == entity


@pytest.mark.parametrize(("name", "entity"), ENTITIES, ids=[name for name, _ in ENTITIES])
def test_row_values_are_json_and_sql_friendly(name: str, entity: object) -> None:
    for column, value in mapping.to_values(entity).items():
        if isinstance(value, datetime):
            assert value.utcoffset() == timedelta(0), column
        else:
            json.dumps(value)  # enums became strings, tuples lists, dataclasses dicts


def test_defaults_round_trip() -> None:
    for entity in (b.conversation(), b.message(), b.draft(citations=()), b.handoff(), b.outbound(payload={})):
        assert mapping.from_row(type(entity), mapping.to_row(entity)) == entity


def test_enums_are_stored_as_values() -> None:
    row = mapping.to_row(b.conversation(urgency=Urgency.CRITICAL))
    assert isinstance(row, ConversationRow)
    assert (row.status, row.urgency) == ("open", "critical")


def test_datetimes_written_as_utc_and_read_back_aware() -> None:
    local = datetime(2026, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=-5)))
    row = mapping.to_row(b.outbound(created_at=local))
    assert isinstance(row, OutboxRow)
    assert row.created_at == local and row.created_at.tzinfo is UTC
    row.created_at = row.created_at.replace(tzinfo=None)  # what SQLite hands back
    back = mapping.from_row(type(b.outbound()), row)
    assert back.created_at == local and back.created_at.tzinfo is UTC


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert mapping.to_utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_classification_json_shape_is_stable_and_readable() -> None:
    row = mapping.to_row(b.classification())
    assert isinstance(row, ClassificationRow)
    assert row.classification == {
        "intent": "billing_refund",
        "confidence": 0.87,
        "out_of_scope": False,
        "urgency": "high",
        "sentiment": "negative",
        "top_intents": [
            {"intent": "billing_refund", "probability": 0.87},
            {"intent": "billing_invoice", "probability": 0.08},
        ],
        "urgency_reasons": ["caps", "'asap'"],
        "frustration": 0.6,
        "model_version": "intent-2026-03-01",
    }


def test_json_decoders_tolerate_older_and_newer_shapes() -> None:
    old = {"intent": "x", "confidence": 0.5, "out_of_scope": False, "urgency": "low", "sentiment": "neutral"}
    expected = Classification("x", 0.5, False, Urgency.LOW, Sentiment.NEUTRAL)
    assert mapping.classification_from_json(old) == expected
    newer = {"action": "answer", "rule": "r", "reason": "why", "added_later": 1}
    assert mapping.decision_from_json(newer) == Decision(Action.ANSWER, "r", "why")
    assert mapping.citations_from_json([{"title": "t", "url": "u", "article_id": "a", "rank": 1}]) == (
        Citation("t", "u", "a"),
    )
    acct = mapping.account_from_json({"id": "a", "name": "A", "segment": "smb"})
    assert acct.id == "a" and acct.open_tickets == () and acct.renewal_date is None


def test_account_codec_round_trips() -> None:
    acct = b.account()
    data = mapping.account_to_json(acct)
    assert json.loads(json.dumps(data)) == data
    assert mapping.account_from_json(data) == acct


def test_mutating_a_loaded_entity_does_not_touch_the_row() -> None:
    row = mapping.to_row(b.outbound(payload={"a": [1]}))
    loaded = mapping.from_row(type(b.outbound()), row)
    loaded.payload["a"].append(2)
    assert row.payload == {"a": [1]}  # type: ignore[attr-defined]


def test_nested_records_keep_their_types() -> None:
    cls_record = mapping.from_row(ClassificationRecord, mapping.to_row(b.classification()))
    assert isinstance(cls_record.classification.top_intents, tuple)
    assert cls_record.classification.urgency is Urgency.HIGH
    dec = mapping.from_row(DecisionRecord, mapping.to_row(b.decision()))
    assert dec.decision.articles == ("refunds", "invoices") and dec.decision.action is Action.DRAFT
    draft = mapping.from_row(Draft, mapping.to_row(b.draft()))
    assert isinstance(draft.citations, tuple) and isinstance(draft.citations[0], Citation)
