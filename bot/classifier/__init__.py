"""Intent classification, urgency and sentiment for supportbot.

Public API::

    from supportbot.bot.classifier import load_classifier, default_model_dir, TextClassifier
    clf = load_classifier()                   # bundled model in bot/example/model/
    c = clf.classify(text, context=earlier)   # -> bot.domain.Classification
    clf.thresholds()                          # {"*": 0.97, "invoice": 0.93, ...}

Training and evaluation: :func:`bot.classifier.intent.train_intent_model`,
:func:`bot.classifier.evaluation.evaluate_model` (also ``supportbot train`` /
``supportbot eval``).
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: scikit-learn and onnxruntime take seconds to import, and
# ``supportbot run`` loads them on a background thread (``loader.LazyClassifier``).
_EXPORTS = {
    "IntentModel": "supportbot.bot.classifier.intent",
    "IntentPrediction": "supportbot.bot.classifier.intent",
    "train_intent_model": "supportbot.bot.classifier.intent",
    "assess": "supportbot.bot.classifier.signals",
    "TextClassifier": "supportbot.bot.classifier.text_classifier",
    "default_model_dir": "supportbot.bot.classifier.text_classifier",
    "load_classifier": "supportbot.bot.classifier.text_classifier",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
