"""Draft and hand-off buttons, modals, authorization, and persistence across a restart."""

from __future__ import annotations

import copy

from supportbot.bot.domain import DraftStatus, HandoffStatus
from tests.discord_bot.conftest import start_bot
from tests.discord_bot.helpers import ACK_MARK, card_in_thread, custom_ids, ephemeral, mirror_of, replies


async def _draft(fake, bot):
    question = await fake.customer_message(fake.text_id, "where can I find my invoice?")
    staff_thread = await mirror_of(fake, bot)
    card = await card_in_thread(fake, staff_thread, "draft_approve")
    with bot.app.uow() as uow:
        (draft,) = uow.drafts.list()
    return question, staff_thread, card, draft


def _draft_status(bot, draft_id):
    with bot.app.uow() as uow:
        return uow.drafts.get(draft_id)


async def test_draft_card_has_persistent_buttons_and_approve_sends_it(fake, enterprise_bot):
    bot = enterprise_bot
    question, staff_thread, card, draft = await _draft(fake, bot)
    assert custom_ids(card) == [f"draft_approve:{draft.id}", f"draft_edit:{draft.id}", f"draft_reject:{draft.id}"]
    assert card["embeds"][0]["title"] == "Draft reply awaiting approval"
    # nothing for the customer yet but the acknowledgement with the SLA's expectation
    ack = await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    assert ACK_MARK in ack.json["content"] and replies(fake, question["id"]) == []
    pressed = await fake.press_button(card, f"draft_approve:{draft.id}", user=fake.agent)
    response = await fake.wait_for_response(pressed)
    assert ephemeral(response)
    sent = await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages", count=2)
    assert sent.json["content"] == draft.text
    assert _draft_status(bot, draft.id).status is DraftStatus.APPROVED
    settled = await fake.wait_for_request("PATCH", rf"/channels/{staff_thread}/messages/{card['id']}")
    assert settled.json["components"] == []  # nothing left to press on the settled card


async def test_member_without_agent_role_is_refused_and_nothing_changes(fake, enterprise_bot):
    bot = enterprise_bot
    question, staff_thread, card, draft = await _draft(fake, bot)
    for action in ("draft_approve", "draft_edit", "draft_reject"):
        pressed = await fake.press_button(card, f"{action}:{draft.id}", user=fake.outsider)
        response = await fake.wait_for_response(pressed)
        assert ephemeral(response) and "agent role" in response["data"]["content"]
    pressed = await fake.submit_modal(
        f"draft_edit_modal:{draft.id}", {"text": "pwned"}, user=fake.outsider, channel_id=staff_thread
    )
    assert ephemeral(await fake.wait_for_response(pressed))
    await bot.client.idle()
    assert _draft_status(bot, draft.id).status is DraftStatus.PENDING
    assert replies(fake, question["id"]) == []


async def test_edit_opens_a_prefilled_modal_and_sends_the_edited_text(fake, enterprise_bot):
    bot = enterprise_bot
    question, staff_thread, card, draft = await _draft(fake, bot)
    pressed = await fake.press_button(card, f"draft_edit:{draft.id}", user=fake.agent)
    modal = await fake.wait_for_response(pressed)
    assert modal["type"] == 9 and modal["data"]["custom_id"] == f"draft_edit_modal:{draft.id}"
    (text_input,) = [c for row in modal["data"]["components"] for c in row["components"]]
    assert text_input["style"] == 2 and text_input["value"] == draft.text  # paragraph, prefilled
    submitted = await fake.submit_modal(
        f"draft_edit_modal:{draft.id}",
        {"text": "Settings → Billing, then PDF."},
        user=fake.agent,
        channel_id=staff_thread,
    )
    assert ephemeral(await fake.wait_for_response(submitted))
    sent = await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages", count=2)
    assert sent.json["content"] == "Settings → Billing, then PDF."
    assert _draft_status(bot, draft.id).status is DraftStatus.EDITED


async def test_reject_asks_reason_and_intent(fake, enterprise_bot):
    bot = enterprise_bot
    question, staff_thread, card, draft = await _draft(fake, bot)
    pressed = await fake.press_button(card, f"draft_reject:{draft.id}", user=fake.agent)
    modal = await fake.wait_for_response(pressed)
    assert modal["type"] == 9
    assert [c["custom_id"] for row in modal["data"]["components"] for c in row["components"]] == ["reason", "intent"]
    submitted = await fake.submit_modal(
        f"draft_reject_modal:{draft.id}",
        {"reason": "they asked about VAT", "intent": "password_reset"},
        user=fake.agent,
        channel_id=staff_thread,
    )
    assert ephemeral(await fake.wait_for_response(submitted))
    await bot.client.idle()
    rejected = _draft_status(bot, draft.id)
    assert rejected.status is DraftStatus.REJECTED and rejected.reject_reason == "they asked about VAT"
    assert rejected.corrected_intent == "password_reset"
    customer_side = [r.json["content"] for r in fake.find_requests("POST", rf"/channels/{question['id']}/messages")]
    assert draft.text not in customer_side


