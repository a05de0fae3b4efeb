"""Replay past tickets through the current model, knowledge base and policy: what would the bot do?

Each ticket is decided by the core's own ``Triage.assess`` on a snapshot built exactly as
``supportbot ask`` builds it (a new conversation, today's manager overrides), and nothing is stored
or posted. ``actions`` and ``automatic_precision`` describe today's settings.

The risk-coverage ``curve`` sweeps one global threshold *t*: each point passes ``{intent: t}`` for
every intent as the managers' overrides, which take the place of all per-intent and model
thresholds, while every other rule is unchanged (a tier threshold may still raise the bar).
``automation_rate`` is automatic answers / n; ``precision`` is the share of automatic answers
whose predicted intent equals the ticket's label (an answered out-of-scope ticket is wrong), or
None when nothing is answered.

``recommended`` is the most automation whose measured precision reaches the target: the lowest
global threshold that reaches it, then per-intent thresholds where an intent has enough tickets
to measure its own curve; its ``automation_rate`` and ``precision`` are measured again with
exactly those thresholds.

Classifications and knowledge-base hits do not depend on the thresholds, so the sweep computes
them once per ticket (memoised) and reruns only the rest of the triage for each point; sentence
embeddings are computed ahead in batches.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from supportbot.bot.classifier.loader import innermost
from supportbot.bot.domain import (
    Account,
    Action,
    Article,
    ArticleHit,
    Author,
    Classification,
    InboundMessage,
    MessageKind,
    Passage,
    Role,
    StoredMessage,
)
from supportbot.bot.errors import InvalidInput
from supportbot.bot.ports import Classifier, KnowledgeBase
from supportbot.bot.text import clean_text, for_model
from supportbot.bot.triage import DECIDE, Snapshot, Triage

ACTIONS = ("answer", "draft", "handoff")
# the sweep: coarse where little changes, every point near the top where thresholds live
GRID = tuple(round(x * 0.05, 2) for x in range(18)) + tuple(round(0.85 + x * 0.01, 2) for x in range(1, 16))
MIN_INTENT_TICKETS = 10  # tickets predicted as an intent before it gets a threshold of its own

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Ticket:
    text: str
    label: str


@dataclass(frozen=True)
class Outcome:
    """What the bot would do with one ticket."""

    action: str | None  # answer, draft, handoff; None: ignored as noise or rejected as input
    rule: str | None
    predicted: str | None
    confidence: float | None

    def correct(self, label: str, oos_labels: frozenset[str]) -> bool:
        return self.action == "answer" and label not in oos_labels and self.predicted == label


@dataclass(frozen=True)
class Point:
    threshold: float
    automation_rate: float
    precision: float | None
    answered: int

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "automation_rate": self.automation_rate, "precision": self.precision}


@dataclass(frozen=True)
class Recommendation:
    global_threshold: float
    per_intent: dict[str, float]
    automation_rate: float
    precision: float | None
    reached: bool  # False: no threshold reaches the target; the global one is then 1.0

    def overrides(self, labels: Sequence[str]) -> dict[str, float]:
        return {intent: self.per_intent.get(intent, self.global_threshold) for intent in labels}

    def to_dict(self) -> dict[str, Any]:
        return {
            "global": self.global_threshold,
            "per_intent": dict(sorted(self.per_intent.items())),
            "automation_rate": self.automation_rate,
            "precision": self.precision,
        }


@dataclass
class Simulation:
    n: int
    target_precision: float
    outcomes: list[Outcome]
    tickets: list[Ticket]
    curve: list[Point]
    recommended: Recommendation
    oos_labels: frozenset[str]
    seconds: float = 0.0
    per_intent: list[dict[str, Any]] = field(default_factory=list)  # for the HTML report

    @property
    def actions(self) -> dict[str, float]:
        counts = {a: 0 for a in ACTIONS}
        for o in self.outcomes:
            if o.action in counts:
                counts[o.action] += 1
        return {a: (counts[a] / self.n if self.n else 0.0) for a in ACTIONS}

    @property
    def automatic_precision(self) -> float | None:
        return _precision(self.outcomes, self.tickets, self.oos_labels)

    def to_dict(self) -> dict[str, Any]:
        """Exactly the keys of the ``supportbot simulate --json`` contract."""
        return {
            "n": self.n,
            "actions": self.actions,
            "automatic_precision": self.automatic_precision,
            "curve": [p.to_dict() for p in self.curve],
            "recommended": self.recommended.to_dict(),
        }


def _precision(outcomes: Sequence[Outcome], tickets: Sequence[Ticket], oos: frozenset[str]) -> float | None:
    answered = [(o, t) for o, t in zip(outcomes, tickets, strict=True) if o.action == "answer"]
    if not answered:
        return None
    return sum(o.correct(t.label, oos) for o, t in answered) / len(answered)


# ---------------------------------------------------------------------------- memoised parts


class _MemoClassifier(Classifier):
    """The core's classifier, asked once per text: the sweep reruns the triage, not the model."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        self.version = inner.version
        self._seen: dict[tuple[str, tuple[str, ...]], Classification] = {}
        self._thresholds = inner.thresholds()
        self._labels = inner.labels()

    def classify(self, text: str, *, context: Sequence[str] = ()) -> Classification:
        key = (text, tuple(context))
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self.inner.classify(text, context=context)
        return found

    def labels(self) -> tuple[str, ...]:
        return self._labels

    def thresholds(self) -> dict[str, float]:
        return dict(self._thresholds)


