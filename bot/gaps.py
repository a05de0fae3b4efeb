"""Knowledge gaps: what customers ask that the bot could not answer, grouped into topics.

The questions the bot *could not answer* are conversations whose latest decision is a hand-off by
the ``no_article``, ``out_of_scope`` or ``low_confidence`` rule, or an automatic answer rated 👎.
They are grouped by what they say, not by the model's best guess (which is exactly what is wrong
for a question the model does not know):

1. each question becomes a unit vector: its sentence embedding when the encoder is installed, else
   word + character TF-IDF;
2. community detection (as in sentence-transformers' ``community_detection``): the question with
   the most neighbours above a cosine threshold opens a topic with its unassigned neighbours, then
   the next, until none has ``min_size`` left; questions still unassigned join the topic whose
   centroid they are similar enough to;
3. each topic is labelled by its most distinctive words (class-based TF-IDF against all the
   questions) and gets a suggested article title made from its most central question.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from supportbot.bot.domain import Action, MessageKind
from supportbot.bot.ports import TextEncoder, UnitOfWork

if TYPE_CHECKING:
    import numpy as np

GAP_RULES = ("no_article", "out_of_scope", "low_confidence")
# cosine thresholds per representation (chosen on tests/cxops/gap_topics.py development set, not on the benchmark's)
EMBEDDING_THRESHOLD = 0.5
TFIDF_THRESHOLD = 0.25
MERGE_THRESHOLD = 0.8  # topics whose centroids are this similar are one topic
EXAMPLES = 5
_BLOCK = 1024  # rows of the similarity matrix computed at once (memory stays ~40 MB at 10,000)

Progress = Callable[[int, int], None]

_WORD = re.compile(r"[a-z0-9][a-z0-9+#.'-]*[a-z0-9+#]|[a-z0-9]")
_STOP_WORDS = """
a about above after again all also am an and any anyone anything are as at be been before being but by can
could did do does doing don't for from get got had has have having hello help hey hi how i i'm if in into is
it it's its just know let like me my need no not now of on one or our out please possible pls question quick
so some still that the their them then there these they this to too trying us use using via want was way we
we're what when where which while who why will with would you your yours thanks thank team guys anybody
there's cant can't dont im ive i've we've
"""
_STOP = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class Question:
    conversation_id: str
    message_id: str
    text: str
    reason: str  # no_article, out_of_scope, low_confidence, thumbs_down
    created_at: datetime


@dataclass(frozen=True)
class Topic:
    label: str
    size: int
    examples: tuple[str, ...]
    conversation_ids: tuple[str, ...]
    suggested_title: str
    reasons: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Exactly the keys of the ``supportbot gaps --json`` contract."""
        return {
            "label": self.label,
            "size": self.size,
            "examples": list(self.examples),
            "conversation_ids": list(self.conversation_ids),
            "suggested_title": self.suggested_title,
        }


def unanswered(uow: UnitOfWork, since: datetime | None = None) -> list[Question]:
    """The customer questions the bot could not answer, from the latest decision of each conversation."""
    latest = {}
    for record in uow.decisions.list(since=since):  # oldest first: the last one per conversation wins
        latest[record.conversation_id] = record
    if not latest:
        return []
    negative = {
        a.conversation_id: a.created_at
        for a in uow.actions.list(since=since, action="csat")
        if a.conversation_id and a.detail.get("negative")
    }
    texts = {
        m.id: m.text
        for m in uow.messages.list(since=since)
        if m.kind is MessageKind.CUSTOMER and m.conversation_id in latest
    }
    out = []
    for conversation_id, record in latest.items():
        d = record.decision
        if d.action is Action.HANDOFF and d.rule in GAP_RULES:
            reason = d.rule
        elif d.action is Action.ANSWER and conversation_id in negative:
            reason = "thumbs_down"
        else:
            continue
        text = texts.get(record.message_id)
        if text:
            out.append(Question(conversation_id, record.message_id, text, reason, record.created_at))
    return out


# ---------------------------------------------------------------------------- vectors


