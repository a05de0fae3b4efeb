"""End to end over HTTP: signed Events API requests -> core -> fake Slack Web API."""

from __future__ import annotations

import json

from supportbot.bot.domain import DraftStatus
from tests.slack.conftest import AGENT, ALICE, BOB, SHARED, SHARED_BIG, TRIAGE, block_actions, view_submission
from tests.slack.fake_slack import OUR_TEAM


async def test_healthz(slack):
    async with slack.session.get(slack.url.replace("/slack/events", "/healthz")) as resp:
        assert resp.status == 200


async def test_customer_question_answered_in_thread_with_eyes(slack):
    event = await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    answers = slack.fake.posts(SHARED)
    assert len(answers) == 1
    assert answers[0]["thread_ts"] == event["ts"]
    assert "Settings → Billing → Invoices" in answers[0]["text"]
    reactions = slack.fake.of("reactions.add")
    assert [(r.params["name"], r.params["timestamp"], r.params["channel"]) for r in reactions] == [
        ("eyes", event["ts"], SHARED)
    ]
    # The mirror thread opened in triage with a link to the original message.
    mirror = slack.fake.posts(TRIAGE)[0]
    assert "thread_ts" not in mirror
    assert any("archives/C_SHARED/p" in str(b) for b in mirror["blocks"])


async def test_enterprise_customer_gets_draft_with_three_buttons(slack):
    await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    # nothing to the customer but 👀 and the acknowledgement with the SLA's expectation, in the thread
    (ack,) = slack.fake.posts(SHARED_BIG)
    assert "A teammate will reply here, usually within" in ack["text"]
    card = slack.card("draft_approve")
    actions = [b for b in card["blocks"] if b["type"] == "actions"][0]
    assert [e["action_id"] for e in actions["elements"]] == ["draft_approve", "draft_edit", "draft_reject"]
    assert {e["value"] for e in actions["elements"]} == {card["value"]}
    with slack.app.core.uow() as uow:
        assert uow.drafts.get(card["value"]).status is DraftStatus.PENDING


async def _draft(slack) -> dict:
    await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    return slack.card("draft_approve")


async def test_agent_approves_draft_reply_goes_to_customer_thread(slack):
    event = await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    card = slack.card("draft_approve")
    status, _ = await slack.interactive(block_actions(AGENT, OUR_TEAM, "draft_approve", card["value"], message=card))
    assert status == 200
    replies = slack.fake.replies(SHARED_BIG)
    assert len(replies) == 1 and replies[0]["thread_ts"] == event["ts"]
    assert "Settings → Billing → Invoices" in replies[0]["text"]
    with slack.app.core.uow() as uow:
        draft = uow.drafts.get(card["value"])
    assert draft.status is DraftStatus.APPROVED and draft.decided_by == AGENT
    update = slack.fake.of("chat.update")[-1].params
    assert update["ts"] == card["ts"] and update["channel"] == TRIAGE
    assert not [b for b in update["blocks"] if b["type"] == "actions"]  # buttons gone
    assert "Approved and sent by <@U_AGENT>" in str(update["blocks"])


async def test_customer_pressing_approve_is_refused_and_nothing_changes(slack):
    card = await _draft(slack)
    before = len(slack.fake.of("chat.postMessage"))
    status, _ = await slack.interactive(block_actions(BOB, "TBIG", "draft_approve", card["value"], message=card))
    assert status == 200
    ephemeral = slack.fake.of("chat.postEphemeral")
    assert len(ephemeral) == 1 and ephemeral[0].params["user"] == BOB
    assert "support team" in ephemeral[0].params["text"]
    assert len(slack.fake.of("chat.postMessage")) == before  # nothing posted anywhere
    assert slack.fake.of("chat.update") == []
    with slack.app.core.uow() as uow:
        assert uow.drafts.get(card["value"]).status is DraftStatus.PENDING


async def test_customer_whose_team_hint_lies_is_still_refused(slack):
    """users.info decides: a customer claiming our team id in the payload is still a customer."""
    card = await _draft(slack)
    await slack.interactive(block_actions(BOB, OUR_TEAM, "draft_approve", card["value"], message=card))
    assert len(slack.fake.of("chat.postEphemeral")) == 1
    with slack.app.core.uow() as uow:
        assert uow.drafts.get(card["value"]).status is DraftStatus.PENDING


async def test_edit_via_modal_sends_edited_text(slack):
    card = await _draft(slack)
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "draft_edit", card["value"], message=card))
    opened = slack.fake.of("views.open")
    assert len(opened) == 1
    view = opened[0].params["view"]
    assert view["callback_id"] == "draft_edit_modal"
    element = view["blocks"][0]["element"]
    assert element["multiline"] is True and "Settings → Billing → Invoices" in element["initial_value"]
    values = {"draft_text": {"text": {"type": "plain_text_input", "value": "Hi Bob, Settings → Billing. <3"}}}
    status, body = await slack.interactive(
        view_submission(AGENT, OUR_TEAM, "draft_edit_modal", view["private_metadata"], values)
    )
    assert status == 200 and body in ("", "{}")
    replies = slack.fake.replies(SHARED_BIG)
    assert [r["text"] for r in replies] == ["Hi Bob, Settings → Billing. &lt;3"]
    with slack.app.core.uow() as uow:
        assert uow.drafts.get(card["value"]).status is DraftStatus.EDITED
    assert "Edited and sent by <@U_AGENT>" in str(slack.fake.of("chat.update")[-1].params["blocks"])


