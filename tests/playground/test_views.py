"""The playground's text rendering helpers: code and stack traces found in messages, relative times."""

from __future__ import annotations

from supportbot.adapters.playground.views import blocks, relative
from tests.playground.helpers import STACK_TRACE


def test_a_stack_trace_becomes_one_folded_code_block():
    parts = blocks(STACK_TRACE + "\nany idea?")
    assert [b.kind for b in parts] == ["text", "code", "text"]
    prose, code, after = parts
    assert prose.text.startswith("Our webhook consumer crashes")
    assert code.text.startswith("Traceback (most recent call last):")
    assert code.text.endswith("ValueError: signature mismatch for delivery whd_8b1f")
    assert code.long and code.label == f"Stack trace ({code.lines} lines)"
    assert after.text == "any idea?"


def test_fenced_code_short_code_and_plain_text():
    fenced = blocks("Try this:\n```python\nx = 1\ny = 2\n```\nthen reload.")
    assert [(b.kind, b.text) for b in fenced] == [
        ("text", "Try this:"),
        ("code", "x = 1\ny = 2"),
        ("text", "then reload."),
    ]
    assert not fenced[1].long  # short code is shown open
    # one indented line is prose, not code; a Java trace is code
    assert [b.kind for b in blocks("Hello,\n  thanks for the help\nBob")] == ["text"]
    java = "It fails:\njava.lang.IllegalStateException: closed\n    at com.acme.Ingest.run(Ingest.java:42)\n"
    assert [b.kind for b in blocks(java)] == ["text", "code"]
    assert blocks("") == [] and [(b.kind, b.text) for b in blocks("plain")] == [("text", "plain")]


def test_relative_durations():
    assert relative(0.2) == "<1 min"
    assert relative(12.4) == "12 min"
    assert relative(-3) == "3 min"
    assert relative(120) == "2 h"
    assert relative(150) == "2.5 h"
    assert relative(3 * 1440) == "3 days"
