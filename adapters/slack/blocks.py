"""Block Kit rendering of the core's Cards, modals and the App Home view.

All user-provided text is escaped (``&``, ``<``, ``>``) before it goes into
mrkdwn, so a customer cannot inject links, mentions or ``<!channel>``.
Lengths are cut to Block Kit's limits.
"""

from __future__ import annotations

import json
from typing import Any

from supportbot.bot.cards import Card, CardButton, CommandReply

SECTION_MAX = 3000
FIELD_MAX = 2000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
MAX_FIELDS = 10

EDIT_CALLBACK = "draft_edit_modal"
REJECT_CALLBACK = "draft_reject_modal"
EDIT_BLOCK, EDIT_INPUT = "draft_text", "text"
REASON_BLOCK, REASON_INPUT = "reject_reason", "reason"
INTENT_BLOCK, INTENT_INPUT = "reject_intent", "intent"

_COLOR_EMOJI = {
    "danger": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
    "success": ":large_green_circle:",
}


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn gives meaning to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def card_blocks(card: Card, *, permalink: str | None = None, where: str | None = None) -> list[dict[str, Any]]:
    """Header, body, fields (mrkdwn, two per row), context footer and buttons."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": cut(card.title, HEADER_MAX) or "supportbot", "emoji": True},
        },
    ]
    if card.body:
        blocks.append({"type": "section", "text": _mrkdwn(cut(escape(card.body), SECTION_MAX))})
    short = [f for f in card.fields if f.short]
    long = [f for f in card.fields if not f.short]
    for start in range(0, len(short), MAX_FIELDS):
        chunk = short[start : start + MAX_FIELDS]
        blocks.append(
            {
                "type": "section",
                "fields": [_mrkdwn(cut(f"*{escape(f.label)}*\n{escape(f.value)}", FIELD_MAX)) for f in chunk],
            }
        )
    for f in long:
        blocks.append({"type": "section", "text": _mrkdwn(cut(f"*{escape(f.label)}*\n{escape(f.value)}", SECTION_MAX))})
    context = []
    if card.color in _COLOR_EMOJI:
        context.append(_mrkdwn(_COLOR_EMOJI[card.color]))
    link = permalink or card.link
    if link:
        label = f"original message in {escape(where)}" if where else "original message"
        context.append(_mrkdwn(f"<{link}|{label}>"))
    if card.footer:
        context.append(_mrkdwn(escape(card.footer)))
    if context:
        blocks.append({"type": "context", "elements": context[:10]})
    if card.buttons:
        blocks.append(
            {"type": "actions", "block_id": "supportbot_actions", "elements": [button(b) for b in card.buttons]}
        )
    return blocks


def button(b: CardButton) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": b.action_id,
        "value": b.value,
        "text": {"type": "plain_text", "text": cut(b.label, BUTTON_TEXT_MAX), "emoji": True},
    }
    if b.style in ("primary", "danger"):
        element["style"] = b.style
    return element


def replace_actions(blocks: list[dict[str, Any]], outcome: str) -> list[dict[str, Any]]:
    """The card after a button was handled: buttons gone, a line saying who did what."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    kept.append({"type": "context", "elements": [_mrkdwn(outcome)]})
    return kept


def edit_modal(draft_id: str, draft_text: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": EDIT_CALLBACK,
        "private_metadata": json.dumps({"draft_id": draft_id, **metadata}),
        "title": {"type": "plain_text", "text": "Edit draft"},
        "submit": {"type": "plain_text", "text": "Send to customer"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": EDIT_BLOCK,
                "label": {"type": "plain_text", "text": "Reply the customer will see"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": EDIT_INPUT,
                    "multiline": True,
                    "initial_value": cut(draft_text, 3000),
                },
            }
        ],
    }


def reject_modal(draft_id: str, intents: tuple[str, ...], metadata: dict[str, Any]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": REASON_BLOCK,
            "label": {"type": "plain_text", "text": "Why is the draft wrong?"},
            "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True},
        }
    ]
    if intents:
        blocks.append(
            {
                "type": "input",
                "block_id": INTENT_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "The right intent (optional)"},
                "element": {
                    "type": "static_select",
                    "action_id": INTENT_INPUT,
                    "placeholder": {"type": "plain_text", "text": "Choose an intent"},
                    "options": [
                        {"text": {"type": "plain_text", "text": cut(i, 75)}, "value": i} for i in intents[:100]
                    ],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": json.dumps({"draft_id": draft_id, **metadata}),
        "title": {"type": "plain_text", "text": "Reject draft"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def reply_blocks(reply: CommandReply) -> list[dict[str, Any]]:
    """A /support answer: the text, then any cards."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(cut(escape(reply.text), SECTION_MAX))}]
    for card in reply.cards:
        blocks.extend(card_blocks(card))
    return blocks[:50]


def home_view(sections: list[tuple[str, str]]) -> dict[str, Any]:
    """App Home: a header and one mrkdwn section per (title, text)."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "supportbot"}}]
    for title, text in sections:
        blocks.append({"type": "section", "text": _mrkdwn(cut(f"*{escape(title)}*\n{escape(text)}", SECTION_MAX))})
        blocks.append({"type": "divider"})
    return {"type": "home", "blocks": blocks[:100]}


CSAT_ACTION = "csat_rate"  # action_ids are csat_rate_<option value>: unique within their block, as Block Kit requires


def csat_blocks(text: str, conversation_id: str, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CSAT prompt and its options as buttons: 👍/👎 in one row, 1-5 in the next.

    Each button's value is ``<conversation id>:<option value>``; the handler maps the option back to
    the core's (positive, score) through ``bot.csat.OPTIONS``.
    """
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(cut(escape(text), SECTION_MAX))}]
    thumbs = [o for o in options if not str(o.get("value", "")).isdigit()]
    scores = [o for o in options if str(o.get("value", "")).isdigit()]
    for block_id, row in (("csat_thumbs", thumbs), ("csat_scores", scores)):
        elements = [
            {
                "type": "button",
                "action_id": f"{CSAT_ACTION}_{o['value']}",
                "value": f"{conversation_id}:{o['value']}",
                "text": {
                    "type": "plain_text",
                    "text": cut(str(o.get("label") or o["value"]), BUTTON_TEXT_MAX),
                    "emoji": True,
                },
            }
            for o in row
            if o.get("value")
        ][:25]
        if elements:
            blocks.append({"type": "actions", "block_id": block_id, "elements": elements})
    return blocks
