"""A small block-level Markdown reader, enough for knowledge-base articles and replies.

The knowledge base splits articles into sections and passages with it, the reply
composer re-assembles passages, and the renderers in ``adapters/markdown.py``
turn the same blocks into Slack mrkdwn, Discord markdown or safe HTML. It knows
headings, paragraphs, bullet and numbered lists, fenced code, tables, quotes and
rules; everything else is a paragraph. Pure functions, no dependencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)|(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)")


@dataclass(frozen=True)
class Block:
    """One block of a Markdown document; ``text`` is its Markdown source."""

    kind: str  # heading | paragraph | list | code | table | quote | rule
    text: str
    level: int = 0  # heading level
    ordered: bool = False  # numbered list
    items: tuple[str, ...] = ()  # list items, Markdown, continuation lines joined
    rows: tuple[tuple[str, ...], ...] = ()  # table cells, header row first
    lang: str = ""  # code fence info string


def plain(text: str) -> str:
    """Inline Markdown without its markup: link text kept, backticks and emphasis dropped."""
    text = _LINK.sub(lambda m: m.group(1), text).replace("`", "")
    return _EMPHASIS.sub(lambda m: m.group(2) or m.group(3) or m.group(4) or "", text).strip()


def table_cells(line: str) -> tuple[str, ...]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return tuple(cell.strip() for cell in re.split(r"(?<!\\)\|", line))


def _is_table_start(lines: list[str], i: int) -> bool:
    return "|" in lines[i] and i + 1 < len(lines) and bool(_TABLE_SEP.match(lines[i + 1])) and "-" in lines[i + 1]


def parse_blocks(markdown: str) -> list[Block]:
    """Split Markdown into blocks in document order."""
    lines = markdown.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if fence := _FENCE.match(line):
            marker, body = fence.group(1), []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end of an unclosed block)
            code = "\n".join(body)
            blocks.append(
                Block("code", f"{marker}{fence.group(2)}\n{code}\n{marker}", lang=fence.group(2), items=(code,))
            )
            continue
        if heading := _HEADING.match(line):
            blocks.append(Block("heading", heading.group(2).strip(), level=len(heading.group(1))))
            i += 1
            continue
        if _RULE.match(line):
            blocks.append(Block("rule", line.strip()))
            i += 1
            continue
        if _is_table_start(lines, i):
            rows = [table_cells(lines[i])]
            source = [lines[i], lines[i + 1]]
            i += 2
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                rows.append(table_cells(lines[i]))
                source.append(lines[i])
                i += 1
            blocks.append(Block("table", "\n".join(source), rows=tuple(rows)))
            continue
        if line.lstrip().startswith(">"):
            source = []
            while i < len(lines) and lines[i].strip() and lines[i].lstrip().startswith(">"):
                source.append(lines[i])
                i += 1
            blocks.append(Block("quote", "\n".join(source)))
            continue
        if item := _LIST_ITEM.match(line):
            ordered = item.group(2)[0].isdigit()
            items: list[str] = []
            source = []
            while i < len(lines) and lines[i].strip():
                current = _LIST_ITEM.match(lines[i])
                if current and len(current.group(1)) <= len(item.group(1)):
                    items.append(current.group(3).strip())
                elif _FENCE.match(lines[i]) or _HEADING.match(lines[i]):
                    break
                elif items:  # continuation or nested line belongs to the item above
                    items[-1] = f"{items[-1]}\n{lines[i].strip()}" if current else f"{items[-1]} {lines[i].strip()}"
                source.append(lines[i])
                i += 1
            blocks.append(Block("list", "\n".join(source), ordered=ordered, items=tuple(items)))
            continue
        source = []
        while i < len(lines) and lines[i].strip():
            if source and (_FENCE.match(lines[i]) or _HEADING.match(lines[i]) or _LIST_ITEM.match(lines[i])):
                break
            if source and _is_table_start(lines, i):
                break
            source.append(lines[i].strip())
            i += 1
        blocks.append(Block("paragraph", "\n".join(source)))
    return blocks


def slug(heading: str) -> str:
    """A GitHub-style anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = plain(heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return re.sub(r"\s", "-", text.strip())
