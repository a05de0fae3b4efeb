import json

import numpy as np
import pytest

from supportbot.bot.classifier.features import Featurizer
from supportbot.bot.classifier.intent import IntentModel, train_intent_model
from supportbot.bot.classifier.text_classifier import TextClassifier
from supportbot.bot.domain import OUT_OF_SCOPE, Classification
from supportbot.bot.errors import InvalidInput, ModelError


def test_training_learns_the_intents(model, rows):
    assert set(model.intents) == {"password_reset", "billing_invoice", "sso_setup", "export_data"}
    assert model.oos_label == "out_of_scope"
    preds = model.predict([t for t, _ in rows])
    acc = np.mean(
        [(p.intent if not p.out_of_scope else "out_of_scope") == y for p, (_, y) in zip(preds, rows, strict=True)]
    )
    assert acc > 0.9
    p = model.predict_one("I forgot my password again, how do I reset it")
    assert p.intent == "password_reset" and not p.out_of_scope
    assert 0.0 < p.confidence <= 1.0
    assert model.predict_one("tell me a joke about the weather").out_of_scope


def test_probabilities_are_normalised(model):
    proba = model.predict_proba(["export my data", "zzz qqq"])
    assert proba.shape == (2, len(model.labels))
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_metadata_and_thresholds(model):
    meta = model.metadata
    for key in ("data_sha256", "created_at", "library_versions", "validation", "label_counts", "version"):
        assert key in meta
    assert meta["data_sha256"] == "test"
    assert "*" in model.thresholds
    assert all(0.0 <= t <= 1.0 for t in model.thresholds.values())
    assert model.scope is not None and model.scope.rule in ("energy", "energy+neighbours", "max_softmax")


def test_round_trip_gives_identical_predictions(tmp_path, rows):
    texts, labels = zip(*rows, strict=True)
    trained = train_intent_model(texts, labels, oos_label="out_of_scope", folds=3, n_jobs=1).model
    trained.save(tmp_path)
    loaded = IntentModel.load(tmp_path)
    probe = list(texts) + ["completely unrelated words", "", "SSO?? invoice!!"]
    assert np.allclose(trained.predict_proba(probe), loaded.predict_proba(probe), atol=1e-6)
    for t in probe:  # single-message fast path equals the batch path
        assert np.allclose(loaded._proba_one(t), loaded.predict_proba([t])[0], atol=1e-5)
    assert loaded.thresholds == trained.thresholds
    assert loaded.labels == trained.labels


def test_portable_transform_equals_scikit_learn(rows):
    texts = [t for t, _ in rows]
    feat = Featurizer.fit(texts)
    for block in feat.blocks:
        a = block.transform(texts + ["unseen words ZZZ"]).toarray()  # scikit-learn's transform
        b = block.transform_portable(texts + ["unseen words ZZZ"]).toarray()
        assert np.allclose(a, b, atol=1e-6)


def test_model_files_are_json_and_npz_only(trained_dir):
    names = sorted(p.name for p in trained_dir.iterdir())
    assert names == ["arrays.npz", "features.json", "manifest.json", "model.json"]
    manifest = json.loads((trained_dir / "manifest.json").read_text())
    assert set(manifest["sha256"]) == {"arrays.npz", "features.json", "model.json"}
    with np.load(trained_dir / "arrays.npz", allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)


@pytest.mark.parametrize("victim", ["model.json", "arrays.npz", "features.json"])
def test_tampered_file_is_refused(tmp_path, trained_dir, victim):
    for p in trained_dir.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    target = tmp_path / victim
    if victim == "model.json":
        meta = json.loads(target.read_text())
        meta["thresholds"]["*"] = 0.0  # "answer everything"
        target.write_text(json.dumps(meta))
    else:
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        IntentModel.load(tmp_path)


def test_missing_model_or_manifest(tmp_path, trained_dir):
    with pytest.raises(ModelError, match="does not exist"):
        IntentModel.load(tmp_path / "nope")
    for p in trained_dir.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ModelError, match="manifest"):
        IntentModel.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt"):
        IntentModel.load(tmp_path)


def test_training_rejects_bad_input():
    with pytest.raises(InvalidInput, match="2 distinct labels"):
        train_intent_model(["a", "b", "c"], ["x", "x", "x"])
    with pytest.raises(InvalidInput, match="at least 2 rows"):
        train_intent_model(["a b", "c d", "e f"], ["x", "x", "y"])


def test_text_classifier_port(model):
    clf = TextClassifier(model)
    c = clf.classify("How do I set up SAML single sign-on with Okta?")
    assert isinstance(c, Classification)
    assert c.intent == "sso_setup" and not c.out_of_scope
    assert c.top_intents[0].intent == "sso_setup"
    assert c.model_version == clf.version == model.version
    assert "out_of_scope" not in clf.labels()
    assert clf.thresholds()["*"] == model.thresholds["*"]
    oos = clf.classify("who won the football game last night")
    assert oos.out_of_scope and oos.intent == OUT_OF_SCOPE


def test_text_classifier_uses_context(model):
    clf = TextClassifier(model)
    first = "I forgot my password, how do I reset it?"
    again = clf.classify("I forgot my password, how do I reset it???", context=[first, first])
    assert again.frustration >= 0.5
    assert again.urgency.rank >= 2  # high: a frustrated customer asking again
    # a bare follow-up inherits the intent of the message it follows
    follow = clf.classify("any update?", context=["how can I export my data to CSV"])
    assert follow.intent == "export_data"


def test_nothing_known_abstains(model):
    for text in ("", "   ", "qqqq zzzz"[:0]):
        p = model.predict_one(text)
        assert p.out_of_scope and p.confidence == 0.0
    batch = model.predict(["", "how do I reset my password"])
    assert batch[0].out_of_scope and not batch[1].out_of_scope


def test_follow_up_keeps_low_confidence(model):
    clf = TextClassifier(model)
    follow = clf.classify("any update?", context=["how can I export my data to CSV"])
    alone = clf.classify("any update?")
    assert follow.confidence <= alone.confidence + 1e-9
