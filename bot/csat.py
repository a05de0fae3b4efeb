"""The CSAT question and how an answer to it reads (pure; ``bot.feedback`` stores ratings).

The prompt's outbox ``dedupe_key`` is ``csat:<conversation id>``: a
conversation that is reopened and resolved again is never asked twice.
Adapters render ``OPTIONS`` as buttons whose value is the option's ``value``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROMPT = (
    "How did we do? Reply with a number from 1 (poor) to 5 (great), or 👍 / 👎. It takes a second and helps us improve."
)
OPTIONS = [
    {"label": "👍", "value": "up", "positive": True, "score": 5},
    {"label": "👎", "value": "down", "positive": False, "score": 1},
    *({"label": str(n), "value": str(n), "positive": n >= 4, "score": n} for n in range(1, 6)),
]

_SCORE = re.compile(r"^\s*([1-5])\s*(?:/\s*5|out of 5|stars?|⭐+)?\s*[.!]*\s*$")
_UP = {"👍", ":+1:", ":thumbsup:", "+1", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿"}
_DOWN = {"👎", ":-1:", ":thumbsdown:", "-1", "👎🏻", "👎🏼", "👎🏽", "👎🏾", "👎🏿"}


@dataclass(frozen=True)
class Rating:
    positive: bool
    score: int | None


def option(value: str) -> Rating | None:
    """The rating behind a button value of ``OPTIONS`` (up, down, 1-5), or None."""
    found = next((o for o in OPTIONS if o["value"] == value), None)
    if found is None:
        return None
    score = found["score"]
    return Rating(bool(found["positive"]), score if isinstance(score, int) else None)


def parse_rating(text: str) -> Rating | None:
    """A CSAT answer typed as a message, or None when the text is something else."""
    stripped = text.strip()
    if stripped in _UP:
        return Rating(True, None)
    if stripped in _DOWN:
        return Rating(False, None)
    match = _SCORE.match(stripped.lower())
    if match:
        score = int(match.group(1))
        return Rating(score >= 4, score)
    return None


def dedupe_key(conversation_id: str) -> str:
    return f"csat:{conversation_id}"
