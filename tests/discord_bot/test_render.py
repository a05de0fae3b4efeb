"""Card -> embed + buttons within Discord's limits."""

from __future__ import annotations

import discord

from supportbot.adapters.discord_bot import render
from supportbot.adapters.discord_bot.client import StaffButton, view_for
from supportbot.bot.cards import Card, CardButton, CardField


def test_card_renders_as_embed_with_fields_footer_and_color():
    card = Card(
        title="Draft reply awaiting approval",
        body="*Alice*: where is my invoice?",
        fields=(CardField("Tier", "enterprise"), CardField("Why", "policy", short=False)),
        footer="draft d1",
        color="warning",
        link="https://example.com/c/1",
    )
    embed = render.embed_dict(card)
    assert embed["title"] == "Draft reply awaiting approval"
    assert embed["description"] == "**Alice**: where is my invoice?"
    assert embed["fields"] == [
        {"name": "Tier", "value": "enterprise", "inline": True},
        {"name": "Why", "value": "policy", "inline": False},
    ]
    assert embed["footer"] == {"text": "draft d1"} and embed["color"] == render.COLORS["warning"]
    assert embed["url"] == "https://example.com/c/1"
    assert discord.Embed.from_dict(embed).to_dict()["title"] == embed["title"]


def test_limits_are_respected_with_an_ellipsis():
    card = Card(
        title="t" * 300,
        body="b" * 5000,
        fields=tuple(CardField(f"f{i}", "v" * 2000) for i in range(30)),
        footer="x" * 3000,
    )
    embed = render.embed_dict(card)
    assert len(embed["title"]) == 256 and embed["title"].endswith("…")
    assert len(embed["fields"]) <= 25
    assert all(len(f["value"]) <= 1024 for f in embed["fields"])
    assert len(embed["footer"]["text"]) <= 2048
    total = (
        len(embed["title"])
        + len(embed.get("description", ""))
        + len(embed["footer"]["text"])
        + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    )
    assert total <= 6000
    short = render.embed_dict(Card(title="t", body="b" * 5000))
    assert len(short["description"]) == 4096 and short["description"].endswith("…")
    assert len(render.content("x" * 2500)) == 2000 and render.content("x" * 2500).endswith("…")
    assert render.content("ok") == "ok"


def test_empty_field_values_are_replaced_because_discord_rejects_them():
    embed = render.embed_dict(Card(title="t", fields=(CardField("Owner", ""),)))
    assert embed["fields"][0]["value"] == "—"


def test_buttons_become_persistent_dynamic_items():
    card = Card(
        title="Draft",
        buttons=(
            CardButton("draft_approve", "Approve & send", "draft_1", "primary"),
            CardButton("draft_edit", "Edit", "draft_1"),
            CardButton("draft_reject", "Reject", "draft_1", "danger"),
        ),
    )
    rows = render.components(card)
    assert rows == [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 1, "label": "Approve & send", "custom_id": "draft_approve:draft_1"},
                {"type": 2, "style": 2, "label": "Edit", "custom_id": "draft_edit:draft_1"},
                {"type": 2, "style": 4, "label": "Reject", "custom_id": "draft_reject:draft_1"},
            ],
        }
    ]


async def test_view_is_persistent_and_parses_custom_ids():
    card = Card(
        title="Hand-off",
        buttons=(
            CardButton("handoff_claim", "Claim", "hand_1", "primary"),
            CardButton("handoff_resolve", "Resolve", "hand_1"),
        ),
    )
    view = view_for(render.components(card))
    assert view.timeout is None and view.is_persistent()
    assert [item.custom_id for item in view.children] == ["handoff_claim:hand_1", "handoff_resolve:hand_1"]
    match = StaffButton.__discord_ui_compiled_template__.fullmatch("handoff_resolve:hand_1")
    assert match["action"] == "handoff_resolve" and match["target"] == "hand_1"
    assert StaffButton.__discord_ui_compiled_template__.fullmatch("admin_delete:hand_1") is None


def test_emoji_names_and_tag_keys():
    assert render.emoji_for("eyes") == "👀" and render.emoji_for(":white_check_mark:") == "✅"
    assert render.tag_key("Waiting on customer") == render.tag_key("waiting_on_customer")
    assert render.tag_key("SSO-SAML") == "sso_saml"
    assert render.thread_name("  How do\n I export?  ") == "How do I export?"
    assert len(render.thread_name("q" * 300)) == 100
