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

from supportbot.bot.domain import Sentiment, Urgency


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# ---------------------------------------------------------------------- urgency cues

_SCOPE_ALL = _rx(
    r"\b(none of (our|my|the)|no ?one|nobody|every(one|body)|every single \w+|"
    r"all (of )?(our|my|the)?\s*(\d[\d,k]* )?(of our )?(?!(the )?time)\w+|all \d[\d,k]*|all$|for all|"
    r"(whole|entire) (?!\w* ?team)\w+|company[- ]wide|org[- ]wide|global|100 ?%|dozens|hundreds|thousands|"
    r"across (the )?(board|org|company|our)|any(one|body)|for any|any of (our|the)|"
    r"nothing (works|loads|is loading)|(\d{3,}|\d+k) (accounts|users|customers|people)|"
    r"every (?!(time|hour|day|week|morning|night)\b)\w+)\b"
)
# "none of our users can log in": the negation sits in the subject, the verb is positive
_NOBODY_CAN = _rx(
    r"\b(none of (our|my|the|your)\s+\w+|no ?one|nobody|no (users?|customers?|employees|staff|agents|one))"
    r"(\s+\w+){0,3}?\s+(can|could|is able to|are able to|has been able to|have been able to|manages? to)\s+"
    r"(\w+\s+){0,1}(log ?in|sign ?in|access|connect|load|open|use|login|pay|send|receive|see|get past|get in)\b"
)
_PRODUCTION = _rx(
    r"\b(prod(uction)?|live (site|system|environment)|customer[- ]facing|our customers|"
    r"for our customers|pipelines?)\b"
)
_OUTAGE = _rx(
    r"\b(outage|(is|are|went|seems|all) down|completely (down|unreachable|broken)|"
    r"nothing (works|loads)|white screen|unreachable)\b"
)
_BROKEN = _rx(
    r"(\b(can ?not|can'?t|cannot|unable to|could ?n[o']t|won'?t|doesn'?t|does not|isn'?t|is not|"
    r"are not|aren'?t|not able to|failed to|fails? to|not)\s+(\w+\s+){0,2}"
    r"(log ?in|sign ?in|access|connect|load|loading|open|work|send|receive|reach|use|save|sync|"
    r"authenticate|arriving|being \w+|run|manage|re-?enable)\w*\b|"
    r"\b(down|outage|offline|unavailable|unreachable|not working|broken|crash(es|ed|ing)?|"
    r"timing out|time ?outs?|locked out|logged out|stopped( working)?|no longer work\w*|"
    r"errors?( out)?|fail(s|ed|ing)?|rejecting|white screen|no data|"
    r"shows? 0|disabled|stripped|dropping|missing|wrong numbers|not firing|blank|stale|piling up|"
    r"duplicat\w+|haven'?t (sent|run|arrived)|(is|are) empty|can'?t \w+)\b)"
)
# an HTTP status counts only beside an error word ("returns 502", "500 error"); a bare number ("'490'",
# "490 events") never means something is broken
_HTTP_ERROR = _rx(
    r"\b((error|status|code|http|returns?|returning|getting|got|gives?|giving|throws?|throwing|responds? with)"
    r"\s+(an? )?(code |status )?[45]\d\d|[45]\d\d\s+(error|errors|status|response|bad gateway|internal server error|"
    r"gateway time-?out|service unavailable|forbidden|unauthori[sz]ed|not found|too many requests))\b"
)
_DATA_LOSS = _rx(
    r"\b(data (loss|lost|is gone|disappeared|deleted|leak)|lost (all|our|my) (data|files|records)|"
    r"(deleted|wiped|missing|gone|lost)\b.{0,40}\b(all|every|prod(uction)?|dataset|workspace|data)|"
    r"(all|every)\b.{0,40}\b(deleted|wiped|gone|lost)|wiped|corrupt(ed|ion)?|(data|dataset) deleted|"
    r"deleted (our|the) \w+ (dataset|workspace|project)|shows? 0\b.{0,30}\b\d+k?|truncated|data gone|"
    r"replaced every|with null)"
)
_SECURITY = _rx(
    r"\b(breach(ed)?|hack(ed|er)?|compromised|unauthori[sz]ed (access|login|charge)|phishing|"
    r"leak(ed)?|exposed (data|credentials|keys|tokens?)|security (incident|vulnerability)|fraud(ulent)?|"
    r"attacker|ransomware|taken over|took over|someone('?s| has| is)? (has )?(access|inside|in our)|"
    r"someone'?s inside|public (repo|pastebin|gist)|pastebin|unknown (external )?(accounts|logins|users)|"
    r"(token|key|secret|password)s? (in|on) (a )?public|see each other'?s data|other (customers|tenants)'? data|"
    r"(unknown|unfamiliar|unrecogni[sz]ed|suspicious|strange|unusual|foreign) (\w+ ){0,2}"
    r"(logins?|log-ins?|sign-?ins?|sessions?|devices?|ip( address)?s?|locations?|access|activity|api calls?)|"
    r"(logins?|log-ins?|sign-?ins?|logged in|signed in|access(ed)?) from (an? )?(\w+ ){0,2}"
    r"(foreign|unknown|unfamiliar|unrecogni[sz]ed|strange|unusual|new) (ip|country|location|device|address)|"
    r"leak(ed|ing)? (\w+ ){0,2}(keys?|tokens?|credentials|passwords?|secrets?)|"
    r"(keys?|tokens?|credentials|passwords?|secrets?) (\w+ ){0,2}(leaked|exposed|committed to|pushed to|posted)|"
    r"brute[- ]?forc\w*|credential stuffing|account takeover|impersonat\w*|"
    r"(we|i|nobody here) did ?n[o']t (request|do|make|authori[sz]e|create)|wasn'?t (us|me|one of us)|"
    r"someone (else )?(\w+ ){0,2}(logged|signed) in|malware|intrusion)"
)
_SINCE = _rx(
    r"\b(since (\d{1,2}(:\d\d)?\s*(am|pm)?|this morning|yesterday|last night|midnight|morning|"
    r"the \w+|tuesday|monday|wednesday|thursday|friday|hours|an hour)|"
    r"for (the (last|past) )?(\d+|several|many|a few) (hours|days|minutes)|for \d+ ?(h|min)\b)"
)
_URGENT_WORD = _rx(
    r"\b(urgent(ly)?|asap|emergency|critical|immediately|right now|sev ?[12]|p[01]\b|blocker|"
    r"blocking|show ?stopper|please hurry|hurry)\b"
)
_NOT_URGENT = _rx(r"\b(not urgent|no urgency|not blocking|not a blocker|no rush|not critical)\b")
_DEADLINE = _rx(
    r"\b(deadline|by (today|tonight|tomorrow|eod|cob|noon|end of (the )?(day|week)|this (afternoon|evening)|"
    r"\d{1,2}(:\d\d)? ?(am|pm)|(mon|tues|wednes|thurs|fri)day)|end of (the )?day|before (the |our |my )?"
    r"(launch|demo|meeting|release|call|presentation|audit|renewal|webinar)|go[- ]live|in \d+ (minutes|hours)|"
    r"tomorrow|this (afternoon|evening)|tonight|(need|needs|needed)\b.{0,30}\btoday|today at \d|"
    r"(meeting|call|demo|presentation) (is )?(at|in) \d|board (meeting|deck)|investor|is due|"
    r"due (today|tomorrow|on|this|friday)|deal closes|grace period|workshop|starts at)\b"
)
# when something started ("since this morning", "for 3 hours"): context, never a deadline
_MONEY = _rx(
    r"\b(charged (twice|double|wrong)|double[- ]charged|overcharged|payments? (fail(ed|ing)?|"
    r"declined|not going through)|payment for .{0,30} failed|invoice (wrong|incorrect)|incorrect invoice|refund)\b"
)
_BLOCKED = _rx(r"\b(blocked|stuck|can'?t (proceed|continue|work)|unable to work|depends? on)\b")
_REPEAT = _rx(
    r"\b(still waiting|no response|no reply|(second|third|fourth|\d+(st|nd|rd|th)) time|"
    r"\d+ times|repeated request|again and again|asked (twice|again))\b"
)
_CHURN = _rx(
    r"\b(cancel (our|my)? ?(subscription|contract|account|plan)|switch(ing)? to (a )?competitor|"
    r"churn|legal action|lawyer|escalate)\b"
)
_LOW = _rx(
    r"\b(no rush|whenever|not urgent|no urgency|not blocking|low priority|just curious|just a thought|"
    r"feature (request|idea)|idea(?=:)|would be (nice|handy|amazing|great)|nice[- ]to[- ]have|suggest\w*|"
    r"wishlist|wish list|would you consider|any plans|plans for|one day|in the future|vote on|"
    r"could .{0,40} let (me|us)|request:|please add|typo|feedback|love (it|the)|great|cute|lol|"
    r"just letting you know|referral|open source|who designed|random (question|q)|wondering|for later|"
    r"would (love|appreciate)|at some point|swag|just interested|thought(?=:)|fun idea|keep it up|"
    r"when you get a (sec|chance|minute)|no biggie|best \w+ (tool|product))\b"
)
# one user, one item: a real problem, but not a business-wide one
_SINGLE = _rx(r"\b(my|one|single|a single|one of|i'?m|i am|I)\b")
_TEAM = _rx(r"\b(team|our|we|we'?re|customers?|clients?|executives|analysts|people|users|company|office)\b")
_HOW_TO = _rx(r"(^|[.!?:]\s*)\W*(how (do|can|to|would)|where (do|can|is)|what is|is there|can i|can we)\b")


