"""The bundled model in bot/example/model/ must match the bundled training data."""

import hashlib

from supportbot.bot.classifier import default_model_dir, load_classifier
from supportbot.bot.classifier.intent import IntentModel
from supportbot.bot.domain import Urgency

REBUILD = "supportbot train --data bot/example/intents.csv --oos-label out_of_scope --out bot/example/model"


def test_bundled_model_was_trained_on_current_intents_csv():
    model_dir = default_model_dir()
    data = model_dir.parent / "intents.csv"
    model = IntentModel.load(model_dir)
    current = hashlib.sha256(data.read_bytes()).hexdigest()
    assert model.metadata["data_sha256"] == current, f"intents.csv changed; rebuild the model: {REBUILD}"
    assert model.oos_label == "out_of_scope"


def test_bundled_model_loads_and_classifies():
    clf = load_classifier()
    assert len(clf.labels()) >= 20 and "out_of_scope" not in clf.labels()
    assert "*" in clf.thresholds()
    c = clf.classify("Quick question: none of our users can log in since 9am")
    assert c.urgency is Urgency.CRITICAL
    assert c.model_version == clf.version