def _tfidf(texts: Sequence[str]) -> np.ndarray | Any:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(
        sublinear_tf=True, stop_words=sorted(_STOP), token_pattern=_WORD.pattern, ngram_range=(1, 2)
    )
    chars = TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(3, 5), min_df=2)
    try:
        x = sp.hstack([words.fit_transform(texts), chars.fit_transform(texts)], format="csr")
    except ValueError:  # nothing but stop words
        x = chars.fit_transform(texts)
    norms = sp.linalg.norm(x, axis=1)
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms) @ x


def vectors(texts: Sequence[str], encoder: TextEncoder | None) -> tuple[Any, float, str]:
    """Unit rows for ``texts``, the cosine threshold that goes with them, and their name."""
    import numpy as np

    if encoder is not None:
        v = np.asarray(encoder.encode(list(texts)), dtype=np.float32)
        return v, EMBEDDING_THRESHOLD, "embeddings"
    return _tfidf(texts), TFIDF_THRESHOLD, "tf-idf"


def _dense(block: Any) -> np.ndarray:
    import numpy as np

    dense: np.ndarray = np.asarray(block.toarray() if hasattr(block, "toarray") else block, dtype=np.float32)
    return dense


# ---------------------------------------------------------------------------- clustering


def communities(x: Any, threshold: float, min_size: int, progress: Progress | None = None) -> list[list[int]]:
    """Groups of row indices, largest first (see the module docstring)."""
    import numpy as np

    n = x.shape[0]
    neighbours: list[np.ndarray] = []
    for start in range(0, n, _BLOCK):
        sims = _dense(x[start : start + _BLOCK] @ x.T)
        neighbours += [np.flatnonzero(row >= threshold) for row in sims]
        if progress is not None:
            progress(min(start + _BLOCK, n), n)
    counts = np.array([len(nb) for nb in neighbours])
    assigned = np.zeros(n, dtype=bool)
    groups: list[list[int]] = []
    for i in np.argsort(-counts, kind="stable"):
        if counts[i] < min_size:
            break
        if assigned[i]:
            continue
        members = [int(j) for j in neighbours[i] if not assigned[j]]
        if len(members) < min_size:
            continue
        assigned[members] = True
        groups.append(members)
    return refine(x, groups, threshold, min_size)


def _centroids(x: Any, groups: Sequence[Sequence[int]]) -> np.ndarray:
    import numpy as np

    c = np.vstack([_dense(x[list(g)].mean(axis=0)).ravel() for g in groups])
    norms: np.ndarray = np.clip(np.linalg.norm(c, axis=1, keepdims=True), 1e-12, None)
    unit: np.ndarray = c / norms
    return unit


def refine(x: Any, groups: list[list[int]], threshold: float, min_size: int, rounds: int = 2) -> list[list[int]]:
    """Merge topics whose centroids nearly coincide, then let every question join the topic whose
    centroid it is most similar to (at least ``threshold``), twice: a ball around one question misses
    paraphrases that are close to the topic as a whole."""
    import numpy as np

    if not groups:
        return []
    n = x.shape[0]
    for _ in range(rounds):
        c = _centroids(x, groups)
        sims = c @ c.T
        merged: list[list[int]] = []
        into: dict[int, int] = {}
        for i in range(len(groups)):
            j = next((into[k] for k in range(i) if sims[i, k] >= MERGE_THRESHOLD and k in into), None)
            if j is None:
                into[i] = len(merged)
                merged.append(list(groups[i]))
            else:
                into[i] = j
                merged[j] += groups[i]
        c = _centroids(x, merged)
        best = np.full(n, -1)
        score = np.full(n, -np.inf)
        for start in range(0, n, _BLOCK):
            s = _dense(x[start : start + _BLOCK] @ c.T)
            best[start : start + len(s)] = s.argmax(axis=1)
            score[start : start + len(s)] = s.max(axis=1)
        regrouped: dict[int, list[int]] = defaultdict(list)
        for row in np.flatnonzero(score >= threshold):
            regrouped[int(best[row])].append(int(row))
        groups = [g for g in regrouped.values() if len(g) >= min_size]
        if not groups:
            return []
    return sorted(groups, key=lambda g: (-len(g), min(g)))


