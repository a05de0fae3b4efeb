"""Replies built from the passages that answer the question, as platform-neutral Markdown.

``compose_extractive(hits)`` turns the best retrieved passage into a short reply:
the section's heading as a bold lead, the passage (or the whole section when it
is short), code kept in fenced blocks, never ``>`` quoting, and the source once,
as a link to the section. Adapters render the Markdown natively (see
``adapters/markdown.py``: Slack mrkdwn, Discord markdown, safe HTML).

``ComposedReply`` is also what the optional LLM composer returns
(``bot/composer.py``), so the pipeline handles both the same way: ``composer``
is "extractive" or "llm", ``needs_review`` forces a draft with ``review_reason``.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from supportbot.bot.domain import ArticleHit, Citation, Passage
from supportbot.bot.markdown import parse_blocks, plain, slug, table_cells

# Outbound payload key "format": text in this format is platform-neutral Markdown, rendered
# natively by each channel (Slack mrkdwn, Discord markdown, safe HTML); other text is plain.
MARKDOWN = "markdown"

CLOSING = "If this doesn't solve it, reply here and a teammate will take over."
# A section up to this long is shown whole: it is still short, and complete.
SECTION_CHARS = 700
# Longer passages are cut at a sentence or item boundary (code blocks never are).
MAX_BODY_CHARS = 1200

_STACK_LINE = re.compile(
    r"^\s*(?:at\s+[\w.$<>]+\(|File \"[^\"]+\", line \d+|Traceback \(most recent call last\)|"
    r"[\w.]+(?:Error|Exception)(?::|$)|#\d+\s+0x[0-9a-f]+|\{\s*\"|\}\s*$)"
)


@dataclass(frozen=True)
class LlmTrace:
    """What one language-model call cost and did, for the why panel and metrics."""

    model: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    attempts: int = 1
    error: str | None = None  # set when the call failed and the reply fell back to extractive
    finish_reason: str | None = None


@dataclass(frozen=True)
class ComposedReply:
    text: str  # platform-neutral Markdown
    citations: tuple[Citation, ...]  # first: the passage the reply is mainly built from
    composer: str  # "extractive" | "llm"
    passages: tuple[Passage, ...] = ()  # what the reply was built from (for the LLM: in prompt order, [1]..[n])
    needs_review: bool = False  # never sent automatically: a draft for an agent
    review_reason: str | None = None
    fallback_reason: str | None = None  # why an LLM reply was not used
    llm: LlmTrace | None = None
    cited: tuple[int, ...] = field(default=())  # LLM: the passage numbers the reply cites
    raw: str | None = None  # LLM: the model's text as it came, citations and all (for the why panel)

    @property
    def section(self) -> str | None:
        return self.citations[0].section if self.citations else None


def citation_for(hit: ArticleHit, passage: Passage | None) -> Citation:
    return Citation(hit.article.title, hit.article.url, hit.article.id, passage.section if passage else None)


def source_link(citation: Citation) -> str:
    """``[Title › Section](url#section)``, or the plain title when the article has no URL."""
    label = citation.title + (f" › {plain(citation.section)}" if citation.section else "")
    if not citation.url:
        return label
    anchor = f"#{slug(citation.section)}" if citation.section and "#" not in citation.url else ""
    return f"[{_escape_label(label)}]({citation.url}{anchor})"


def _escape_label(text: str) -> str:
    return text.replace("[", "(").replace("]", ")")


def fence_code(text: str) -> str:
    """Wrap runs of unfenced stack-trace or JSON-looking lines (3 or more) in a code block."""
    lines = text.split("\n")
    out: list[str] = []
    run: list[str] = []
    in_fence = False

    def flush() -> None:
        if len(run) >= 3:
            out.extend(["```", *run, "```"])
        else:
            out.extend(run)
        run.clear()

    for line in lines:
        if line.strip().startswith(("```", "~~~")):
            flush()
            in_fence = not in_fence
            out.append(line)
        elif not in_fence and _STACK_LINE.match(line):
            run.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out)


def unquote(markdown: str) -> str:
    """Block quotes become plain paragraphs: customers never see raw ``>``."""
    return re.sub(r"(?m)^\s{0,3}>\s?", "", markdown)


def _table_row_as_lines(markdown: str) -> str:
    lines = [ln for ln in markdown.splitlines() if ln.strip()]
    header, row = table_cells(lines[0]), table_cells(lines[-1])
    return "\n".join(f"- **{plain(h)}:** {c}" for h, c in zip(header, row, strict=False) if c and c != "–")


