"""Extractive replies: built from the passage that answers, short, no quoting, the source once."""

from __future__ import annotations

from pathlib import Path

from supportbot.bot.answers import compose_extractive, fence_code
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from supportbot.bot.settings import EXAMPLE_DIR

KB = MarkdownKnowledgeBase(EXAMPLE_DIR / "kb")


def test_a_reply_is_built_from_the_answering_section_with_the_source_once():
    reply = compose_extractive(KB.search("The reset email never arrives, I checked spam"))
    assert reply.composer == "extractive" and reply.section == "The reset email did not arrive"
    assert reply.text.startswith("**The reset email did not arrive**\n\n1. Wait 5 minutes")
    assert "To reset your password, go to" not in reply.text  # not the article's opening paragraph
    assert not any(line.lstrip().startswith(">") for line in reply.text.splitlines())
    url = "https://docs.nimbusmetrics.example/account/reset-password"
    assert reply.text.count(url) == 1
    assert f"Source: [Resetting your password › The reset email did not arrive]({url}#the-reset-email" in reply.text
    citation = reply.citations[0]
    assert (citation.article_id, citation.section, citation.url) == ("reset-password", reply.section, url)


def test_a_table_row_reads_as_lines_and_code_stays_fenced():
    reply = compose_extractive(KB.search("SAML_SIGNATURE_INVALID when logging in"))
    assert "- **Code:** `SAML_SIGNATURE_INVALID`" in reply.text and "SAML_CLOCK_SKEW" not in reply.text
    reply = compose_extractive(KB.search("sample code to init the browser sdk and track an event"))
    assert '```js\nimport { init, track, identify } from "@nimbusmetrics/browser";' in reply.text


def test_the_opening_text_has_no_section_and_a_missing_hit_no_reply(tmp_path: Path):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntitle: Exports\n---\nExport any chart as CSV from its menu.\n")
    reply = compose_extractive(MarkdownKnowledgeBase(folder).search("export a chart as csv"))
    assert reply.section is None and reply.text.startswith("Export any chart as CSV")
    assert "Source: Exports" in reply.text  # no URL: the title, no link
    assert compose_extractive([]) is None


def test_stack_traces_are_fenced_and_fences_are_left_alone():
    trace = 'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\nValueError: bad'
    assert fence_code(f"It failed:\n{trace}\nThanks") == f"It failed:\n```\n{trace}\n```\nThanks"
    fenced = f"```\n{trace}\n```"
    assert fence_code(fenced) == fenced
