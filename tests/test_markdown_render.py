"""Neutral Markdown rendered natively for Slack, Discord and the playground's HTML."""

from __future__ import annotations

from supportbot.adapters.markdown import discord_markdown, safe_html, slack_mrkdwn

REPLY = """**Error codes**

- **Code:** `SAML_<X>` & more
- Fix it in [Settings](https://docs.example/sso?a=1&b=2)

| Code | Fix |
|---|---|
| `E1` | Retry |

```
at Foo.bar(Foo.java:10)
```

> quoted text"""


def test_slack_mrkdwn():
    out = slack_mrkdwn(REPLY)
    assert out.startswith("*Error codes*\n\n• *Code:* `SAML_&lt;X&gt;` &amp; more")
    assert "<https://docs.example/sso?a=1&amp;b=2|Settings>" in out
    assert "• `E1` — Fix: Retry" in out and "```\nat Foo.bar(Foo.java:10)\n```" in out
    assert "**" not in out and "> quoted" not in out and "quoted text" in out


def test_discord_markdown():
    out = discord_markdown(REPLY + "\n\nping @everyone")
    assert "- **Code:** `SAML_<X>` & more" in out and "[Settings](https://docs.example/sso?a=1&b=2)" in out
    assert "- `E1` — Fix: Retry" in out and "@\u200beveryone" in out and "> quoted" not in out


def test_safe_html_escapes_everything_and_allows_only_web_links():
    out = safe_html(REPLY + '\n\n<script>alert(1)</script> [x](javascript:alert) [y](https://ok.example/"q)')
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<code>SAML_&lt;X&gt;</code> &amp; more" in out
    assert '<a href="https://docs.example/sso?a=1&amp;b=2" rel="nofollow noopener noreferrer">Settings</a>' in out
    assert "javascript:" not in out and '"q' not in out.split("ok.example/")[1][:3]
    assert "<table><thead><tr><th>Code</th><th>Fix</th></tr></thead>" in out
    assert "<pre><code>at Foo.bar(Foo.java:10)</code></pre>" in out and "<blockquote>" not in out
