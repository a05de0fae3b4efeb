"""Messages that need no ticket: thanks, greetings, acknowledgements, emoji."""

from __future__ import annotations

import re
import unicodedata

_NOISE_PHRASES = frozenset(
    {
        "thanks",
        "thank you",
        "thank you so much",
        "thanks so much",
        "thanks a lot",
        "many thanks",
        "thx",
        "ty",
        "tysm",
        "cheers",
        "great",
        "awesome",
        "perfect",
        "cool",
        "nice",
        "ok",
        "okay",
        "k",
        "kk",
        "got it",
        "sounds good",
        "will do",
        "noted",
        "understood",
        "all good",
        "that worked",
        "it worked",
        "works now",
        "it works now",
        "fixed",
        "hi",
        "hello",
        "hey",
        "yo",
        "morning",
        "good morning",
        "good afternoon",
        "good evening",
        "hi there",
        "hello there",
        "hey there",
        "hey team",
        "hi team",
        "hello team",
        "hi all",
        "hello all",
        "hey all",
        "hey folks",
        "bye",
        "see you",
        "have a nice day",
        "lol",
        "np",
        "no problem",
        "you rock",
        "appreciated",
        "much appreciated",
        "sure",
        "yes",
        "no",
        "yep",
        "nope",
        "ack",
        "done",
        "great thanks",
        "perfect thanks",
        "ok thanks",
        "okay thanks",
        "cool thanks",
        "awesome thanks",
        "thanks again",
    }
)
_NOISE_WORDS = frozenset(w for p in _NOISE_PHRASES for w in p.split()) | {"so", "much", "again", "guys"}
_SHORTCODE = re.compile(r":[a-z0-9_+\-]+:")
_WORDS = re.compile(r"[a-z']+")


def _is_symbolic(text: str) -> bool:
    """Only emoji, punctuation, shortcodes like :tada: and whitespace."""
    stripped = _SHORTCODE.sub("", text)
    return all(ch.isspace() or unicodedata.category(ch)[0] in ("S", "P") or ch in "\u200d\ufe0f" for ch in stripped)


def is_noise(text: str) -> bool:
    """True for short messages that carry no request (no ticket, no reply)."""
    if _is_symbolic(text):
        return True
    words = _WORDS.findall(_SHORTCODE.sub(" ", text.lower()))
    if not words or len(words) > 6 or "?" in text:
        return False
    return " ".join(words) in _NOISE_PHRASES or all(w in _NOISE_WORDS for w in words)


_GREETINGS = frozenset({"hi", "hello", "hey", "hiya", "howdy", "yo", "morning", "greetings"})
_GREETING_WORDS = _GREETINGS | {"good", "afternoon", "evening", "there", "team", "all", "folks", "guys", "everyone"}


def is_greeting(text: str) -> bool:
    """A greeting alone ("hi", "hello team 👋"): no question yet, so the bot prompts for one."""
    words = _WORDS.findall(_SHORTCODE.sub(" ", text.lower()))
    if not words or len(words) > 4 or "?" in text:
        return False
    return all(w in _GREETING_WORDS for w in words) and (
        any(w in _GREETINGS for w in words) or words[:2] in (["good", "afternoon"], ["good", "evening"])
    )