def _shorten(markdown: str, limit: int = MAX_BODY_CHARS) -> str:
    if len(markdown) <= limit:
        return markdown
    kept: list[str] = []
    size = 0
    for block in parse_blocks(markdown):
        if kept and size + len(block.text) > limit:
            break
        if not kept and len(block.text) > limit and block.kind == "paragraph":
            sentences = re.split(r"(?<=[.!?])\s+", block.text)
            cut = ""
            for s in sentences:
                if cut and len(cut) + len(s) > limit:
                    break
                cut = f"{cut} {s}".strip()
            kept.append(cut + " …" if cut != block.text else cut)
            break
        kept.append(block.text)
        size += len(block.text)
    return "\n\n".join(kept)


def passage_body(passage: Passage) -> str:
    """The Markdown a reply shows for a passage: the whole section when short, else the passage."""
    if passage.section is not None and passage.section_text and len(passage.section_text) <= SECTION_CHARS:
        body = passage.section_text
    elif passage.kind == "table_row":
        body = _table_row_as_lines(passage.text)
    else:
        body = passage.text
    return fence_code(unquote(_shorten(body)))


# A passage of another section scoring at least this share of the best one is a near tie.
NEAR_TIE = 0.9


def _near_tie(hit: ArticleHit, best: Passage | None) -> Passage | None:
    """The best passage of another section of the same article that nearly ties with ``best``."""
    if best is None or best.score <= 0:
        return None
    for p in hit.passages[1:]:
        if p.internal or p.section == best.section or p.text in best.section_text:
            continue
        return p if p.score >= NEAR_TIE * best.score else None
    return None


def compose_extractive(hits: Sequence[ArticleHit], *, closing: str | None = CLOSING) -> ComposedReply | None:
    """A reply from the best passage of the best hit; None when there is nothing to answer from."""
    if not hits:
        return None
    hit = hits[0]
    passage = next((p for p in hit.passages if not p.internal), None)
    if passage is None:  # a hit from a knowledge base without passages: its best text as a whole
        body, section = fence_code(unquote(_shorten(hit.passage))), None
    else:
        body, section = passage_body(passage), passage.section
    parts = [f"**{plain(section)}**\n\n{body}" if section else body]
    runner_up = _near_tie(hit, passage)
    if runner_up is not None:  # two sections answer about equally well: show both, the best first
        extra = passage_body(runner_up)
        parts.append(f"**{plain(runner_up.section)}**\n\n{extra}" if runner_up.section else extra)
    citation = citation_for(hit, passage)
    parts.append(f"Source: {source_link(citation)}")
    if closing:
        parts.append(closing)
    return ComposedReply(
        text="\n\n".join(parts),
        citations=(citation,),
        composer="extractive",
        passages=(passage,) if passage else (),
    )


class ReplyComposer(abc.ABC):
    """Builds the reply for an answer or a draft from the retrieved hits (best first)."""

    name: str = "extractive"

    @abc.abstractmethod
    async def compose(
        self, question: str, hits: Sequence[ArticleHit], *, context: Sequence[str] = ()
    ) -> ComposedReply | None:
        """None when there is nothing to answer from."""


class ExtractiveComposer(ReplyComposer):
    def __init__(self, closing: str | None = CLOSING) -> None:
        self.closing = closing

    async def compose(
        self, question: str, hits: Sequence[ArticleHit], *, context: Sequence[str] = ()
    ) -> ComposedReply | None:
        return compose_extractive(hits, closing=self.closing)


PASSAGE_PREVIEW_CHARS = 280


def reply_trace(reply: ComposedReply, hits: Sequence[ArticleHit]) -> dict[str, Any]:
    """What a reply was built from, JSON-shaped: stored with the decision, shown in the why panel."""
    considered = reply.passages or tuple(p for h in hits for p in h.passages[:2])
    return {
        "composer": reply.composer,
        "section": reply.section,
        "citations": [asdict(c) for c in reply.citations],
        "passages": [
            {
                "n": n,
                "article_id": p.article_id,
                "section": p.section,
                "score": round(p.score, 4),
                "text": p.text if len(p.text) <= PASSAGE_PREVIEW_CHARS else p.text[:PASSAGE_PREVIEW_CHARS] + " …",
            }
            for n, p in enumerate(considered, start=1)
        ],
        "cited": list(reply.cited),
        "needs_review": reply.needs_review,
        "review_reason": reply.review_reason,
        "fallback_reason": reply.fallback_reason,
        "llm": asdict(reply.llm) if reply.llm else None,
    }


def reply_payload(reply: ComposedReply) -> dict[str, Any]:
    """The outbound payload of a composed reply: its citations and how to render it."""
    return {"citations": [asdict(c) for c in reply.citations], "format": MARKDOWN, "composer": reply.composer}
