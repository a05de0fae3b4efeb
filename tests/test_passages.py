"""Passage-level retrieval: sections, internal notes, table rows, typos, semantic reranking, reindexing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from supportbot.bot.knowledge import MarkdownKnowledgeBase, is_internal_heading
from supportbot.bot.ports import TextEncoder
from supportbot.bot.settings import EXAMPLE_DIR

ARTICLE = """---
title: Resetting your password
url: https://docs.example/reset
---
Click Forgot password on the login page and follow the emailed link.

## The reset email did not arrive

1. Wait 5 minutes and check spam or quarantine folders.
2. Ask IT to allow-list our domain.

## Error codes

| Code | Meaning |
|---|---|
| `RESET_TOKEN_EXPIRED` | The link is older than 60 minutes |
| `RESET_RATE_LIMITED` | More than 3 requests in an hour |

## For support agents

Confirm delivery in the mail log. INTERNAL-ONLY-1234

### Escalation

Page the identity team. INTERNAL-ONLY-5678
"""


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(text)


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    write(folder, "reset", ARTICLE)
    write(folder, "billing", "---\ntitle: Invoices\nurl: https://docs.example/billing\n---\nDownload PDF invoices.\n")
    return folder


def test_the_section_that_answers_is_found_not_the_opening_paragraph(kb_dir):
    hit = MarkdownKnowledgeBase(kb_dir).search("my reset email never came, I looked in spam")[0]
    assert (hit.article.id, hit.section) == ("reset", "The reset email did not arrive")
    assert hit.passages[0].text.startswith("1. Wait 5 minutes")
    assert hit.passages[0].heading_path == ("The reset email did not arrive",)
    assert hit.score == hit.passages[0].score and 0 < hit.score <= 1


def test_one_table_row_is_a_passage(kb_dir):
    hit = MarkdownKnowledgeBase(kb_dir).search("it says reset token expired")[0]
    assert hit.section == "Error codes" and hit.passages[0].kind == "table_row"
    assert "RESET_TOKEN_EXPIRED" in hit.passages[0].text and "RESET_RATE_LIMITED" not in hit.passages[0].text


def test_internal_sections_and_their_subsections_are_never_returned(kb_dir):
    kb = MarkdownKnowledgeBase(kb_dir)
    for question in ("mail log delivery INTERNAL-ONLY-1234", "page the identity team escalation"):
        for hit in kb.search(question, limit=5):
            assert all("INTERNAL-ONLY" not in p.text and not p.internal for p in hit.passages)
            assert "INTERNAL-ONLY" not in hit.passage
    notes = kb.internal_notes("reset")
    assert [n.section for n in notes] == ["For support agents", "Escalation"] and all(n.internal for n in notes)


def test_internal_conventions():
    assert is_internal_heading("For support agents") and is_internal_heading("Internal: escalation")
    assert is_internal_heading("Agents' note for handoffs") and is_internal_heading("Refund exceptions (internal)")
    assert not is_internal_heading("Support agents can help") and not is_internal_heading("International shipping")


def test_an_internal_article_is_never_a_hit(kb_dir):
    write(
        kb_dir, "playbook", "---\ntitle: Refund playbook\ninternal: true\n---\nRefund playbook: approve up to $500.\n"
    )
    kb = MarkdownKnowledgeBase(kb_dir)
    assert all(h.article.id != "playbook" for h in kb.search("refund playbook approve", limit=5))
    assert kb.internal_notes("playbook")[0].text.startswith("Refund playbook")


def test_articles_without_intents_are_found_and_typos_are_corrected(kb_dir):
    kb = MarkdownKnowledgeBase(kb_dir)
    assert kb.correct("downlaod my invoces") == "download my invoices"
    assert kb.search("downlaod my invoces")[0].article.id == "billing"


def test_bundled_kb_answers_the_issue_examples_from_the_right_sections():
    kb = MarkdownKnowledgeBase(EXAMPLE_DIR / "kb")
    hit = kb.search("The reset email never arrives, I checked spam")[0]
    assert (hit.article.id, hit.section) == ("reset-password", "The reset email did not arrive")
    hit = kb.search("I can't log in with SSO, it says SAML response invalid")[0]
    assert (hit.article.id, hit.section) == ("saml-errors", "Error codes")
    assert "SAML_RESPONSE_INVALID" in hit.passages[0].text
    texts = [p.text for h in kb.search("support agents escalate security on-call", limit=10) for p in h.passages]
    assert not any("escalate to the security on-call" in t for t in texts)


class ConceptEncoder(TextEncoder):
    """A tiny deterministic encoder: only known words count, each maps to a concept (one dimension)."""

    name = "concepts-v1"
    CONCEPTS = {"payback": 0, "refund": 0, "card": 1, "cards": 1, "invoices": 2, "emailed": 3}

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.extend(texts)
        rows = np.zeros((len(texts), 8), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace("?", " ").replace(".", " ").split():
                if word in self.CONCEPTS:
                    rows[i, self.CONCEPTS[word]] += 1
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def test_semantic_reranking_finds_what_words_alone_miss(tmp_path):
    folder = tmp_path / "kb"
    write(folder, "refunds", "---\ntitle: Refunds\n---\nA refund goes to the original card.\n")
    write(folder, "cards", "---\ntitle: Cards\n---\nCard changes work instantly.\n")
    question = "how does payback work"
    assert MarkdownKnowledgeBase(folder).search(question)[0].article.id == "cards"
    semantic = MarkdownKnowledgeBase(folder, encoder=ConceptEncoder(), semantic_weight=0.6)
    assert semantic.search(question)[0].article.id == "refunds"


def test_reindexing_re_encodes_only_changed_articles_and_keeps_vectors_across_restarts(kb_dir, tmp_path):
    index = tmp_path / "index.json"
    encoder = ConceptEncoder()
    MarkdownKnowledgeBase(kb_dir, index_path=index, encoder=encoder)
    first = len(encoder.encoded)
    assert first > 0 and index.with_suffix(".concepts-v1.npz").is_file()

    restarted = ConceptEncoder()
    kb = MarkdownKnowledgeBase(kb_dir, index_path=index, encoder=restarted)
    assert kb.last_refresh["unchanged"] == 2 and restarted.encoded == []

    write(kb_dir, "billing", "---\ntitle: Invoices\n---\nInvoices are emailed on the first day of the month.\n")
    kb.refresh()
    assert restarted.encoded == ["Invoices are emailed on the first day of the month."]
    assert kb.search("when are invoices emailed")[0].passages[0].text.startswith("Invoices are emailed")
