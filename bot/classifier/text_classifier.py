"""``TextClassifier``: the ``Classifier`` port over the intent model + signal rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from supportbot.bot.classifier.intent import IntentModel
from supportbot.bot.classifier.signals import assess
from supportbot.bot.domain import OUT_OF_SCOPE, Classification, IntentScore
from supportbot.bot.ports import Classifier

_CONTEXT_MESSAGES = 5  # earlier customer messages considered for frustration / follow-ups
_SHORT_FOLLOW_UP_WORDS = 4  # "any update?", "still broken" -- too short to carry an intent


def default_model_dir() -> Path:
    """The bundled model trained on ``bot/example/intents.csv``."""
    return Path(__file__).resolve().parent.parent / "example" / "model"


class TextClassifier(Classifier):
    """Intent (calibrated, with abstention) + urgency + sentiment/frustration.

    ``context`` (earlier customer messages of the conversation, oldest first)
    is used for two things: repeated asks raise ``frustration`` (and with it
    urgency), and a very short follow-up ("any update??") that the intent model
    cannot place on its own is classified together with the previous message.
    """

    def __init__(self, model: IntentModel) -> None:
        self.model = model
        self.version = model.version

    def classify(self, text: str, *, context: Sequence[str] = ()) -> Classification:
        context = [c for c in context if c and c.strip()][-_CONTEXT_MESSAGES:]
        pred = self.model.predict_one(text)
        if pred.out_of_scope and context and text.strip() and len(text.split()) <= _SHORT_FOLLOW_UP_WORDS:
            combined = self.model.predict_one(f"{context[-1]} {text}")
            if not combined.out_of_scope:
                # the topic comes from the earlier message, but this message alone is no
                # question to answer automatically: keep its own (low) confidence
                pred = replace(combined, confidence=min(pred.confidence, combined.confidence))
        signals = assess(text, context)
        reasons = signals.urgency_reasons
        return Classification(
            intent=OUT_OF_SCOPE if pred.out_of_scope else pred.intent,
            confidence=round(pred.confidence, 6),
            out_of_scope=pred.out_of_scope,
            urgency=signals.urgency,
            sentiment=signals.sentiment,
            top_intents=tuple(IntentScore(i, round(p, 6)) for i, p in pred.top),
            urgency_reasons=reasons,
            frustration=signals.frustration,
            model_version=self.version,
        )

    def labels(self) -> tuple[str, ...]:
        return self.model.intents

    def thresholds(self) -> dict[str, float]:
        return dict(self.model.thresholds)


def load_classifier(model_dir: Path | str | None = None) -> TextClassifier:
    """Load a model directory (default: the bundled one); ``ModelError`` if missing or tampered."""
    return TextClassifier(IntentModel.load(Path(model_dir) if model_dir else default_model_dir()))
