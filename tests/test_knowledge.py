"""The Markdown knowledge base: parsing, retrieval, incremental reindexing."""

from __future__ import annotations

from pathlib import Path

from supportbot.bot.knowledge import MarkdownKnowledgeBase, parse_article, split_passages
from supportbot.bot.settings import EXAMPLE_DIR
from tests.conftest import write_kb


def test_front_matter_and_passages(tmp_path):
    path = tmp_path / "sso.md"
    path.write_text(
        "---\ntitle: SSO setup\nurl: https://d.example/sso\nintents: [sso_saml, account_login]\n---\n"
        "First paragraph.\n\n## Steps\n1. Open settings\n2. Upload metadata\n\n<!-- hidden -->\n"
    )
    article = parse_article(path)
    assert (article.id, article.title, article.url) == ("sso", "SSO setup", "https://d.example/sso")
    assert article.intents == ("sso_saml", "account_login")
    assert split_passages(article.body) == ["First paragraph.", "1. Open settings\n2. Upload metadata"]


def test_search_prefers_the_article_tagged_with_the_intent_and_quotes_its_summary(tmp_path):
    kb = MarkdownKnowledgeBase(write_kb(tmp_path / "kb"))
    hits = kb.search("where do I download an invoice", intent="invoice")
    assert hits[0].article.id == "download-invoices"
    assert hits[0].passage.startswith("Go to Settings → Billing → Invoices")
    assert 0 < hits[0].score <= 1
    assert kb.search("", intent="invoice") == []


def test_reindexing_reads_only_changed_articles_and_persists_the_index(tmp_path):
    folder = write_kb(tmp_path / "kb")
    index = tmp_path / "kb-index.json"
    kb = MarkdownKnowledgeBase(folder, index_path=index)
    assert kb.last_refresh["added"] == 4 and index.is_file()

    again = MarkdownKnowledgeBase(folder, index_path=index)  # a restart: everything comes from the index
    assert again.last_refresh == {"added": 0, "updated": 0, "removed": 0, "unchanged": 4, "invalid": 0}

    (folder / "webhooks.md").write_text(
        "---\ntitle: Webhooks\nurl: https://d.example/webhooks\nintents: [webhooks]\n---\n"
        "Webhook deliveries are retried for 72 hours with exponential backoff.\n"
    )
    (folder / "reset-password.md").unlink()
    (folder / "broken.md").write_text("no front matter here")
    stats = again.refresh()
    assert stats == {"added": 0, "updated": 1, "removed": 1, "unchanged": 2, "invalid": 1}
    assert again.get("reset-password") is None
    assert "72 hours" in again.search("how long are webhook deliveries retried", intent="webhooks")[0].passage


def test_bundled_example_answers_the_common_questions():
    kb = MarkdownKnowledgeBase(Path(EXAMPLE_DIR) / "kb")
    assert len(kb.articles()) >= 25
    assert kb.search("how do I download my invoices?", intent="invoice")[0].article.id == "download-invoices"
    top = kb.search("I can't log in with SSO, it says SAML response invalid", intent="sso_saml")[0]
    assert "sso_saml" in top.article.intents
