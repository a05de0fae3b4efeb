"""The torch-free sentence encoder: pinned model file, reference vectors, reuse API."""

import json
import shutil

import numpy as np
import pytest

from supportbot.bot.classifier import embeddings
from supportbot.bot.classifier.intent import IntentModel, train_intent_model
from supportbot.bot.errors import ModelError

pytestmark = pytest.mark.skipif(not embeddings.available(), reason="onnxruntime/tokenizers/model not installed")


def test_encoder_reproduces_the_float32_reference_vectors():
    enc = embeddings.default_encoder()
    assert enc is not None and enc is embeddings.default_encoder()  # cached, one per process
    ref = json.loads(embeddings.REFERENCE_PATH.read_text())
    expected = np.asarray(ref["vectors"], dtype=np.float32)
    got = enc.encode(ref["sentences"])
    assert got.shape == (4, embeddings.DIM) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosine = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() >= embeddings.REFERENCE_MIN_COSINE
    assert enc.check_reference() == pytest.approx(float(cosine.min()), abs=1e-5)
    # the sentences are told apart: the invoice question is nearer the invoice question than the weather
    assert got[0] @ expected[0] > got[0] @ expected[3] + 0.3


def test_a_vector_does_not_depend_on_its_batch():
    enc = embeddings.default_encoder()
    texts = ["how do I reset my password", "SSO is broken for the whole company since the update", "hi"]
    together = enc.encode(texts)
    alone = np.vstack([enc.encode([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    assert enc.encode([]).shape == (0, embeddings.DIM)


def test_a_model_file_with_another_hash_is_refused(tmp_path):
    original = embeddings.default_model_path()
    assert embeddings._sha256(original) == embeddings.MODEL_SHA256
    copy = tmp_path / "model.onnx"
    shutil.copyfile(original, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in the middle of the weights
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        embeddings.SentenceEncoder(copy)


def test_a_changed_tokenizer_is_refused(tmp_path):
    tok = tmp_path / "tokenizer.json"
    tok.write_text(embeddings.TOKENIZER_PATH.read_text().replace('"[UNK]"', '"[UNKNOWN]"', 1))
    with pytest.raises(ModelError, match="tokenizer file"):
        embeddings.SentenceEncoder(tokenizer_path=tok)


def test_train_with_embeddings_round_trip(tmp_path, rows):
    texts, labels = zip(*rows, strict=True)
    model = train_intent_model(texts, labels, oos_label="out_of_scope", folds=3, n_jobs=1, embeddings=True).model
    assert model.embedding and model.embedding["dim"] == embeddings.DIM
    assert model.embedding["sha256"] == embeddings.MODEL_SHA256
    model.save(tmp_path)
    loaded = IntentModel.load(tmp_path)
    probe = ["I forgot my password", "SAML single sign-on", "tell me a joke"]
    assert np.allclose(model.predict_proba(probe), loaded.predict_proba(probe), atol=1e-5)
    assert loaded.predict_one("how do I reset my password").intent == "password_reset"


def test_a_model_trained_with_another_embedding_model_is_refused(tmp_path, rows):
    texts, labels = zip(*rows, strict=True)
    model = train_intent_model(texts, labels, oos_label="out_of_scope", folds=3, n_jobs=1, embeddings=True).model
    model.embedding = {**model.embedding, "sha256": "0" * 64, "package": "some-other-minilm"}
    model.save(tmp_path)
    with pytest.raises(ModelError, match="retrain"):
        IntentModel.load(tmp_path)


def test_tf_idf_only_stays_available(rows):
    texts, labels = zip(*rows, strict=True)
    model = train_intent_model(texts, labels, oos_label="out_of_scope", folds=3, n_jobs=1, embeddings=False).model
    assert model.embedding is None and model.neighbours is None
    assert model.scope.rule in ("energy", "max_softmax")  # no embeddings: no neighbour rule
    assert model.predict_one("how do I reset my password").intent == "password_reset"