async def test_buttons_keep_working_after_a_restart(fake, tmp_path):
    first = await start_bot(fake, tmp_path, tier="enterprise")
    question, staff_thread, card, draft = await _draft(fake, first)
    await first.stop()
    second = await start_bot(fake, tmp_path, tier="enterprise")  # a fresh client, same database
    try:
        assert second.client is not first.client and len(fake.connections) == 2
        pressed = await fake.press_button(card, f"draft_approve:{draft.id}", user=fake.agent)
        assert ephemeral(await fake.wait_for_response(pressed))
        sent = await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages", count=2)
        assert sent.json["content"] == draft.text
        submitted = await fake.submit_modal(
            f"draft_edit_modal:{draft.id}", {"text": "again"}, user=fake.agent, channel_id=staff_thread
        )
        response = await fake.wait_for_response(submitted)  # modal routed by custom_id: answered, not dropped
        assert ephemeral(response) and "already" in response["data"]["content"]
    finally:
        await second.stop()


async def test_handoff_claim_and_resolve(fake, bot):
    post = await fake.forum_post("Outage", "Dashboard is down, none of our users can log in")
    staff_thread = await mirror_of(fake, bot)
    card = await card_in_thread(fake, staff_thread, "handoff_claim")
    with bot.app.uow() as uow:
        (handoff,) = uow.handoffs.list()
    assert custom_ids(card) == [f"handoff_claim:{handoff.id}", f"handoff_resolve:{handoff.id}"]
    pressed = await fake.press_button(card, f"handoff_claim:{handoff.id}", user=fake.outsider)
    assert "agent role" in (await fake.wait_for_response(pressed))["data"]["content"]
    pressed = await fake.press_button(card, f"handoff_claim:{handoff.id}", user=fake.agent)
    assert ephemeral(await fake.wait_for_response(pressed))
    notice = await fake.wait_until(
        lambda: [m for m in fake.bot_messages(staff_thread) if m["content"].startswith("Claimed by")],
        what="claim notice",
    )
    assert notice[0]["content"] == "Claimed by Sam."
    pressed = await fake.press_button(card, f"handoff_resolve:{handoff.id}", user=fake.agent)
    assert ephemeral(await fake.wait_for_response(pressed))
    await fake.wait_for_request("PUT", rf"/channels/{post['id']}/messages/{post['id']}/reactions/✅/@me")
    await bot.client.idle()
    with bot.app.uow() as uow:
        assert uow.handoffs.get(handoff.id).status is HandoffStatus.RESOLVED
    tagged = fake.find_requests("PATCH", rf"/channels/{post['id']}")[-1]
    assert fake.tags["resolved"] in tagged.json["applied_tags"]


async def test_a_hand_off_supersedes_the_pending_draft_on_every_card(fake, enterprise_bot):
    bot = enterprise_bot
    question, staff_thread, card, draft = await _draft(fake, bot)
    stale = copy.deepcopy(card)  # what a client shows until the edit reaches it
    # the acknowledgement opened the question's thread: the follow-up comes there
    await fake.wait_for_request("POST", rf"/channels/{question['id']}/messages")
    await fake.customer_message(question["id"], "forget it: none of our users can log in, everything is down")
    settled = await fake.wait_for_request("PATCH", rf"/channels/{staff_thread}/messages/{card['id']}")
    assert settled.json["components"] == [] and "Superseded" in str(settled.json["embeds"])
    pressed = await fake.press_button(stale, f"draft_approve:{draft.id}", user=fake.agent)
    response = await fake.wait_for_response(pressed)
    assert ephemeral(response) and "out of date" in response["data"]["content"]
    await bot.client.idle()
    assert _draft_status(bot, draft.id).status is DraftStatus.SUPERSEDED
    sent = [r.json["content"] for r in fake.find_requests("POST", rf"/channels/{question['id']}/messages")]
    assert len(sent) == 1 and ACK_MARK in sent[0]  # the one acknowledgement; approving sent nothing
    with bot.app.uow() as uow:
        (conv,) = uow.conversations.list()
    assert conv.urgency.value == "critical"
