"""Card (bot/cards.py) -> Discord embed + button components, within Discord's limits.

Pure functions over plain dicts (the JSON Discord documents), so they are easy
to test; ``client.py`` turns them into discord.py objects. The Slack adapter
renders the same Card as Block Kit: one model, two renderings.
"""

from __future__ import annotations

import re
from typing import Any

from supportbot.bot.cards import Card

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
CONTENT_MAX = 2000
THREAD_NAME_MAX = 100
BUTTONS_PER_ROW = 5
ELLIPSIS = "…"

COLORS = {"neutral": 0x95A5A6, "info": 0x3498DB, "warning": 0xF1C40F, "danger": 0xE74C3C, "success": 0x2ECC71}
BUTTON_STYLES = {"primary": 1, "default": 2, "danger": 4, "success": 3}  # ButtonStyle values
# Slack-style reaction names the core uses -> Unicode emoji Discord expects.
EMOJI = {
    "eyes": "👀",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "warning": "⚠️",
    "x": "❌",
    "hourglass": "⌛",
    "thumbsup": "👍",
    "+1": "👍",
    "thumbsdown": "👎",
    "-1": "👎",
    "ticket": "🎫",
    "admission_tickets": "🎟️",
}
_NAMES = {v.replace("\ufe0f", ""): k for k, v in reversed(list(EMOJI.items()))}

_BOLD = re.compile(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when cut."""
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def markdown(text: str) -> str:
    """The card's Slack-ish ``*bold*`` becomes Discord's ``**bold**``."""
    return _BOLD.sub(r"**\1**", text or "")


def emoji_name(emoji: str) -> str:
    """A Unicode emoji from a reaction event as the Slack-style name the core uses ("🎫" -> "ticket")."""
    plain = emoji.replace("\ufe0f", "")
    return _NAMES.get(plain, emoji)


def emoji_for(name: str) -> str:
    name = (name or "").strip(":")
    return EMOJI.get(name, name)


def custom_id(action_id: str, value: str) -> str:
    return f"{action_id}:{value}"[:100]


def embed_dict(card: Card) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "type": "rich",
        "title": clip(card.title, TITLE_MAX),
        "color": COLORS.get(card.color, COLORS["neutral"]),
    }
    if card.body:
        embed["description"] = clip(markdown(card.body), DESCRIPTION_MAX)
    if card.link and card.link.startswith(("http://", "https://")):
        embed["url"] = card.link
    fields = [
        {
            "name": clip(f.label, FIELD_NAME_MAX) or "—",
            "value": clip(markdown(f.value), FIELD_VALUE_MAX) or "—",
            "inline": f.short,
        }
        for f in card.fields
    ]
    if len(fields) > FIELDS_MAX:
        fields = fields[: FIELDS_MAX - 1] + [
            {"name": "More", "value": f"{len(card.fields) - FIELDS_MAX + 1} more fields not shown", "inline": False}
        ]
    if fields:
        embed["fields"] = fields
    if card.footer:
        embed["footer"] = {"text": clip(card.footer, FOOTER_MAX)}
    _fit_total(embed)
    return embed


def _embed_size(embed: dict[str, Any]) -> int:
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += len(embed.get("footer", {}).get("text", ""))
    return size + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def _fit_total(embed: dict[str, Any]) -> None:
    """All text of an embed may not exceed 6000 characters: shorten the description, then drop fields."""
    excess = _embed_size(embed) - EMBED_TOTAL_MAX
    if excess > 0 and embed.get("description"):
        keep = max(len(embed["description"]) - excess, 1)
        embed["description"] = clip(embed["description"], keep)
    while _embed_size(embed) > EMBED_TOTAL_MAX and embed.get("fields"):
        embed["fields"].pop()


def components(card: Card) -> list[dict[str, Any]]:
    """Action rows of buttons; each custom_id is ``<action_id>:<id>``."""
    buttons = [
        {
            "type": 2,
            "style": BUTTON_STYLES.get(b.style, 2),
            "label": clip(b.label, 80),
            "custom_id": custom_id(b.action_id, b.value),
        }
        for b in card.buttons
    ]
    return [
        {"type": 1, "components": buttons[i : i + BUTTONS_PER_ROW]}
        for i in range(0, min(len(buttons), 25), BUTTONS_PER_ROW)
    ]


def content(text: str) -> str:
    return clip(text, CONTENT_MAX)


def thread_name(text: str, fallback: str = "Support question") -> str:
    first = " ".join((text or "").split())
    return clip(first, THREAD_NAME_MAX) or fallback


def tag_key(name: str) -> str:
    """Forum tag names match intents and statuses case- and separator-insensitively:
    "Waiting on customer" == "waiting_on_customer", "SSO SAML" == "sso_saml"."""
    return re.sub(r"[\s\-_]+", "_", (name or "").strip().lower())
