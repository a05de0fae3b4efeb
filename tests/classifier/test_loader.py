"""LazyClassifier: listen at once, classify when the model is there, never drop a message."""

import threading

import pytest

from supportbot.bot.classifier.loader import LazyClassifier
from supportbot.bot.domain import Classification, Sentiment, Urgency
from supportbot.bot.errors import ModelError
from supportbot.bot.ports import Classifier


class _Fixed(Classifier):
    version = "fixed-1"

    def classify(self, text, *, context=()):
        return Classification(text, 1.0, False, Urgency.NORMAL, Sentiment.NEUTRAL)

    def labels(self):
        return ("a",)

    def thresholds(self):
        return {"*": 0.9}


def test_start_returns_at_once_and_callers_wait_for_the_load():
    gate = threading.Event()

    def slow_loader():
        gate.wait(5)
        return _Fixed()

    lazy = LazyClassifier(slow_loader).start()
    assert not lazy.ready
    results = []
    workers = [threading.Thread(target=lambda i=i: results.append(lazy.classify(f"m{i}"))) for i in range(4)]
    for w in workers:
        w.start()
    with pytest.raises(TimeoutError):
        lazy.wait(timeout=0.05)
    assert results == []  # nobody got an answer before the model exists
    gate.set()
    for w in workers:
        w.join(5)
    assert sorted(r.intent for r in results) == ["m0", "m1", "m2", "m3"]  # none dropped
    assert lazy.ready and lazy.version == "fixed-1" and lazy.labels() == ("a",) and lazy.thresholds() == {"*": 0.9}
    assert lazy.load_seconds is not None


def test_the_load_runs_once():
    calls = []
    lazy = LazyClassifier(lambda: calls.append(1) or _Fixed())
    for _ in range(3):
        lazy.start()
    lazy.wait(5)
    lazy.classify("x")
    assert calls == [1]


def test_a_failed_load_is_raised_to_every_caller():
    def broken():
        raise ModelError("model file x does not match its SHA-256")

    lazy = LazyClassifier(broken).start()
    for _ in range(2):
        with pytest.raises(ModelError, match="SHA-256"):
            lazy.classify("hello")
    assert not lazy.ready and isinstance(lazy.failed, ModelError)

    lazy = LazyClassifier(lambda: 1 / 0).start()
    with pytest.raises(ModelError, match="loading the classifier failed"):
        lazy.labels()
