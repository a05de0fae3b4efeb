"""The repository/unit-of-work contract of ``bot.ports``, run against every backend.

The same tests run on the in-memory fake (``tests/fakes``), SQLite and
PostgreSQL, so the fake the core tests rely on cannot drift from the real thing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from supportbot.bot.domain import (
    AgentActionRecord,
    ConversationStatus,
    DraftStatus,
    HandoffStatus,
    MessageState,
    ModelStatus,
    OutboxStatus,
)
from supportbot.bot.errors import Conflict, DuplicateDelivery, InvalidInput, NotFound
from supportbot.bot.ports import UnitOfWorkFactory
from tests.storage import builders as b
from tests.storage.builders import T0, at

# --------------------------------------------------------------------------- transactions


def test_commit_makes_changes_visible_to_later_units_of_work(uow_factory: UnitOfWorkFactory) -> None:
    c = b.conversation()
    with uow_factory() as uow:
        uow.conversations.save(c)
        uow.commit()
    with uow_factory() as uow:
        assert uow.conversations.get(c.id) == c


def test_leaving_the_block_without_commit_discards(uow_factory: UnitOfWorkFactory) -> None:
    c = b.conversation()
    with uow_factory() as uow:
        uow.conversations.save(c)
        uow.messages.add(b.message())
    with uow_factory() as uow:
        assert uow.conversations.get(c.id) is None
        assert uow.messages.list() == []


def test_rollback_discards_only_uncommitted_work(uow_factory: UnitOfWorkFactory) -> None:
    kept, dropped = b.conversation(), b.conversation()
    with uow_factory() as uow:
        uow.conversations.save(kept)
        uow.commit()
        uow.conversations.save(dropped)
        uow.rollback()
        assert uow.conversations.get(dropped.id) is None
        assert uow.conversations.get(kept.id) == kept


def test_uncommitted_changes_are_invisible_to_other_units_of_work(uow_factory: UnitOfWorkFactory) -> None:
    c = b.conversation()
    with uow_factory() as writer:
        writer.conversations.save(c)
        with uow_factory() as reader:
            assert reader.conversations.get(c.id) is None
        writer.commit()
    with uow_factory() as reader:
        assert reader.conversations.get(c.id) == c


def test_exception_in_block_rolls_back(uow_factory: UnitOfWorkFactory) -> None:
    c = b.conversation()
    with pytest.raises(RuntimeError), uow_factory() as uow:
        uow.conversations.save(c)
        raise RuntimeError("boom")
    with uow_factory() as uow:
        assert uow.conversations.get(c.id) is None


def test_returned_objects_are_copies(uow_factory: UnitOfWorkFactory) -> None:
    c, m, o = b.conversation(), b.message(raw={"k": [1]}), b.outbound()
    with uow_factory() as uow:
        uow.conversations.save(c)
        uow.messages.add(m)
        uow.outbox.add(o)
        uow.settings.set("thresholds", {"*": 0.8})
        uow.commit()
    c.status = ConversationStatus.RESOLVED  # mutating the saved object afterwards changes nothing
    with uow_factory() as uow:
        got = uow.conversations.get(c.id)
        got.status = ConversationStatus.RESOLVED
        msg = uow.messages.get(m.id)
        msg.raw["k"].append(2)
        out = uow.outbox.get(o.id)
        out.payload["x"] = 1
        uow.settings.get("thresholds")["*"] = 0.1
        assert uow.conversations.get(c.id).status == ConversationStatus.OPEN
        assert uow.messages.get(m.id).raw == {"k": [1]}
        assert "x" not in uow.outbox.get(o.id).payload
        assert uow.settings.get("thresholds") == {"*": 0.8}
        uow.commit()
    with uow_factory() as uow:
        assert uow.conversations.get(c.id).status == ConversationStatus.OPEN


# --------------------------------------------------------------------------- messages


def test_duplicate_delivery_raises_and_transaction_stays_usable(uow_factory: UnitOfWorkFactory) -> None:
    first = b.message(external_id="1700000000.000100")
    c = b.conversation()
    with uow_factory() as uow:
        uow.messages.add(first)
        uow.commit()
    retry = b.message(external_id="1700000000.000100", text="retried")
    other = b.message()
    with uow_factory() as uow:
        uow.conversations.save(c)  # work done before the duplicate must survive it
        with pytest.raises(DuplicateDelivery):
            uow.messages.add(retry)
        uow.messages.add(other)
        uow.commit()
    with uow_factory() as uow:
        assert uow.conversations.get(c.id) == c
        assert uow.messages.get(other.id) == other
        assert uow.messages.get(retry.id) is None
        assert uow.messages.get(first.id).text == "hello"


def test_duplicate_within_the_same_transaction(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.messages.add(b.message(external_id="42"))
        with pytest.raises(DuplicateDelivery):
            uow.messages.add(b.message(external_id="42"))
        uow.commit()
    with uow_factory() as uow:
        assert len(uow.messages.list()) == 1


def test_same_external_id_in_another_channel_is_not_a_duplicate(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.messages.add(b.message(external_id="42", channel_id="C1"))
        uow.messages.add(b.message(external_id="42", channel_id="C2"))
        uow.messages.add(b.message(external_id="42", workspace_id="T2"))
        uow.messages.add(b.message(external_id="42", platform="discord"))
        uow.commit()
    with uow_factory() as uow:
        assert len(uow.messages.list()) == 4


def test_message_save_updates_state(uow_factory: UnitOfWorkFactory) -> None:
    m = b.message(state=MessageState.RECEIVED)
    with uow_factory() as uow:
        uow.messages.add(m)
        uow.commit()
    with uow_factory() as uow:
        got = uow.messages.get(m.id)
        got.state, got.conversation_id = MessageState.PROCESSED, "conv_9"
        uow.messages.save(got)
        uow.commit()
    with uow_factory() as uow:
        assert uow.messages.get(m.id).state == MessageState.PROCESSED
        assert uow.messages.in_state(MessageState.RECEIVED) == []
        assert [x.id for x in uow.messages.for_conversation("conv_9")] == [m.id]


def test_messages_oldest_first_and_in_state_limit(uow_factory: UnitOfWorkFactory) -> None:
    late = b.message(conversation_id="c", created_at=at(5), state=MessageState.RECEIVED)
    early = b.message(conversation_id="c", created_at=at(1), state=MessageState.RECEIVED)
    tie_a = b.message(conversation_id="c", created_at=at(3), state=MessageState.RECEIVED)
    tie_b = b.message(conversation_id="c", created_at=at(3))
    with uow_factory() as uow:
        for m in (late, early, tie_a, tie_b):
            uow.messages.add(m)
        uow.commit()
    with uow_factory() as uow:
        assert [m.id for m in uow.messages.for_conversation("c")] == [early.id, tie_a.id, tie_b.id, late.id]
        assert [m.id for m in uow.messages.in_state(MessageState.RECEIVED, limit=2)] == [early.id, tie_a.id]
        assert [m.id for m in uow.messages.list(since=at(3))] == [tie_a.id, tie_b.id, late.id]


def test_long_text_and_control_characters_are_stored_intact(uow_factory: UnitOfWorkFactory) -> None:
    long_text = ("Ünïcödé 🚀 " * 4000)[:40_000]
    weird = (
        "tab\there\nnew\r\nline \x01\x02\x07\x08\x0b\x0c\x1b[31m red \x1f\x7f"
        " \u2028\u2029 \ufeff 'quote\" \\ %_ \ud7ff \U0001f600"
    )
    m1, m2 = b.message(text=long_text), b.message(text=weird, author_name="Zoë \x1b", raw={"text": weird})
    with uow_factory() as uow:
        uow.messages.add(m1)
        uow.messages.add(m2)
        uow.commit()
    with uow_factory() as uow:
        assert len(long_text) == 40_000
        assert uow.messages.get(m1.id).text == long_text
        assert uow.messages.get(m2.id) == m2


def test_nul_in_text_is_rejected_alike_and_transaction_stays_usable(uow_factory: UnitOfWorkFactory) -> None:
    ok = b.message(raw={"escaped in JSON": "a\x00b"})  # JSON can hold NUL
    with uow_factory() as uow:
        with pytest.raises(InvalidInput):
            uow.messages.add(b.message(text="a\x00b"))
        with pytest.raises(InvalidInput):
            uow.settings.set("bad\x00key", 1)
        uow.messages.add(ok)
        uow.commit()
    with uow_factory() as uow:
        assert uow.messages.list() == [ok]


# --------------------------------------------------------------------------- conversations


def test_find_by_thread_and_staff_thread(uow_factory: UnitOfWorkFactory) -> None:
    c = b.conversation(thread_id="100.1", staff_thread_id="200.2")
    other = b.conversation(thread_id="100.2", staff_thread_id="200.3")
    with uow_factory() as uow:
        uow.conversations.save(c)
        uow.conversations.save(other)
        uow.commit()
    with uow_factory() as uow:
        assert uow.conversations.find_by_thread("slack", "T1", "C1", "100.1") == c
        assert uow.conversations.find_by_thread("slack", "T1", "C2", "100.1") is None
        assert uow.conversations.find_by_staff_thread("slack", "200.2") == c
        assert uow.conversations.find_by_staff_thread("discord", "200.2") is None
        assert uow.conversations.find_by_staff_thread("slack", "999") is None


def test_second_conversation_for_the_same_thread_conflicts(uow_factory: UnitOfWorkFactory) -> None:
    c = b.conversation(thread_id="100.1")
    with uow_factory() as uow:
        uow.conversations.save(c)
        with pytest.raises(Conflict):
            uow.conversations.save(b.conversation(thread_id="100.1"))
        uow.commit()  # still usable
    with uow_factory() as uow:
        assert [x.id for x in uow.conversations.list()] == [c.id]


def test_latest_for_customer_window(uow_factory: UnitOfWorkFactory) -> None:
    old = b.conversation(customer_id="U1", updated_at=at(-30))
    recent = b.conversation(customer_id="U1", updated_at=at(-2))
    newest_resolved = b.conversation(customer_id="U1", updated_at=at(-1), status=ConversationStatus.RESOLVED)
    other_customer = b.conversation(customer_id="U2", updated_at=at(0))
    other_channel = b.conversation(customer_id="U1", channel_id="C2", updated_at=at(0))
    boundary = b.conversation(customer_id="U3", updated_at=at(-5), status=ConversationStatus.WAITING_ON_CUSTOMER)
    with uow_factory() as uow:
        for c in (old, recent, newest_resolved, other_customer, other_channel, boundary):
            uow.conversations.save(c)
        uow.commit()
    repo_args = ("slack", "T1", "C1")
    with uow_factory() as uow:
        repo = uow.conversations
        assert repo.latest_for_customer(*repo_args, "U1", at(-5)) == recent
        assert repo.latest_for_customer(*repo_args, "U1", at(-60)) == recent  # newest wins
        assert repo.latest_for_customer(*repo_args, "U1", at(-1)) is None  # only resolved one is that new
        assert repo.latest_for_customer(*repo_args, "U3", at(-5)) == boundary  # since is inclusive
        assert repo.latest_for_customer(*repo_args, "U3", at(-5) + timedelta(microseconds=1)) is None
        # a since in another timezone means the same instant
        assert repo.latest_for_customer(*repo_args, "U3", at(-5).astimezone(timezone(timedelta(hours=-7)))) == boundary


def test_conversation_list_filters_oldest_first(uow_factory: UnitOfWorkFactory) -> None:
    c1 = b.conversation(created_at=at(1))
    c2 = b.conversation(created_at=at(2), status=ConversationStatus.RESOLVED)
    c3 = b.conversation(created_at=at(3), status=ConversationStatus.WAITING_ON_CUSTOMER)
    with uow_factory() as uow:
        for c in (c3, c1, c2):
            uow.conversations.save(c)
        uow.commit()
    with uow_factory() as uow:
        ids = lambda xs: [x.id for x in xs]  # noqa: E731
        assert ids(uow.conversations.list()) == [c1.id, c2.id, c3.id]
        waiting = [ConversationStatus.OPEN, ConversationStatus.WAITING_ON_CUSTOMER]
        assert ids(uow.conversations.list(statuses=waiting)) == [c1.id, c3.id]
        assert ids(uow.conversations.list(statuses=[])) == []
        assert ids(uow.conversations.list(since=at(2))) == [c2.id, c3.id]
        assert ids(uow.conversations.list(limit=2)) == [c1.id, c2.id]


def test_conversation_save_updates_every_field(uow_factory: UnitOfWorkFactory) -> None:
    c = b.conversation()
    with uow_factory() as uow:
        uow.conversations.save(c)
        uow.commit()
    full = b.fully_populated()["conversation"]
    full.id, full.thread_id = c.id, c.thread_id
    with uow_factory() as uow:
        uow.conversations.save(full)
        uow.commit()
    with uow_factory() as uow:
        assert uow.conversations.get(c.id) == full
        assert len(uow.conversations.list()) == 1


# --------------------------------------------------------------------------- datetimes and JSON


def test_aware_datetimes_round_trip_as_utc(uow_factory: UnitOfWorkFactory) -> None:
    tokyo = timezone(timedelta(hours=9))
    created = datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=tokyo)
    due = created + timedelta(hours=1)
    c = b.conversation(created_at=created, updated_at=created, first_response_due_at=due)
    with uow_factory() as uow:
        uow.conversations.save(c)
        uow.commit()
    with uow_factory() as uow:
        got = uow.conversations.get(c.id)
    assert got.created_at == created and got.first_response_due_at == due
    for value in (got.created_at, got.updated_at, got.first_response_due_at):
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    assert got.resolved_at is None


def test_every_entity_round_trips_with_all_fields(uow_factory: UnitOfWorkFactory) -> None:
    full = b.fully_populated()
    with uow_factory() as uow:
        uow.conversations.save(full["conversation"])
        uow.messages.add(full["message"])
        uow.classifications.add(full["classification"])
        uow.decisions.add(full["decision"])
        uow.drafts.save(full["draft"])
        uow.handoffs.save(full["handoff"])
        uow.actions.add(full["action"])
        uow.outbox.add(full["outbound"])
        uow.model_versions.add(full["model_version"])
        uow.commit()
    with uow_factory() as uow:
        assert uow.conversations.get(full["conversation"].id) == full["conversation"]
        assert uow.messages.get(full["message"].id) == full["message"]
        assert uow.classifications.for_conversation("conv_1") == [full["classification"]]
        assert uow.decisions.get(full["decision"].id) == full["decision"]
        assert uow.drafts.get(full["draft"].id) == full["draft"]
        assert uow.handoffs.get(full["handoff"].id) == full["handoff"]
        assert uow.actions.list() == [full["action"]]
        assert uow.outbox.get(full["outbound"].id) == full["outbound"]
        assert uow.model_versions.active("intent") == full["model_version"]


def test_json_payloads_round_trip(uow_factory: UnitOfWorkFactory) -> None:
    payload = {
        "card": {"title": "Draft", "fields": [{"label": "Intent", "value": "billing"}], "buttons": []},
        "emoji": "white_check_mark",
        "n": 3,
        "ratio": 0.25,
        "flag": False,
        "none": None,
        "unicode": "日本語 🚀",
        "nested": [[1, 2], {"a": {"b": [None]}}],
    }
    o = b.outbound(payload=payload)
    with uow_factory() as uow:
        uow.outbox.add(o)
        uow.settings.set("payload", payload)
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.get(o.id).payload == payload
        assert uow.settings.get("payload") == payload


# --------------------------------------------------------------------------- outbox


def test_outbox_dedupe(uow_factory: UnitOfWorkFactory) -> None:
    first = b.outbound(dedupe_key="answer:msg_1")
    with uow_factory() as uow:
        assert uow.outbox.add(first) is True
        assert uow.outbox.add(b.outbound(dedupe_key="answer:msg_1", text="again")) is False
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.add(b.outbound(dedupe_key="answer:msg_1")) is False  # across transactions
        assert uow.outbox.add(b.outbound(dedupe_key="answer:msg_2")) is True  # still usable
        uow.commit()
    with uow_factory() as uow:
        assert [o.dedupe_key for o in uow.outbox.list()] == ["answer:msg_1", "answer:msg_2"]
        assert uow.outbox.get(first.id).text == "answer"


def test_outbox_due(uow_factory: UnitOfWorkFactory) -> None:
    now = at(10)
    never_tried = b.outbound(created_at=at(3))
    retry_now = b.outbound(created_at=at(1), next_attempt_at=now, attempts=1)
    retry_later = b.outbound(created_at=at(0), next_attempt_at=now + timedelta(seconds=1), attempts=1)
    sent = b.outbound(created_at=at(2), status=OutboxStatus.SENT, external_id="1")
    failed = b.outbound(created_at=at(2), status=OutboxStatus.FAILED)
    with uow_factory() as uow:
        for o in (never_tried, retry_now, retry_later, sent, failed):
            assert uow.outbox.add(o)
        uow.commit()
    with uow_factory() as uow:
        assert [o.id for o in uow.outbox.due(now)] == [retry_now.id, never_tried.id]
        assert [o.id for o in uow.outbox.due(now, limit=1)] == [retry_now.id]
        assert [o.id for o in uow.outbox.due(now + timedelta(minutes=1))] == [
            retry_later.id,
            retry_now.id,
            never_tried.id,
        ]
        # due() takes an instant: the same moment in another timezone gives the same answer
        assert len(uow.outbox.due(now.astimezone(timezone(timedelta(hours=5))))) == 2
        item = uow.outbox.get(never_tried.id)
        item.status, item.external_id, item.attempts = OutboxStatus.SENT, "1700.1", 1
        uow.outbox.save(item)
        assert [o.id for o in uow.outbox.due(now)] == [retry_now.id]
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.get(never_tried.id).external_id == "1700.1"
        assert {o.id for o in uow.outbox.list(conversation_id="conv_1")} == {
            never_tried.id,
            retry_now.id,
            retry_later.id,
            sent.id,
            failed.id,
        }
        assert uow.outbox.list(conversation_id="nope") == []


LEASE = timedelta(seconds=60)


def test_outbox_claim_second_claimer_loses_until_the_lease_expires(uow_factory: UnitOfWorkFactory) -> None:
    now = at(10)
    item = b.outbound(created_at=at(1))
    with uow_factory() as uow:
        uow.outbox.add(item)
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.claim(item.id, "worker_a", now, LEASE) is True
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.claim(item.id, "worker_b", now, LEASE) is False
        assert uow.outbox.claim(item.id, "worker_a", now, LEASE) is False  # a claim is not re-entrant
        assert uow.outbox.claim(item.id, "worker_b", now + LEASE - timedelta(microseconds=1), LEASE) is False
        stored = uow.outbox.get(item.id)
        assert (stored.claimed_by, stored.claimed_until) == ("worker_a", now + LEASE)
        assert stored.status is OutboxStatus.PENDING
    with uow_factory() as uow:  # the sender crashed: once the lease has run out, another takes over
        later = now + LEASE
        assert uow.outbox.claim(item.id, "worker_b", later.astimezone(timezone(timedelta(hours=-3))), LEASE)
        uow.commit()
    with uow_factory() as uow:
        stored = uow.outbox.get(item.id)
        assert (stored.claimed_by, stored.claimed_until) == ("worker_b", now + 2 * LEASE)
        assert uow.outbox.claim("out_missing", "worker_a", now, LEASE) is False


def test_outbox_claim_is_undone_by_rollback(uow_factory: UnitOfWorkFactory) -> None:
    item = b.outbound()
    with uow_factory() as uow:
        uow.outbox.add(item)
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.claim(item.id, "worker_a", at(10), LEASE)
    with uow_factory() as uow:
        assert uow.outbox.claim(item.id, "worker_b", at(10), LEASE)


def test_outbox_sent_or_failed_items_cannot_be_claimed(uow_factory: UnitOfWorkFactory) -> None:
    sent = b.outbound(status=OutboxStatus.SENT, external_id="1")
    failed = b.outbound(status=OutboxStatus.FAILED)
    with uow_factory() as uow:
        uow.outbox.add(sent)
        uow.outbox.add(failed)
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.claim(sent.id, "worker_a", at(10), LEASE) is False
        assert uow.outbox.claim(failed.id, "worker_a", at(10), LEASE) is False
        assert uow.outbox.get(sent.id).claimed_by is None
    # marking a claimed item sent ends the claim for good
    item = b.outbound()
    with uow_factory() as uow:
        uow.outbox.add(item)
        assert uow.outbox.claim(item.id, "worker_a", at(10), LEASE)
        done = uow.outbox.get(item.id)
        done.status, done.claimed_by, done.claimed_until = OutboxStatus.SENT, None, None
        uow.outbox.save(done)
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.claim(item.id, "worker_b", at(10), LEASE) is False
        assert uow.outbox.due(at(10)) == []


def test_outbox_due_skips_items_with_an_unexpired_claim(uow_factory: UnitOfWorkFactory) -> None:
    now = at(10)
    claimed = b.outbound(created_at=at(1))
    free = b.outbound(created_at=at(2))
    with uow_factory() as uow:
        uow.outbox.add(claimed)
        uow.outbox.add(free)
        assert uow.outbox.claim(claimed.id, "worker_a", now, LEASE)
        assert [o.id for o in uow.outbox.due(now)] == [free.id]  # within the claiming transaction too
        uow.commit()
    with uow_factory() as uow:
        assert [o.id for o in uow.outbox.due(now)] == [free.id]
        assert [o.id for o in uow.outbox.due(now + LEASE - timedelta(seconds=1))] == [free.id]
        assert [o.id for o in uow.outbox.due(now + LEASE)] == [claimed.id, free.id]  # expired: due again


# --------------------------------------------------------------------------- drafts, hand-offs, actions


def test_drafts_filter_and_update(uow_factory: UnitOfWorkFactory) -> None:
    d1 = b.draft(created_at=at(1))
    d2 = b.draft(created_at=at(2), conversation_id="conv_2")
    with uow_factory() as uow:
        uow.drafts.save(d2)
        uow.drafts.save(d1)
        uow.commit()
    with uow_factory() as uow:
        d = uow.drafts.get(d1.id)
        d.status, d.decided_by, d.decided_at = DraftStatus.APPROVED, "A1", at(3)
        uow.drafts.save(d)
        uow.commit()
    with uow_factory() as uow:
        assert [d.id for d in uow.drafts.list()] == [d1.id, d2.id]
        assert [d.id for d in uow.drafts.list(status=DraftStatus.PENDING)] == [d2.id]
        assert [d.id for d in uow.drafts.list(conversation_id="conv_1")] == [d1.id]
        assert [d.id for d in uow.drafts.list(since=at(2))] == [d2.id]
        assert uow.drafts.get(d1.id).decided_at == at(3)
        assert uow.drafts.get("missing") is None


def test_handoffs_filter(uow_factory: UnitOfWorkFactory) -> None:
    h1 = b.handoff(created_at=at(1))
    h2 = b.handoff(created_at=at(2), status=HandoffStatus.CLAIMED, claimed_by="A1", claimed_at=at(2))
    h3 = b.handoff(created_at=at(3), status=HandoffStatus.RESOLVED, conversation_id="conv_2")
    with uow_factory() as uow:
        for h in (h3, h2, h1):
            uow.handoffs.save(h)
        uow.commit()
    with uow_factory() as uow:
        ids = lambda xs: [x.id for x in xs]  # noqa: E731
        assert ids(uow.handoffs.list()) == [h1.id, h2.id, h3.id]
        assert ids(uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED])) == [h1.id, h2.id]
        assert ids(uow.handoffs.list(conversation_id="conv_2")) == [h3.id]
        assert ids(uow.handoffs.list(since=at(2), statuses=[HandoffStatus.CLAIMED])) == [h2.id]


def test_actions_classifications_decisions_lists(uow_factory: UnitOfWorkFactory) -> None:
    a1 = b.action(created_at=at(1), action="claim")
    a2 = b.action(created_at=at(2))
    c1, c2 = b.classification(created_at=at(1)), b.classification(created_at=at(2), conversation_id="conv_2")
    d1, d2 = b.decision(created_at=at(2)), b.decision(created_at=at(1))
    with uow_factory() as uow:
        for a in (a2, a1):
            uow.actions.add(a)
        for c in (c2, c1):
            uow.classifications.add(c)
        for d in (d1, d2):
            uow.decisions.add(d)
        uow.commit()
    with uow_factory() as uow:
        assert [a.id for a in uow.actions.list()] == [a1.id, a2.id]
        assert [a.id for a in uow.actions.list(action="claim")] == [a1.id]
        assert [a.id for a in uow.actions.list(since=at(2))] == [a2.id]
        assert [c.id for c in uow.classifications.list()] == [c1.id, c2.id]
        assert [c.id for c in uow.classifications.list(since=at(2))] == [c2.id]
        assert uow.classifications.for_conversation("conv_2") == [c2]
        assert [d.id for d in uow.decisions.for_conversation("conv_1")] == [d2.id, d1.id]
        assert [d.id for d in uow.decisions.list(since=at(2))] == [d1.id]
        assert uow.decisions.get("missing") is None


def test_action_detail_defaults_to_empty_dict(uow_factory: UnitOfWorkFactory) -> None:
    a = AgentActionRecord(id="act_x", actor_id="M1", actor_role=b.Role.MANAGER, action="threshold", created_at=T0)
    with uow_factory() as uow:
        uow.actions.add(a)
        uow.commit()
    with uow_factory() as uow:
        assert uow.actions.list() == [a]


# --------------------------------------------------------------------------- account cache, models, settings


def test_account_cache_put_get_overwrite(uow_factory: UnitOfWorkFactory) -> None:
    acct = b.account()
    with uow_factory() as uow:
        assert uow.accounts.get("slack:T1") is None
        uow.accounts.put("slack:T1", acct, at(0))
        uow.commit()
    with uow_factory() as uow:
        got, fetched = uow.accounts.get("slack:T1")
        assert got == acct and got.renewal_date == date(2026, 9, 30)
        assert fetched == at(0) and fetched.tzinfo is not None
        uow.accounts.put("slack:T1", b.account(tier="pro", renewal_date=None, open_tickets=()), at(5))
        uow.commit()
    with uow_factory() as uow:
        got, fetched = uow.accounts.get("slack:T1")
        assert (got.tier, got.renewal_date, got.open_tickets, fetched) == ("pro", None, (), at(5))


def test_model_versions_status_and_current(uow_factory: UnitOfWorkFactory) -> None:
    v1 = b.model_version(created_at=at(1))
    v2 = b.model_version(created_at=at(2))
    other_kind = b.model_version(kind="urgency", created_at=at(3), status=ModelStatus.CURRENT)
    with uow_factory() as uow:
        assert uow.model_versions.current("intent") is None
        for v in (v2, v1, other_kind):
            uow.model_versions.add(v)
        with pytest.raises(Conflict):
            uow.model_versions.add(v1)
        uow.commit()
    with uow_factory() as uow:
        assert uow.model_versions.current("intent") is None  # candidates are not current
        assert uow.model_versions.current("urgency").id == other_kind.id
        assert [v.id for v in uow.model_versions.list("intent")] == [v1.id, v2.id]
        assert uow.model_versions.get(v2.id) == v2
        assert uow.model_versions.get("missing") is None
        assert uow.model_versions.make_current(v1.id, promoted_at=at(10)) is None
        previous = uow.model_versions.make_current(v2.id, promoted_at=at(20))
        assert previous is not None and previous.id == v1.id
        uow.commit()
    with uow_factory() as uow:
        got = {v.id: (v.status, v.promoted_at) for v in uow.model_versions.list()}
        assert got[v1.id] == (ModelStatus.RETIRED, at(10))
        assert got[v2.id] == (ModelStatus.CURRENT, at(20))
        assert got[other_kind.id][0] is ModelStatus.CURRENT  # another kind is left alone
        # a rollback keeps the promotion time of the version it returns to
        uow.model_versions.make_current(v1.id, promoted_at=None)
        assert uow.model_versions.current("intent").promoted_at == at(10)
        uow.model_versions.set_status(v2.id, ModelStatus.CANDIDATE)
        assert uow.model_versions.get(v2.id).status is ModelStatus.CANDIDATE
        with pytest.raises(NotFound):
            uow.model_versions.make_current("missing", promoted_at=at(30))
        with pytest.raises(NotFound):
            uow.model_versions.set_status("missing", ModelStatus.RETIRED)
        # adding a current version retires the previous one
        v3 = b.model_version(created_at=at(4), status=ModelStatus.CURRENT, promoted_at=at(40))
        uow.model_versions.add(v3)
        assert uow.model_versions.current("intent").id == v3.id
        assert uow.model_versions.get(v1.id).status is ModelStatus.RETIRED


def test_a_second_current_version_is_refused_by_the_schema(backend: str, uow_factory: UnitOfWorkFactory) -> None:
    if backend == "memory":
        pytest.skip("the partial unique index is a property of the SQL schema")
    import sqlalchemy as sa
    from sqlalchemy.exc import IntegrityError

    v1 = b.model_version(status=ModelStatus.CURRENT)
    with uow_factory() as uow:
        uow.model_versions.add(v1)
        uow.commit()
    engine = uow_factory.engine  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError), engine.begin() as conn:  # what a racing replica would write
        conn.execute(
            sa.text(
                "INSERT INTO model_versions (id, kind, path, data_hash, created_at, metrics, status) "
                "VALUES ('mdl_race', 'intent', 'p', 'h', :t, '{}', 'current')"
            ),
            {"t": T0},
        )


def test_classification_corrections_keep_the_model_output(uow_factory: UnitOfWorkFactory) -> None:
    c1 = b.classification(created_at=at(1), message_id="m1")
    c2 = b.classification(created_at=at(2), message_id="m2")
    with uow_factory() as uow:
        uow.classifications.add(c1)
        uow.classifications.add(c2)
        assert uow.classifications.correct("m1", "billing_invoice", by="A1", at=at(3)) == 1
        assert uow.classifications.correct("m1", "billing_refund", by="A2", at=at(4)) == 1  # the latest wins
        assert uow.classifications.correct("nope", "billing_refund", by="A2", at=at(4)) == 0
        uow.commit()
    with uow_factory() as uow:
        got = {r.message_id: r for r in uow.classifications.list()}
        assert (got["m1"].corrected_intent, got["m1"].corrected_by, got["m1"].corrected_at) == (
            "billing_refund",
            "A2",
            at(4),
        )
        assert got["m1"].intent == "billing_refund"
        assert got["m1"].classification == c1.classification  # the model's own answer is kept
        assert got["m2"].corrected_intent is None and got["m2"].intent == c2.classification.intent


def test_settings_get_set_items(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.settings.get("threshold.*") is None
        uow.settings.set("threshold.*", 0.8)
        uow.settings.set("threshold.billing_refund", 0.9)
        uow.settings.set("thresholdX", 1)
        uow.settings.set("feature_flags", {"csat": True, "list": [1, "a"]})
        uow.commit()
    with uow_factory() as uow:
        uow.settings.set("threshold.*", 0.75)  # overwrite
        uow.commit()
    with uow_factory() as uow:
        assert uow.settings.get("threshold.*") == 0.75
        assert uow.settings.items("threshold.") == {"threshold.*": 0.75, "threshold.billing_refund": 0.9}
        assert uow.settings.items("feature_") == {"feature_flags": {"csat": True, "list": [1, "a"]}}
        assert uow.settings.items("f%") == {}  # no LIKE wildcards
        assert set(uow.settings.items()) == {"threshold.*", "threshold.billing_refund", "thresholdX", "feature_flags"}