@dataclass(frozen=True)
class Signals:
    urgency: Urgency
    urgency_reasons: tuple[str, ...]
    sentiment: Sentiment
    frustration: float
    frustration_reasons: tuple[str, ...]


def assess_urgency(text: str, *, frustration: float = 0.0) -> tuple[Urgency, tuple[str, ...]]:
    """Urgency level and the cues that raised (or lowered) it.

    Severity comes from impact (something broken for many users or production,
    data loss, security) rather than tone: a polite "no rush, but all our
    dashboards are empty" is still critical, a shouted "URGENT how do I change
    a colour" is not.
    """
    reasons: list[str] = []
    level = Urgency.NORMAL

    def raise_to(new: Urgency, reason: str) -> None:
        nonlocal level
        reasons.append(reason)
        if new.rank > level.rank:
            level = new

    broken = _NOBODY_CAN.search(text) or _OUTAGE.search(text) or _HTTP_ERROR.search(text) or _BROKEN.search(text)
    scope = _SCOPE_ALL.search(text)
    prod = _PRODUCTION.search(text)
    outage = _OUTAGE.search(text)
    where = scope or prod
    if broken and where:
        who, what = where.group(0), broken.group(0).strip()
        cue = what if who.lower() in what.lower() else f"{who}' + '{what}"
        raise_to(Urgency.CRITICAL, f"widespread impact: '{cue}'")
    elif outage:
        raise_to(Urgency.CRITICAL, f"outage: '{outage.group(0)}'")
    elif broken and _TEAM.search(text):
        raise_to(Urgency.HIGH, f"something is broken for the team: '{broken.group(0).strip()}'")
    elif broken:
        reasons.append(f"something is broken for one user: '{broken.group(0).strip()}'")
    if m := _DATA_LOSS.search(text):
        raise_to(Urgency.CRITICAL, f"data loss: '{m.group(0)}'")
    if m := _SECURITY.search(text):
        raise_to(Urgency.CRITICAL, f"security: '{m.group(0)}'")
    if (m := _SINCE.search(text)) and broken:
        reasons.append(f"ongoing: '{m.group(0)}'")
    not_urgent = _NOT_URGENT.search(text)
    how_to = _HOW_TO.search(text)
    if (m := _URGENT_WORD.search(text)) and not not_urgent:
        if how_to and not broken:
            reasons.append(f"says '{m.group(0)}' but asks a how-to question")
        else:
            raise_to(Urgency.HIGH, f"says urgent: '{m.group(0)}'")
    if (m := _DEADLINE.search(_SINCE.sub(" ", text))) and not how_to:
        raise_to(Urgency.HIGH, f"deadline: '{m.group(0)}'")
    if m := _MONEY.search(text):
        raise_to(Urgency.HIGH, f"billing problem: '{m.group(0)}'")
    if m := _BLOCKED.search(text):
        raise_to(Urgency.HIGH, f"blocked: '{m.group(0)}'")
    if m := _REPEAT.search(text):
        raise_to(Urgency.HIGH, f"asked before: '{m.group(0)}'")
    if m := _CHURN.search(text):
        raise_to(Urgency.HIGH, f"churn risk: '{m.group(0)}'")
    if frustration >= 0.6:
        raise_to(Urgency.HIGH, f"frustrated customer (frustration {frustration:.2f})")
    if level.rank <= Urgency.HIGH.rank and not broken and (m := _LOW.search(text)):
        level = Urgency.LOW
        reasons.append(f"no time pressure: '{m.group(0)}'")
    return level, tuple(reasons)


