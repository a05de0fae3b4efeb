"""Cleaning untrusted message text before it reaches models and storage."""

from __future__ import annotations

import re
import unicodedata

from supportbot.bot.errors import InvalidInput

# C0/C1 control characters except tab and newline; also zero-width and BOM.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")


def clean_text(text: object, *, max_chars: int) -> str:
    """Normalise text; raise InvalidInput when nothing usable is left.

    Text longer than ``max_chars`` is rejected rather than silently cut, so a
    customer is told instead of answered on half a message.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"message text must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise InvalidInput(f"message is {len(text):,} characters; the limit is {max_chars:,}")
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise InvalidInput("message is empty")
    return text


def strip_control(text: str) -> str:
    """``text`` without control characters (PostgreSQL refuses NUL in text columns)."""
    return _CONTROL.sub("", text)


def for_model(text: str) -> str:
    """Text as the classifier and retrieval should see it: one line, single spaces.

    Platform markup (Slack's ``<@U1>``, Discord's ``<:emoji:1>``) never gets here:
    each adapter turns it into plain text before the core sees the message.
    """
    return re.sub(r"\s+", " ", text).strip()
