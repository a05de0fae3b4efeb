"""Block Kit rendering: escaping and Block Kit limits."""

from __future__ import annotations

from supportbot.adapters.slack.blocks import card_blocks, escape, replace_actions
from supportbot.bot.cards import Card, CardButton, CardField


def test_user_text_is_escaped_everywhere():
    card = Card(
        title="Draft <!channel>",
        body="<@U123> & <https://evil.example|click>",
        fields=(CardField("Customer", "Eve <!here>"), CardField("Why", "a > b", short=False)),
        footer="conv <x>",
        link="https://ours.slack.com/archives/C1/p1",
    )
    text = str(card_blocks(card))
    assert "<!channel>" not in text.replace("Draft <!channel>", "")  # the header is plain_text, not mrkdwn
    assert "&lt;@U123&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert "Eve &lt;!here&gt;" in text and "a &gt; b" in text and "conv &lt;x&gt;" in text
    assert "<https://ours.slack.com/archives/C1/p1|original message>" in text
    assert escape("a&b<c>") == "a&amp;b&lt;c&gt;"


def test_limits_and_buttons():
    card = Card(
        title="t" * 400,
        body="b" * 5000,
        fields=tuple(CardField(f"f{i}", "v" * 3000) for i in range(13)),
        buttons=(
            CardButton("draft_approve", "Approve & send", "draft_1", "primary"),
            CardButton("draft_reject", "Reject", "draft_1", "danger"),
        ),
    )
    blocks = card_blocks(card)
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section" and "text" in b)
    field_sections = [b for b in blocks if "fields" in b]
    assert all(len(b["fields"]) <= 10 for b in field_sections) and sum(len(b["fields"]) for b in field_sections) == 13
    assert all(len(f["text"]) <= 2000 for b in field_sections for f in b["fields"])
    actions = blocks[-1]
    assert actions["type"] == "actions"
    assert [(e["action_id"], e["value"], e["style"]) for e in actions["elements"]] == [
        ("draft_approve", "draft_1", "primary"),
        ("draft_reject", "draft_1", "danger"),
    ]
    after = replace_actions(blocks, "Approved by <@U1>")
    assert not [b for b in after if b["type"] == "actions"] and after[-1]["type"] == "context"