class _MemoKnowledgeBase(KnowledgeBase):
    def __init__(self, inner: KnowledgeBase) -> None:
        self.inner = inner
        self._seen: dict[tuple[str, str | None, int], list[ArticleHit]] = {}

    def search(self, query: str, *, intent: str | None = None, limit: int = 3) -> list[ArticleHit]:
        key = (query, intent, limit)
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self.inner.search(query, intent=intent, limit=limit)
        return list(found)

    def internal_notes(self, article_id: str) -> list[Passage]:
        return self.inner.internal_notes(article_id)

    def get(self, article_id: str) -> Article | None:
        return self.inner.get(article_id)

    def articles(self) -> list[Article]:
        return self.inner.articles()


def memoised(triage: Triage) -> Triage:
    """The same triage (same class, policy and gates) over memoised classifier and knowledge base."""
    clone = copy.copy(triage)
    clone.classifier = _MemoClassifier(triage.classifier)
    clone.kb = _MemoKnowledgeBase(triage.kb)
    return clone


def precompute_embeddings(classifier: Classifier, texts: Sequence[str], *, n_jobs: int = 1) -> int:
    """Batch-encode what the classifier will be asked (when it uses sentence embeddings)."""
    inner = innermost(classifier)
    ahead = getattr(inner, "precompute", None)
    if ahead is None:
        return 0
    return int(ahead([for_model(t) for t in texts], n_jobs=n_jobs))


# ---------------------------------------------------------------------------- parallel prefill

_FORKED: tuple[Classifier, KnowledgeBase, int] | None = None  # what forked workers inherit


def _model_text(raw: str, max_chars: int) -> str | None:
    try:
        return for_model(clean_text(raw, max_chars=max_chars))
    except InvalidInput:
        return None


def _prefill_chunk(texts: list[str]) -> list[tuple[str, Classification, list[tuple[Any, ...]]]]:
    """In a forked worker: what the triage will ask the classifier and the knowledge base for each text."""
    assert _FORKED is not None
    classifier, kb, limit = _FORKED
    out = []
    for text in texts:
        c = classifier.classify(text, context=[])
        hits = kb.search(text, intent=c.intent, limit=limit)
        out.append((text, c, [(h.article.id, h.score, h.passage, h.section, h.passages) for h in hits]))
    return out


