"""``TextClassifier``: the ``Classifier`` port over the intent model + urgency/sentiment models and cues."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from supportbot.bot.classifier.intent import IntentModel
from supportbot.bot.classifier.signal_model import SignalModel, combine_sentiment, combine_urgency
from supportbot.bot.classifier.signals import assess
from supportbot.bot.domain import OUT_OF_SCOPE, Classification, IntentScore
from supportbot.bot.ports import Classifier

log = logging.getLogger(__name__)

_CONTEXT_MESSAGES = 5  # earlier customer messages considered for frustration / follow-ups
_SHORT_FOLLOW_UP_WORDS = 4  # "any update?", "still broken" -- too short to carry an intent


def default_model_dir() -> Path:
    """The bundled model trained on ``bot/example/intents.csv``."""
    return Path(__file__).resolve().parent.parent / "example" / "model"


def default_signal_model_dir() -> Path:
    """The bundled urgency/sentiment model trained on ``bot/example/{urgency,sentiment}.csv``."""
    return Path(__file__).resolve().parent.parent / "example" / "signal_model"


class TextClassifier(Classifier):
    """Intent (calibrated, with abstention) + urgency + sentiment/frustration.

    ``context`` (earlier customer messages of the conversation, oldest first)
    is used for two things: repeated asks raise ``frustration`` (and with it
    urgency), and a very short follow-up ("any update??") that the intent model
    cannot place on its own is classified together with the previous message.

    Without a ``signal_model`` urgency and sentiment come from the cues alone.
    """

    def __init__(self, model: IntentModel, signal_model: SignalModel | None = None) -> None:
        self.model = model
        self.signal_model = signal_model
        self.version = model.version
        self._embedded: dict[str, np.ndarray] = {}  # texts encoded ahead in batches (see precompute)

    @property
    def uses_embeddings(self) -> bool:
        return bool(self.model.embedding) or (self.signal_model is not None and self.signal_model.uses_embeddings)

    def precompute(self, texts: Sequence[str], *, n_jobs: int = 1) -> int:
        """Encode ``texts`` now, in batches (several times faster than one by one), for the
        ``classify`` calls that follow; a vector does not depend on its batch, so results are
        the same. Returns how many texts were encoded. ``forget`` drops them again."""
        if not self.uses_embeddings:
            return 0
        todo = sorted({t for t in texts if t.strip() and t not in self._embedded}, key=len)  # less padding
        if not todo:
            return 0
        from supportbot.bot.classifier.embeddings import encode_parallel

        vectors = encode_parallel(todo, n_jobs)
        self._embedded.update({t: vectors[i : i + 1] for i, t in enumerate(todo)})
        return len(todo)

    def forget(self) -> None:
        self._embedded = {}

    def classify(self, text: str, *, context: Sequence[str] = ()) -> Classification:
        context = [c for c in context if c and c.strip()][-_CONTEXT_MESSAGES:]
        emb = self._embedding(text)
        pred = self.model.predict_one(text, embedding=emb)
        if pred.out_of_scope and context and text.strip() and len(text.split()) <= _SHORT_FOLLOW_UP_WORDS:
            combined = self.model.predict_one(f"{context[-1]} {text}")
            if not combined.out_of_scope:
                # the topic comes from the earlier message, but this message alone is no
                # question to answer automatically: keep its own (low) confidence
                pred = replace(combined, confidence=min(pred.confidence, combined.confidence))
        signals = assess(text, context)
        urgency, reasons, sentiment = signals.urgency, signals.urgency_reasons, signals.sentiment
        if self.signal_model is not None and text.strip():
            (u_label, u_p), (s_label, _) = self.signal_model.predict(
                text, emb if self.signal_model.uses_embeddings else None
            )
            urgency, reasons = combine_urgency(u_label, u_p, text, signals.frustration)
            sentiment = combine_sentiment(s_label, signals.frustration)
        assert self.model.scope is not None
        return Classification(
            intent=OUT_OF_SCOPE if pred.out_of_scope else pred.intent,
            confidence=round(pred.confidence, 6),
            out_of_scope=pred.out_of_scope,
            urgency=urgency,
            sentiment=sentiment,
            top_intents=tuple(IntentScore(i, round(p, 6)) for i, p in pred.top),
            urgency_reasons=reasons,
            frustration=signals.frustration,
            model_version=self.version,
            scope_score=None if pred.scope_score is None else round(pred.scope_score, 4),
            scope_threshold=round(self.model.scope.threshold, 4),
        )

    def _embedding(self, text: str) -> np.ndarray | None:
        """One sentence embedding shared by the intent and signal models (None if neither uses one)."""
        if not self.uses_embeddings or not text.strip():
            return None
        ahead = self._embedded.get(text)
        if ahead is not None:
            return ahead
        from supportbot.bot.classifier.embeddings import require_encoder

        return require_encoder().encode([text])

    def labels(self) -> tuple[str, ...]:
        return self.model.intents

    def thresholds(self) -> dict[str, float]:
        return dict(self.model.thresholds)


def load_classifier(model_dir: Path | str | None = None, signal_model_dir: Path | str | None = None) -> TextClassifier:
    """Load a model directory (default: the bundled one); ``ModelError`` if missing or tampered.

    The urgency/sentiment model comes from ``signal_model_dir`` (default: the
    bundled one; when the bundled one is absent, the cues alone decide).
    """
    model = IntentModel.load(Path(model_dir) if model_dir else default_model_dir())
    if signal_model_dir is None:
        default = default_signal_model_dir()
        signal_model = SignalModel.load(default) if default.is_dir() else None
        if signal_model is None:
            log.warning("no urgency/sentiment model in %s: urgency and sentiment come from the cues alone", default)
    else:
        signal_model = SignalModel.load(signal_model_dir)
    return TextClassifier(model, signal_model)
