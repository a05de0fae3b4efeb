"""Render the core's platform-neutral Markdown natively: Slack mrkdwn, Discord markdown, safe HTML.

Pure functions over ``bot.markdown.parse_blocks``; the channel adapters call the
one for their platform on ``ComposedReply.text`` (or any neutral Markdown):

- ``slack_mrkdwn``: ``*bold*``, ``_italic_``, ``<url|label>`` links, ``•`` bullets,
  ``&``/``<``/``>`` escaped as Slack requires, tables as bullet lines;
- ``discord_markdown``: Discord's own Markdown (masked links, ``###`` headings),
  tables as bullet lines, ``@everyone``/``@here`` defused;
- ``safe_html``: every character of the text escaped, only ``http(s)``/``mailto``
  links, ``rel="nofollow noopener noreferrer"``; no raw HTML ever passes through.

Code spans and fenced blocks are kept verbatim in all three, and no renderer
produces ``>`` quoting.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from supportbot.bot.answers import MARKDOWN
from supportbot.bot.domain import Outbound
from supportbot.bot.markdown import Block, parse_blocks

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"\[([^\]]+)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])|(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_SAFE_SCHEME = re.compile(r"^(?:https?://|mailto:)", re.I)


def _split_code(text: str, plain: Callable[[str], str], code: Callable[[str], str]) -> str:
    """Apply ``plain`` outside code spans and ``code`` to their contents."""
    out, at = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(plain(text[at : m.start()]))
        out.append(code(m.group(2)))
        at = m.end()
    out.append(plain(text[at:]))
    return "".join(out)


def _unquote(text: str) -> str:
    return re.sub(r"(?m)^\s*>\s?", "", text)


def _rows_as_lines(block: Block) -> list[str]:
    """Tables do not exist in chat markdown: one line per row, "header: value" after the first cell."""
    header, *rows = block.rows
    lines = []
    for row in rows:
        first, *rest = row
        details = [f"{h}: {c}" if h else c for h, c in zip(header[1:], rest, strict=False) if c and c != "–"]
        lines.append(" — ".join([first, *details]) if first else " — ".join(details))
    return lines


# ----------------------------------------------------------------------------- Slack


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_inline(text: str) -> str:
    def plain(segment: str) -> str:
        links: list[str] = []

        def keep(m: re.Match[str]) -> str:
            label = _slack_escape(m.group(1)).replace("|", "/")
            links.append(f"<{_slack_escape(m.group(2))}|{label}>")
            return f"\x00{len(links) - 1}\x00"

        segment = _LINK.sub(keep, segment)
        segment = _slack_escape(segment)
        segment = _BOLD.sub(lambda m: f"\x01{m.group(2)}\x01", segment)
        segment = _ITALIC.sub(lambda m: f"_{m.group(1) or m.group(2)}_", segment)
        segment = _STRIKE.sub(lambda m: f"~{m.group(1)}~", segment).replace("\x01", "*")
        return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], segment)

    return _split_code(text, plain, lambda c: f"`{_slack_escape(c)}`")


def slack_mrkdwn(markdown: str) -> str:
    out: list[str] = []
    for block in parse_blocks(markdown):
        if block.kind == "heading":
            out.append(f"*{_slack_inline(block.text)}*")
        elif block.kind == "code":
            out.append(f"```\n{_slack_escape(block.items[0])}\n```")
        elif block.kind == "list":
            marks = [f"{i}." for i in range(1, len(block.items) + 1)] if block.ordered else ["•"] * len(block.items)
            out.append("\n".join(f"{m} {_slack_inline(item)}" for m, item in zip(marks, block.items, strict=True)))
        elif block.kind == "table":
            out.append("\n".join(f"• {_slack_inline(line)}" for line in _rows_as_lines(block)))
        elif block.kind == "quote":
            out.append(_slack_inline(_unquote(block.text)))
        elif block.kind != "rule":
            out.append(_slack_inline(block.text))
    return "\n\n".join(out)


# ----------------------------------------------------------------------------- Discord


def _discord_inline(text: str) -> str:
    def plain(segment: str) -> str:
        segment = re.sub(r"@(everyone|here)\b", "@\u200b\\1", segment)  # never ping a whole server
        return re.sub(r"<@[!&]?\d+>", "", segment)

    return _split_code(text, plain, lambda c: f"`{c}`")


def discord_markdown(markdown: str) -> str:
    out: list[str] = []
    for block in parse_blocks(markdown):
        if block.kind == "heading":
            out.append(f"{'#' * min(max(block.level, 2), 3)} {_discord_inline(block.text)}")
        elif block.kind == "code":
            out.append(f"```{block.lang}\n{block.items[0]}\n```")
        elif block.kind == "list":
            marks = [f"{i}." for i in range(1, len(block.items) + 1)] if block.ordered else ["-"] * len(block.items)
            out.append("\n".join(f"{m} {_discord_inline(item)}" for m, item in zip(marks, block.items, strict=True)))
        elif block.kind == "table":
            out.append("\n".join(f"- {_discord_inline(line)}" for line in _rows_as_lines(block)))
        elif block.kind == "quote":
            out.append(_discord_inline(_unquote(block.text)))
        elif block.kind != "rule":
            out.append(_discord_inline(block.text))
    return "\n\n".join(out)


# ----------------------------------------------------------------------------- HTML


def _html_inline(text: str) -> str:
    def plain(segment: str) -> str:
        links: list[str] = []

        def keep(m: re.Match[str]) -> str:
            label, url = html.escape(m.group(1)), m.group(2)
            if not _SAFE_SCHEME.match(url):
                links.append(label)  # javascript:, data: and relative links lose the link, keep the text
            else:
                href = html.escape(url, quote=True)
                links.append(f'<a href="{href}" rel="nofollow noopener noreferrer">{label}</a>')
            return f"\x00{len(links) - 1}\x00"

        segment = html.escape(_LINK.sub(keep, segment), quote=False)
        segment = _BOLD.sub(lambda m: f"<strong>{m.group(2)}</strong>", segment)
        segment = _ITALIC.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", segment)
        segment = _STRIKE.sub(lambda m: f"<del>{m.group(1)}</del>", segment)
        segment = segment.replace("\n", "<br>")
        return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], segment)

    return _split_code(text, plain, lambda c: f"<code>{html.escape(c)}</code>")


def safe_html(markdown: str) -> str:
    out: list[str] = []
    for block in parse_blocks(markdown):
        if block.kind == "heading":
            level = min(block.level + 2, 6)  # inside a message: never a page-level heading
            out.append(f"<h{level}>{_html_inline(block.text)}</h{level}>")
        elif block.kind == "code":
            out.append(f"<pre><code>{html.escape(block.items[0])}</code></pre>")
        elif block.kind == "list":
            tag = "ol" if block.ordered else "ul"
            items = "".join(f"<li>{_html_inline(item)}</li>" for item in block.items)
            out.append(f"<{tag}>{items}</{tag}>")
        elif block.kind == "table":
            header, *rows = block.rows
            head = "".join(f"<th>{_html_inline(c)}</th>" for c in header)
            body = "".join("<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in r) + "</tr>" for r in rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif block.kind == "quote":
            out.append(f"<p>{_html_inline(_unquote(block.text))}</p>")
        elif block.kind == "rule":
            out.append("<hr>")
        else:
            out.append(f"<p>{_html_inline(block.text)}</p>")
    return "\n".join(out)


def outbound_text(outbound: Outbound, markdown: Callable[[str], str], plain: Callable[[str], str]) -> str:
    """An outbound message's text for a platform: its Markdown rendered natively, or plain text as is."""
    if outbound.payload.get("format") == MARKDOWN:
        return markdown(outbound.text)
    return plain(outbound.text)
