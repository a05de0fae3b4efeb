"""Threading rules over the real Events API payloads: one question, one thread (issue 12)."""

from __future__ import annotations

import asyncio

from tests.slack.conftest import ALICE, SHARED, message_event


def conversations(slack):
    with slack.app.core.uow() as uow:
        return uow.conversations.list()


async def test_two_questions_seconds_apart_after_an_answer_are_two_conversations_in_two_threads(slack, clock):
    first = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    assert len(slack.fake.posts(SHARED)) == 1  # answered in its thread
    clock.advance(seconds=8)
    second = await slack.says(ALICE, "How do I reset my password?", user_team="TSMALL")
    convs = conversations(slack)
    assert len(convs) == 2
    assert {c.thread_id for c in convs} == {first["ts"], second["ts"]}
    answers = slack.fake.posts(SHARED)
    assert [a["thread_ts"] for a in answers] == [first["ts"], second["ts"]]
    assert "Settings → Billing → Invoices" in answers[0]["text"]
    assert "Settings → Billing" not in answers[1]["text"]


async def test_a_burst_of_three_lines_before_any_reply_is_one_conversation(slack):
    events = [
        message_event(ALICE, text, user_team="TSMALL")
        for text in ("hey, question about billing", "How do I download my invoice?", "the October one")
    ]
    statuses = await asyncio.gather(*(slack.event(e, drain=False) for e in events))
    assert [s for s, _ in statuses] == [200, 200, 200]
    await slack.service.drain(10)
    (conv,) = conversations(slack)
    assert conv.thread_id == events[0]["event"]["ts"]
    assert {p["thread_ts"] for p in slack.fake.posts(SHARED)} == {events[0]["event"]["ts"]}


async def test_follow_up_in_the_thread_after_a_handoff_stays_in_it(slack, clock):
    outage = await slack.says(ALICE, "Quick question: none of our users can log in since 9am", user_team="TSMALL")
    clock.advance(minutes=20)
    await slack.says(ALICE, "still down for everyone, any news?", thread_ts=outage["ts"], user_team="TSMALL")
    (conv,) = conversations(slack)
    assert conv.thread_id == outage["ts"]
    assert all(p["thread_ts"] == outage["ts"] for p in slack.fake.posts(SHARED))
    with slack.app.core.uow() as uow:
        texts = [m.text for m in uow.messages.for_conversation(conv.id)]
    assert "still down for everyone, any news?" in texts


async def test_after_a_handoff_a_new_top_level_question_gets_its_own_answer(slack, clock):
    outage = await slack.says(ALICE, "Quick question: none of our users can log in since 9am", user_team="TSMALL")
    clock.advance(seconds=30)
    question = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    assert len(conversations(slack)) == 2
    answers = [p for p in slack.fake.posts(SHARED) if "Settings → Billing → Invoices" in p["text"]]
    assert [a["thread_ts"] for a in answers] == [question["ts"]]
    assert question["ts"] != outage["ts"]
