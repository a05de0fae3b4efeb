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

from supportbot.bot.classifier.intent import IntentModel, IntentPrediction, train_intent_model
from supportbot.bot.classifier.signals import assess
from supportbot.bot.classifier.text_classifier import TextClassifier, default_model_dir, load_classifier

__all__ = [
    "IntentModel",
    "IntentPrediction",
    "TextClassifier",
    "assess",
    "default_model_dir",
    "load_classifier",
    "train_intent_model",
]