async def test_edit_with_empty_text_is_refused_in_the_modal(slack):
    card = await _draft(slack)
    meta = json.dumps({"draft_id": card["value"], "channel": TRIAGE, "message_ts": card["ts"]})
    values = {"draft_text": {"text": {"type": "plain_text_input", "value": "   "}}}
    status, body = await slack.interactive(view_submission(AGENT, OUR_TEAM, "draft_edit_modal", meta, values))
    assert status == 200 and json.loads(body)["response_action"] == "errors"
    assert slack.fake.replies(SHARED_BIG) == []


async def test_reject_via_modal_with_intent(slack):
    card = await _draft(slack)
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "draft_reject", card["value"], message=card))
    view = slack.fake.of("views.open")[0].params["view"]
    assert view["callback_id"] == "draft_reject_modal"
    select = view["blocks"][1]["element"]
    assert select["type"] == "static_select"
    assert [o["value"] for o in select["options"]] == list(slack.app.core.classifier.labels())
    values = {
        "reject_reason": {"reason": {"type": "plain_text_input", "value": "they asked about a refund"}},
        "reject_intent": {
            "intent": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "refund"}, "value": "refund"},
            }
        },
    }
    status, _ = await slack.interactive(
        view_submission(AGENT, OUR_TEAM, "draft_reject_modal", view["private_metadata"], values)
    )
    assert status == 200
    with slack.app.core.uow() as uow:
        draft = uow.drafts.get(card["value"])
        conv = uow.conversations.get(draft.conversation_id)
    assert draft.status is DraftStatus.REJECTED and draft.corrected_intent == "refund"
    assert draft.reject_reason == "they asked about a refund" and conv.intent == "refund"
    assert slack.fake.replies(SHARED_BIG) == []  # nothing reaches the customer
    assert any("Draft rejected by" in p["text"] for p in slack.fake.posts(TRIAGE))


async def test_handoff_claim_then_resolve_adds_check_mark(slack):
    event = await slack.says(ALICE, "The dashboard is down, none of our users can log in", user_team="TSMALL")
    card = slack.card("handoff_claim")
    assert "A teammate will reply here" in slack.fake.posts(SHARED)[0]["text"]
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "handoff_claim", card["value"], message=card))
    update = slack.fake.of("chat.update")[-1].params
    kept = [e["action_id"] for b in update["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert kept == ["handoff_resolve"]
    assert any("Claimed by" in p["text"] for p in slack.fake.posts(TRIAGE))
    card = {**card, "blocks": update["blocks"]}
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "handoff_resolve", card["value"], message=card))
    names = [(r.params["name"], r.params["timestamp"]) for r in slack.fake.of("reactions.add")]
    assert names == [("eyes", event["ts"]), ("white_check_mark", event["ts"])]
    assert not [b for b in slack.fake.of("chat.update")[-1].params["blocks"] if b["type"] == "actions"]


async def test_agent_message_in_mirror_thread_is_relayed_and_note_is_not(slack):
    event = await slack.says(ALICE, "The dashboard is down, none of our users can log in", user_team="TSMALL")
    mirror_ts = slack.mirror_ts()
    await slack.says(
        AGENT, "// checking the status page first", channel=TRIAGE, thread_ts=mirror_ts, user_team=OUR_TEAM
    )
    await slack.says(
        AGENT, "We're on it & will update you <soon>", channel=TRIAGE, thread_ts=mirror_ts, user_team=OUR_TEAM
    )
    to_customer = [p["text"] for p in slack.fake.posts(SHARED)]
    assert "We're on it &amp; will update you &lt;soon&gt;" in to_customer
    assert not any("status page" in t for t in to_customer)
    assert all(p["thread_ts"] == event["ts"] for p in slack.fake.posts(SHARED))


async def test_customer_reply_in_thread_is_relayed_to_mirror(slack):
    event = await slack.says(ALICE, "The dashboard is down, none of our users can log in", user_team="TSMALL")
    mirror_ts = slack.mirror_ts()
    await slack.says(ALICE, "Still broken for <b>everyone</b>", thread_ts=event["ts"], user_team="TSMALL")
    relays = [p for p in slack.fake.posts(TRIAGE) if "Still broken" in p["text"]]
    assert len(relays) == 1 and relays[0]["thread_ts"] == mirror_ts
    assert "&lt;b&gt;everyone" in relays[0]["text"]