def prefill(replay: Replay, texts: Sequence[str], workers: int) -> int:
    """Classify and search the tickets in ``workers`` forked processes and fill the replay's memos, so
    the triage that follows (in this process, unchanged) finds every answer ready. Only a speed-up:
    a text the triage asks about differently is simply computed again. Returns how many were filled."""
    import multiprocessing

    global _FORKED
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    memo_c, memo_kb = replay.triage.classifier, replay.triage.kb
    assert isinstance(memo_c, _MemoClassifier) and isinstance(memo_kb, _MemoKnowledgeBase)
    todo = sorted({t for t in texts if t})
    if len(todo) < 200:
        return 0
    chunks = [todo[i :: workers * 4] for i in range(workers * 4)]
    _FORKED = (memo_c.inner, memo_kb.inner, 3)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for part in pool.imap_unordered(_prefill_chunk, chunks):
                for text, c, hits in part:
                    memo_c._seen[(text, ())] = c
                    rebuilt = []
                    for article_id, score, passage, section, passages in hits:
                        article = memo_kb.inner.get(article_id)
                        if article is None:
                            break
                        rebuilt.append(ArticleHit(article, score, passage, section, passages))
                    else:
                        memo_kb._seen[(text, c.intent, 3)] = rebuilt
    finally:
        _FORKED = None
    return len(todo)


# ---------------------------------------------------------------------------- the replay


class Replay:
    """Decides tickets with a (memoised) triage; one ``Snapshot`` per ticket, as ``ask`` builds it."""

    def __init__(self, triage: Triage, account: Account | None, *, max_chars: int = 40_000) -> None:
        self.triage = memoised(triage)
        self.account = account
        self.max_chars = max_chars
        now = datetime.now(UTC)
        self._author = Author("simulate", "Simulated customer", Role.CUSTOMER)
        self._now = now

    def snapshot(self, index: int, text: str, overrides: Mapping[str, float]) -> Snapshot:
        message_id = f"sim-{index}"
        msg = InboundMessage(
            "cli", "local", "simulate", message_id, self._author, text, self._now, thread_id=message_id
        )
        stored = StoredMessage(
            message_id,
            "cli",
            "local",
            "simulate",
            message_id,
            None,
            self._author.user_id,
            self._author.display_name,
            Role.CUSTOMER,
            MessageKind.CUSTOMER,
            text,
            self._now,
        )
        return Snapshot(stored, msg, None, overrides=dict(overrides))

    def decide(self, index: int, raw: str, overrides: Mapping[str, float]) -> Outcome:
        try:
            text = clean_text(raw, max_chars=self.max_chars)
        except InvalidInput:
            return Outcome(None, "rejected", None, None)
        verdict = self.triage.assess(self.snapshot(index, text, overrides), self.account)
        if verdict.kind != DECIDE or verdict.decision is None:
            return Outcome(None, verdict.reason, None, None)
        c = verdict.classification
        action: Action = verdict.decision.action
        return Outcome(action.value, verdict.decision.rule, c.intent if c else None, c.confidence if c else None)

    def run(
        self, tickets: Sequence[Ticket], overrides: Mapping[str, float], tick: Callable[[], None] | None = None
    ) -> list[Outcome]:
        out = []
        for i, ticket in enumerate(tickets):
            out.append(self.decide(i, ticket.text, overrides))
            if tick is not None:
                tick()
        return out


def _point(threshold: float, outcomes: list[Outcome], tickets: Sequence[Ticket], oos: frozenset[str]) -> Point:
    answered = sum(o.action == "answer" for o in outcomes)
    n = len(tickets)
    return Point(threshold, answered / n if n else 0.0, _precision(outcomes, tickets, oos), answered)


