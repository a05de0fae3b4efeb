"""Urgency, sentiment and frustration from transparent rules.

Every rule that fires is reported as a short reason (``urgency_reasons``), so
agents see *why* a message was marked critical. The rules look for severity
in what happens, not in how loudly it is said: "Quick question: none of our
users can log in since 9am" is critical because *nobody can log in*, even
though the wording is mild.

Scale:

* critical -- an outage or data/security incident for many users or production
  (everyone / all users / production, down / cannot log in / data loss / breach)
* high -- one user or feature blocked, payments failing, a deadline, an
  explicit "urgent", or a frustrated customer asking again
* low -- how-to, feature request, no rush
* normal -- everything else
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain import Sentiment, Urgency


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# ---------------------------------------------------------------------- urgency cues

_SCOPE_ALL = _rx(
    r"\b(none of (our|my|the)|no ?one|nobody|every(one|body)|all (of )?(our|my|the)?\s*"
    r"(users|customers|staff|team|employees|agents|accounts|workspaces?|people|clients)|"
    r"(whole|entire) (company|team|org(ani[sz]ation)?|site|platform)|company[- ]wide|org[- ]wide|"
    r"across (the )?(board|org|company)|all users|any(one|body) (can|could)(n'?t| not))\b"
)
_PRODUCTION = _rx(r"\b(prod(uction)?|live (site|system|environment)|customer[- ]facing)\b")
_BROKEN = _rx(
    r"(\b(can ?not|can'?t|cannot|unable to|could ?n[o']t|won'?t|doesn'?t|does not|isn'?t|is not|"
    r"are not|aren'?t|not able to|failed to|fails? to)\s+(\w+\s+){0,2}"
    r"(log ?in|sign ?in|access|connect|load|open|work|send|receive|reach|use|save|sync|authenticate)\b|"
    r"\b(down|outage|offline|unavailable|unreachable|not working|broken|crash(es|ed|ing)?|"
    r"500 errors?|502|503|504|timing out|time ?outs?|locked out|stopped working|no longer work)\b)"
)
_DATA_LOSS = _rx(
    r"\b(data (loss|lost|is gone|disappeared|deleted|leak)|lost (all|our|my) (data|files|records)|"
    r"(deleted|wiped|missing) (all|every)|corrupt(ed|ion)?)\b"
)
_SECURITY = _rx(
    r"\b(breach(ed)?|hack(ed|er)?|compromised|unauthori[sz]ed (access|login|charge)|phishing|"
    r"leak(ed)?|exposed (data|credentials|keys)|security (incident|issue|vulnerability)|fraud(ulent)?)\b"
)
_SINCE = _rx(
    r"\b(since (\d{1,2}(:\d\d)?\s*(am|pm)?|this morning|yesterday|last night|hours|an hour)|"
    r"for (the (last|past) )?(\d+|several|many|a few) (hours|days))\b"
)
_URGENT_WORD = _rx(
    r"\b(urgent(ly)?|asap|emergency|critical|immediately|right now|sev ?[12]|p[01]\b|blocker|"
    r"blocking|show ?stopper)\b"
)
_DEADLINE = _rx(
    r"\b(deadline|by (today|tonight|tomorrow|eod|end of (the )?day)|before (the )?"
    r"(launch|demo|meeting|release)|go[- ]live|in \d+ (minutes|hours))\b"
)
_MONEY = _rx(
    r"\b(charged (twice|double|wrong)|double[- ]charged|overcharged|payments? (fail(ed|ing)?|"
    r"declined|not going through)|invoice (wrong|incorrect)|refund)\b"
)
_BLOCKED = _rx(r"\b(blocked|stuck|can'?t (proceed|continue|work)|unable to work|locked out)\b")
_CHURN = _rx(
    r"\b(cancel (our|my)? ?(subscription|contract|account|plan)|switch(ing)? to (a )?competitor|"
    r"churn|legal action|lawyer|escalate)\b"
)
_LOW = _rx(
    r"\b(no rush|whenever you (can|get a chance)|not urgent|low priority|just curious|"
    r"feature request|would be nice|nice to have|suggestion|wondering|in the future|"
    r"is it possible to|how (do|can) (i|we))\b"
)


@dataclass(frozen=True)
class Signals:
    urgency: Urgency
    urgency_reasons: tuple[str, ...]
    sentiment: Sentiment
    frustration: float
    frustration_reasons: tuple[str, ...]


def assess_urgency(text: str, *, frustration: float = 0.0) -> tuple[Urgency, tuple[str, ...]]:
    """Urgency level and the cues that raised (or lowered) it."""
    reasons: list[str] = []
    level = Urgency.NORMAL

    def raise_to(new: Urgency, reason: str) -> None:
        nonlocal level
        reasons.append(reason)
        if new.rank > level.rank:
            level = new

    broken = _BROKEN.search(text)
    scope = _SCOPE_ALL.search(text)
    prod = _PRODUCTION.search(text)
    if broken and (scope or prod):
        raise_to(
            Urgency.CRITICAL, f"widespread impact: '{(scope or prod).group(0)}' + '{broken.group(0).strip()}'"
        )
    elif broken:
        raise_to(Urgency.HIGH, f"something is broken: '{broken.group(0).strip()}'")
    if m := _DATA_LOSS.search(text):
        raise_to(Urgency.CRITICAL, f"data loss: '{m.group(0)}'")
    if m := _SECURITY.search(text):
        raise_to(Urgency.CRITICAL, f"security: '{m.group(0)}'")
    if (m := _SINCE.search(text)) and broken:
        reasons.append(f"ongoing: '{m.group(0)}'")
    if m := _URGENT_WORD.search(text):
        raise_to(Urgency.HIGH, f"says urgent: '{m.group(0)}'")
    if m := _DEADLINE.search(text):
        raise_to(Urgency.HIGH, f"deadline: '{m.group(0)}'")
    if m := _MONEY.search(text):
        raise_to(Urgency.HIGH, f"billing problem: '{m.group(0)}'")
    if m := _BLOCKED.search(text):
        raise_to(Urgency.HIGH, f"blocked: '{m.group(0)}'")
    if m := _CHURN.search(text):
        raise_to(Urgency.HIGH, f"churn risk: '{m.group(0)}'")
    if frustration >= 0.6:
        raise_to(Urgency.HIGH, f"frustrated customer (frustration {frustration:.2f})")
    if level == Urgency.NORMAL and (m := _LOW.search(text)):
        level = Urgency.LOW
        reasons.append(f"no time pressure: '{m.group(0)}'")
    return level, tuple(reasons)


# ---------------------------------------------------------------------- sentiment

_NEG = _rx(
    r"\b(unacceptable|ridiculous|terrible|awful|horrible|worst|useless|frustrat\w*|annoy\w*|angry|upset|"
    r"disappoint\w*|fed up|sick of|tired of|waste of|joke|pathetic|disgrac\w*|furious|"
    r"not happy|unhappy|hate|bad|poor|wtf|seriously\?|come on|why (is|does|can'?t|won'?t)|"
    r"still (not|no|hasn'?t|haven'?t|waiting|broken|doesn'?t|can'?t)|nobody (has )?(answered|replied|"
    r"responded)|no (one|response|reply|answer)|ignored|cancel)\b"
)
_POS = _rx(
    r"\b(thanks?|thank you|thx|great|awesome|amazing|excellent|perfect|love|appreciate\w*|helpful|"
    r"brilliant|fantastic|wonderful|happy|glad|nice|cheers|works now|solved|resolved|well done|kudos)\b"
)
_NEGATION_BEFORE_POS = _rx(
    r"\b(not|no|never|isn'?t|wasn'?t|hardly)\s+(\w+\s+)?(great|helpful|happy|good|nice)\b"
)

# ---------------------------------------------------------------------- frustration cues

_STILL_AGAIN = _rx(
    r"\b(still|again|yet again|once more|already (asked|told|reported|sent)|"
    r"(second|third|fourth|\d+(st|nd|rd|th)) time|how many times|for (days|weeks)|"
    r"(days|weeks) (now|later)|no (response|reply|answer)|any update|follow(ing)? up|"
    r"as i said|as mentioned)\b"
)
_EXCLAIM = re.compile(r"[!?]{2,}")
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_WORD = re.compile(r"\b[A-Za-z]{3,}\b")
_ACRONYMS = {
    "API",
    "SSO",
    "SAML",
    "URL",
    "CSV",
    "PDF",
    "FAQ",
    "ETA",
    "UTC",
    "GMT",
    "CEO",
    "CTO",
    "SLA",
    "DNS",
    "SSL",
    "TLS",
    "HTTP",
    "HTTPS",
    "JSON",
    "XML",
    "SDK",
    "CLI",
    "IOS",
    "EUR",
    "USD",
    "GBP",
    "ATM",
    "PIN",
    "IBAN",
    "SWIFT",
    "VAT",
    "GDPR",
    "SOC",
    "MFA",
    "OTP",
    "AWS",
    "GCP",
    "IAM",
    "UI",
}


def _tokens(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _similar(a: str, b: str) -> float:
    """Jaccard overlap of words, for spotting a repeated question."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def assess_frustration(text: str, context: Sequence[str] = ()) -> tuple[float, tuple[str, ...]]:
    """0..1 score from cues in ``text`` and repeated asks across ``context``."""
    score = 0.0
    reasons: list[str] = []
    if m := _STILL_AGAIN.search(text):
        score += 0.35
        reasons.append(f"'{m.group(0)}'")
    if _EXCLAIM.search(text):
        score += 0.2
        reasons.append("repeated !/?")
    caps = [w for w in _CAPS_WORD.findall(text) if w not in _ACRONYMS]
    words = _WORD.findall(text)
    if caps and (len(caps) >= 2 or (words and len(caps) / len(words) > 0.3)):
        score += 0.25
        reasons.append("CAPS")
    if m := _NEG.search(text):
        score += 0.2
        reasons.append(f"negative words: '{m.group(0)}'")
    earlier = [c for c in context if c and c.strip()]
    repeats = sum(1 for c in earlier if _similar(c, text) >= 0.5)
    if repeats:
        score += min(0.3 * repeats, 0.5)
        reasons.append(f"asked {repeats + 1} times")
    elif len(earlier) >= 3:
        score += 0.1
        reasons.append(f"{len(earlier) + 1} messages without resolution")
    return min(score, 1.0), tuple(reasons)


def assess_sentiment(text: str, frustration: float = 0.0) -> Sentiment:
    neg = len(_NEG.findall(text)) + len(_NEGATION_BEFORE_POS.findall(text))
    pos = len(_POS.findall(text)) - len(_NEGATION_BEFORE_POS.findall(text))
    if frustration >= 0.5:
        neg += 1
    if neg > pos and neg > 0:
        return Sentiment.NEGATIVE
    if pos > neg and pos > 0:
        return Sentiment.POSITIVE
    return Sentiment.NEUTRAL


def assess(text: str, context: Sequence[str] = ()) -> Signals:
    frustration, f_reasons = assess_frustration(text, context)
    urgency, u_reasons = assess_urgency(text, frustration=frustration)
    sentiment = assess_sentiment(text, frustration)
    return Signals(urgency, u_reasons, sentiment, round(frustration, 3), f_reasons)