def _terms(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP and not w.isdigit() and len(w) > 1]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def label_topics(texts: Sequence[str], groups: Sequence[Sequence[int]], top: int = 3) -> list[str]:
    """The most distinctive words of each group (class-based TF-IDF: frequent in it, rare elsewhere)."""
    docs = [set(_terms(t)) for t in texts]
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d)
    n = len(texts)
    labels = []
    for group in groups:
        tf: Counter[str] = Counter()
        for i in group:
            tf.update(docs[i])
        scored = sorted(
            ((count / len(group)) * math.log(1 + n / df[term]) * (1.15 if " " in term else 1.0), term)
            for term, count in tf.items()
            if count >= max(2, math.ceil(0.2 * len(group)))
        )
        chosen: list[str] = []
        for _, term in reversed(scored):
            if any(term in c or c in term for c in chosen):
                continue
            chosen.append(term)
            if len(chosen) == top:
                break
        labels.append(" · ".join(chosen) if chosen else "(mixed questions)")
    return labels


_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|yo|good (?:morning|afternoon)|quick question|sorry to bother)"
    r"(?: there| team| all| folks)?[,:!.\s-]*)+",
    re.I,
)
_THANKS = re.compile(r"[\s,.!-]*(?:thanks|thank you|thx|cheers|ty)(?: in advance| a lot)?[\s.!]*$", re.I)
_HOW = re.compile(r"^how (?:do|can|could|should) (?:i|we|you|one) ", re.I)


def suggested_title(question: str) -> str:
    """An article title from a customer's question: greetings and thanks dropped, "how do I X" → "How to X"."""
    text = _THANKS.sub("", _GREETING.sub("", question.strip())).strip()
    text = re.split(r"(?<=[?.!])\s", text, maxsplit=1)[0].strip()  # the first sentence carries the ask
    text = "How to " + _HOW.sub("", text).rstrip("?. ") if _HOW.match(text) else text.rstrip(". ")
    text = re.sub(r"\s+", " ", text)
    if len(text) > 90:
        text = text[:87].rsplit(" ", 1)[0] + "…"
    return text[:1].upper() + text[1:] if text else question[:90]


def shared_encoder() -> TextEncoder | None:
    """The classifier's sentence encoder when installed and intact, else None (TF-IDF is used)."""
    from supportbot.bot.classifier.embeddings import default_encoder
    from supportbot.bot.errors import ModelError

    try:
        encoder = default_encoder()
    except ModelError:
        return None
    return cast("TextEncoder | None", encoder)  # SentenceEncoder implements the port by its methods


def find_gaps(
    questions: Sequence[Question],
    *,
    encoder: TextEncoder | None,
    min_size: int = 3,
    threshold: float | None = None,
    progress: Progress | None = None,
) -> list[Topic]:
    """Topics of unanswered questions with at least ``min_size`` questions, largest first."""
    import numpy as np

    if len(questions) < max(1, min_size):
        return []
    texts = [q.text for q in questions]
    x, default_threshold, _ = vectors(texts, encoder)
    groups = communities(x, threshold if threshold is not None else default_threshold, max(1, min_size), progress)
    labels = label_topics(texts, groups)
    topics = []
    for group, label in zip(groups, labels, strict=True):
        members = _dense(x[group])
        centroid = members.mean(axis=0)
        closeness = members @ (centroid / max(float(np.linalg.norm(centroid)), 1e-12))
        order = [group[int(i)] for i in np.argsort(-closeness, kind="stable")]
        examples, seen = [], set()
        for i in order:
            key = texts[i].strip().lower()
            if key not in seen:
                seen.add(key)
                examples.append(texts[i])
            if len(examples) == EXAMPLES:
                break
        reasons: dict[str, int] = defaultdict(int)
        for i in group:
            reasons[questions[i].reason] += 1
        ids = sorted({questions[i].conversation_id for i in group}, key=lambda c: c)
        topics.append(
            Topic(label, len(group), tuple(examples), tuple(ids), suggested_title(texts[order[0]]), dict(reasons))
        )
    return topics