URGENCY_CUES: dict[str, re.Pattern[str]] = {
    "nobody_can": _NOBODY_CAN,
    "scope_all": _SCOPE_ALL,
    "production": _PRODUCTION,
    "outage": _OUTAGE,
    "http_error": _HTTP_ERROR,
    "broken": _BROKEN,
    "data_loss": _DATA_LOSS,
    "security": _SECURITY,
    "since": _SINCE,
    "urgent_word": _URGENT_WORD,
    "not_urgent": _NOT_URGENT,
    "deadline": _DEADLINE,
    "money": _MONEY,
    "blocked": _BLOCKED,
    "repeat": _REPEAT,
    "churn": _CHURN,
    "low": _LOW,
    "single": _SINGLE,
    "team": _TEAM,
    "how_to": _HOW_TO,
}


def urgency_cues(text: str) -> dict[str, str]:
    """Which urgency cue families match ``text`` (name -> matched words): features for the trained model."""
    out = {}
    for name, rx in URGENCY_CUES.items():
        m = rx.search(_SINCE.sub(" ", text) if name == "deadline" else text)
        if m:
            out[name] = m.group(0)
    return out


# ---------------------------------------------------------------------- sentiment

_NEG = _rx(
    r"\b(unacceptable|ridiculous|terrible|awful|horrible|worst|useless|frustrat\w*|annoy\w*|angry|upset|"
    r"disappoint\w*|fed up|sick of|tired of|i'?m tired|waste of|joke|pathetic|disgrac\w*|furious|"
    r"not happy|unhappy|hate|bad|poor|wtf|seriously\?|come on|why (is|are|does|can'?t|won'?t)|"
    r"still (not|no|hasn'?t|haven'?t|waiting|broken|doesn'?t|can'?t)|nobody (has )?(answered|replied|"
    r"responded|cares|warned)|no (response|reply|answer)|ignored|not impressed|unbelievable|can'?t believe|"
    r"give up|gotten worse|getting worse|losing patience|a mess|mess\b|so done|done with|sigh|ugh|argh|"
    r"embarrassing|thanks for nothing|you broke|talk to a manager|speak to a manager|switching vendors|"
    r"considering switching|keeps? closing|same (bug|article|answer)|how many times|are you even|"
    r"this level of service|\w+ AF|third (outage|day|time)|another (outage|bug|error)|yet another|"
    r"i need a human|stop sending|slow|incomplete|sorry but|broke|crashed|keeps happening|no one fixes|"
    r"(four|five|\d+) times)\b|\bagain\.|nothing\."
)
_POS = _rx(
    r"\b(thanks?|thank you|thx|great|awesome|amazing|excellent|perfect|love|loves|appreciate\w*|helpful|"
    r"brilliant|fantastic|wonderful|happy|glad|nice|cheers|works now|solved|resolved|well done|kudos|"
    r"props|beautiful\w*|lovely|enjoy\w*|pleased|impressed|rocks|like a charm|good stuff|best|slick|"
    r"delighted|game changer|way (faster|better)|keep it up|super)\b"
)
_NEGATION_BEFORE_POS = _rx(
    r"\b(not|no|never|isn'?t|wasn'?t|hardly)\s+(\w+\s+)?(great|helpful|happy|good|nice|impressed)\b"
)
# "great, broken again": praise next to a problem is sarcasm
_PROBLEM = _rx(
    r"\b(broken|broke|outage|error|bug|nothing|crash\w*|failing|down)\b|\banother '|"
    r"\b(another|again)\b(?!.*\b(firing|working|works|year)\b)"
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


SENTIMENT_CUES: dict[str, re.Pattern[str]] = {
    "negative": _NEG,
    "positive": _POS,
    "negated_positive": _NEGATION_BEFORE_POS,
    "problem": _PROBLEM,
    "still_again": _STILL_AGAIN,
    "exclaim": _EXCLAIM,
}


def sentiment_cues(text: str) -> dict[str, str]:
    """Which sentiment cue families match ``text`` (name -> matched words)."""
    out = {name: m.group(0) for name, rx in SENTIMENT_CUES.items() if (m := rx.search(text))}
    caps = [w for w in _CAPS_WORD.findall(text) if w not in _ACRONYMS]
    if len(caps) >= 2 or any(len(w) >= 5 for w in caps):
        out["caps"] = caps[0]
    return out


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
    if len(caps) >= 2 or any(len(w) >= 5 for w in caps):
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
    negation = len(_NEGATION_BEFORE_POS.findall(text))
    neg = len(_NEG.findall(text)) + negation
    pos = len(_POS.findall(text)) - negation
    if pos > 0 and _PROBLEM.search(text):  # sarcasm: "oh wonderful, another outage"
        neg += pos + 1
    if frustration >= 0.2:
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