def simulate(
    triage: Triage,
    tickets: Sequence[Ticket],
    *,
    account: Account | None,
    overrides: Mapping[str, float],
    labels: Sequence[str],
    target_precision: float = 0.98,
    oos_labels: Sequence[str] = (),
    grid: Sequence[float] = GRID,
    max_chars: int = 40_000,
    progress: Progress | None = None,
    encode_jobs: int = 1,
    workers: int = 1,
) -> Simulation:
    """Decide every ticket under today's settings, sweep the curve, recommend thresholds."""
    import time

    t0 = time.perf_counter()
    tickets = list(tickets)
    oos = frozenset(oos_labels)
    replay = Replay(triage, account, max_chars=max_chars)
    total = len(tickets) * (len(grid) + 2)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None and (done % 200 == 0 or done == total):
            progress(done, total)

    precompute_embeddings(triage.classifier, [t.text for t in tickets], n_jobs=encode_jobs)
    if workers > 1:
        prefill(replay, [m for t in tickets if (m := _model_text(t.text, max_chars))], workers)
    baseline = replay.run(tickets, overrides, tick)
    sweeps: dict[float, list[Outcome]] = {}
    for t in grid:
        sweeps[t] = replay.run(tickets, {intent: t for intent in labels}, tick)
    curve = [_point(t, sweeps[t], tickets, oos) for t in grid]
    recommended = _recommend(replay, tickets, sweeps, curve, labels, target_precision, oos, tick)
    sim = Simulation(len(tickets), target_precision, baseline, tickets, curve, recommended, oos)
    sim.per_intent = _per_intent(tickets, baseline, oos)
    if progress is not None:
        progress(total, total)
    sim.seconds = time.perf_counter() - t0
    return sim


def _reaches(precision: float | None, target: float) -> bool:
    return precision is not None and precision >= target - 1e-12


def _recommend(
    replay: Replay,
    tickets: list[Ticket],
    sweeps: dict[float, list[Outcome]],
    curve: list[Point],
    labels: Sequence[str],
    target: float,
    oos: frozenset[str],
    tick: Callable[[], None],
) -> Recommendation:
    grid = [p.threshold for p in curve]
    good = [p for p in curve if _reaches(p.precision, target) and p.answered > 0]
    reached = bool(good)
    g = min(p.threshold for p in good) if good else 1.0
    # an intent's answers depend only on its own threshold, so its curve is read off the global sweep
    by_intent: dict[str, list[int]] = defaultdict(list)
    for i, o in enumerate(sweeps[grid[0]]):
        if o.predicted is not None:
            by_intent[o.predicted].append(i)
    per_intent: dict[str, float] = {}
    for intent in labels:
        rows = by_intent.get(intent, [])
        if len(rows) < MIN_INTENT_TICKETS:
            continue
        if not any(sweeps[grid[0]][i].action == "answer" for i in rows):
            continue  # never answered whatever the threshold (a hand-off intent, not automated, ...)
        best: float | None = None
        for t in grid:
            answered = [i for i in rows if sweeps[t][i].action == "answer"]
            correct = sum(sweeps[t][i].correct(tickets[i].label, oos) for i in answered)
            if answered and _reaches(correct / len(answered), target):
                best = t
                break
        chosen = best if best is not None else 1.0
        if chosen != g:
            per_intent[intent] = chosen
    # measure exactly these; if the intents left on the global threshold drag precision under the
    # target, raise the global threshold until it holds (or nothing is left to raise)
    while True:
        rec = Recommendation(g, per_intent, 0.0, None, reached)
        outcomes = replay.run(tickets, rec.overrides(labels), tick)
        point = _point(g, outcomes, tickets, oos)
        higher = [t for t in grid if t > g]
        if _reaches(point.precision, target) or point.answered == 0 or not higher:
            return Recommendation(g, per_intent, point.automation_rate, point.precision, reached)
        g = higher[0]
        per_intent = {i: t for i, t in per_intent.items() if t != g}


def _per_intent(tickets: Sequence[Ticket], outcomes: Sequence[Outcome], oos: frozenset[str]) -> list[dict[str, Any]]:
    """Per predicted intent under today's settings: tickets, answered, answered correctly."""
    rows: dict[str, dict[str, Any]] = {}
    for ticket, o in zip(tickets, outcomes, strict=True):
        key = o.predicted or "(not decided)"
        row = rows.setdefault(key, {"intent": key, "tickets": 0, "answered": 0, "correct": 0, "labelled": 0})
        row["tickets"] += 1
        row["labelled"] += ticket.label == key
        if o.action == "answer":
            row["answered"] += 1
            row["correct"] += o.correct(ticket.label, oos)
    return sorted(rows.values(), key=lambda r: (-r["tickets"], r["intent"]))