async def test_ignored_events_bots_edits_joins_and_agents_in_shared_channels(slack):
    await slack.says("U_OTHERBOT", "How do I download my invoice?", bot_id="B_OTHER", subtype="bot_message")
    await slack.says(ALICE, "How do I download my invoice?", subtype="message_changed", user_team="TSMALL")
    await slack.says(ALICE, "", subtype="channel_join", user_team="TSMALL")
    await slack.says("U_BOT", "How do I download my invoice?", user_team=OUR_TEAM)
    await slack.says(AGENT, "How do I download my invoice?", user_team=OUR_TEAM)
    assert slack.fake.of("chat.postMessage") == [] and slack.fake.of("reactions.add") == []
    with slack.app.core.uow() as uow:
        assert uow.conversations.list() == []
        assert [m.author_id for m in uow.messages.list()] == [AGENT]  # stored as ignored, no question
        assert uow.messages.list()[0].state.value == "ignored"


async def test_agent_replying_directly_in_customer_thread_is_a_human_reply(slack):
    event = await slack.says(ALICE, "The dashboard is down, none of our users can log in", user_team="TSMALL")
    await slack.says(AGENT, "Looking at it now, Alice.", thread_ts=event["ts"], user_team=OUR_TEAM)
    with slack.app.core.uow() as uow:
        [conv] = uow.conversations.list()
    assert conv.assignee_id == AGENT and conv.first_response_at is not None and not conv.bot_handled
    notes = [p["text"] for p in slack.fake.posts(TRIAGE) if "replied in the customer's thread" in p["text"]]
    assert len(notes) == 1
    assert len(slack.fake.posts(SHARED)) == 1  # only the bot's hand-off acknowledgement; nothing re-posted


async def test_drafts_and_notes_never_reach_a_customer_channel(slack):
    card = await _draft(slack)
    with slack.app.core.uow() as uow:
        first_line = max(uow.drafts.get(card["value"]).text.splitlines(), key=len).lstrip("> ")  # most specific
    mirror_ts = slack.mirror_ts()
    await slack.says(AGENT, "// internal: VIP, be nice", channel=TRIAGE, thread_ts=mirror_ts, user_team=OUR_TEAM)
    await slack.interactive(
        block_actions(BOB, "TBIG", "draft_approve", card["value"], message=card, channel=SHARED_BIG)
    )
    (refusal,) = slack.fake.of("chat.postEphemeral")  # the customer who pressed it was told no
    assert refusal.params["user"] == BOB and "support team" in refusal.params["text"]
    seen = slack.fake.replies(SHARED_BIG) + [refusal.params]
    for params in seen:
        assert first_line not in params.get("text", "")
        assert "VIP" not in params.get("text", "")
        assert "blocks" not in params or first_line not in json.dumps(params["blocks"])
    # The same check catches a leak: once an agent approves, the draft's text reaches the customer
    # (and only then); the internal note never does.
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "draft_approve", card["value"], message=card))
    texts = [p.get("text", "") for p in slack.fake.replies(SHARED_BIG)]
    assert any(first_line in t for t in texts)
    assert not any("VIP" in t for t in texts)


async def test_guest_of_our_workspace_is_a_customer(slack):
    slack.fake.add_user("U_GUEST", OUR_TEAM, "Gus", is_restricted=True)
    card = await _draft(slack)
    await slack.interactive(block_actions("U_GUEST", OUR_TEAM, "draft_approve", card["value"], message=card))
    assert len(slack.fake.of("chat.postEphemeral")) == 1
    with slack.app.core.uow() as uow:
        assert uow.drafts.get(card["value"]).status is DraftStatus.PENDING
    # ...and a guest's question in a support channel is a customer question.
    await slack.says("U_GUEST", "How do I download my invoice?", channel=SHARED, user_team=OUR_TEAM)
    assert len(slack.fake.posts(SHARED)) == 1


async def test_unknown_user_fails_closed(slack):
    """users.info failing for a clicker: treated as a customer, nothing happens."""
    card = await _draft(slack)
    slack.fake.fail("users.info", 200, error="user_not_found")
    await slack.interactive(block_actions("U_NEWHIRE", OUR_TEAM, "draft_approve", card["value"], message=card))
    assert len(slack.fake.of("chat.postEphemeral")) == 1
    with slack.app.core.uow() as uow:
        assert uow.drafts.get(card["value"]).status is DraftStatus.PENDING


async def test_a_hand_off_supersedes_the_pending_draft_on_its_card(slack):
    event = await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    card = slack.card("draft_approve")
    await slack.says(
        BOB,
        "forget that: none of our users can log in, it's down",
        channel=SHARED_BIG,
        thread_ts=event["ts"],
        user_team="TBIG",
    )
    update = next(u.params for u in slack.fake.of("chat.update") if u.params["ts"] == card["ts"])
    assert "Superseded" in json.dumps(update["blocks"])
    assert not [b for b in update["blocks"] if b["type"] == "actions"]  # nothing left to press
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "draft_approve", card["value"], message=card))
    refusal = slack.fake.of("chat.postEphemeral")[-1].params
    assert refusal["user"] == AGENT and "out of date" in refusal["text"]
    to_customer = [p["text"] for p in slack.fake.posts(SHARED_BIG)]
    # the one acknowledgement (once per conversation: the hand-off adds none); approving sent nothing
    assert len(to_customer) == 1 and "A teammate will reply here" in to_customer[0]
