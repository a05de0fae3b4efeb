"""Trained urgency/sentiment heads combined with the cues (tiny data, tiny grid: seconds)."""

import json

import numpy as np
import pytest

from supportbot.bot.classifier.signal_model import (
    SignalModel,
    combine_sentiment,
    combine_urgency,
    cue_matrix,
    train_signal_model,
)
from supportbot.bot.domain import Sentiment, Urgency
from supportbot.bot.errors import InvalidInput, ModelError
from tests.classifier.conftest import write_csv

URGENCY = [
    ("production is down for every customer", "critical"),
    ("all our dashboards are empty, data wiped", "critical"),
    ("the API returns 500 for all requests", "critical"),
    ("our whole company can't log in", "critical"),
    ("the invoice is wrong and we pay today", "high"),
    ("our team can't export the report due tomorrow", "high"),
    ("third time asking, the sync is still broken", "high"),
    ("the card payment failed, account suspended", "high"),
    ("how do I rename a dashboard", "normal"),
    ("where is the API key page", "normal"),
    ("can I change the time zone", "normal"),
    ("what does sampled mean", "normal"),
    ("feature idea: dark mode would be nice", "low"),
    ("no rush, maybe add more chart types", "low"),
    ("just curious about your roadmap", "low"),
    ("would love keyboard shortcuts someday", "low"),
]
SENTIMENT = [
    ("thanks, that works perfectly", "positive"),
    ("great support, really appreciated", "positive"),
    ("love the new dashboards", "positive"),
    ("awesome, solved", "positive"),
    ("how do I add a user", "neutral"),
    ("please send the invoice", "neutral"),
    ("what is the rate limit", "neutral"),
    ("where is the audit log", "neutral"),
    ("this is unacceptable, still broken", "negative"),
    ("terrible service, nobody answers", "negative"),
    ("fed up with these outages", "negative"),
    ("useless docs, what a mess", "negative"),
]
GRID = ((1.0, 1.0, 0.0), (3.0, 1.0, 1.0))


@pytest.fixture(scope="module")
def signal_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("signals")
    u = write_csv(d / "u.csv", URGENCY, header=("text", "urgency"))
    s = write_csv(d / "s.csv", SENTIMENT, header=("text", "sentiment"))
    model = train_signal_model(u, s, grid=GRID)
    model.save(d / "model")
    return d / "model"


def test_round_trip_and_predictions(signal_dir):
    model = SignalModel.load(signal_dir)
    (u, pu), (s, ps) = model.predict("the whole company is down, production outage")
    assert u == "critical" and 0 < pu <= 1
    assert model.predict("thanks, works perfectly now")[1][0] == "positive"
    assert set(model.metadata["data"]) == {"urgency", "sentiment"}
    assert model.urgency.validation["n_rows"] == len(URGENCY)


def test_tampered_signal_model_is_refused(tmp_path, signal_dir):
    for p in signal_dir.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    meta = json.loads((tmp_path / "signals.json").read_text())
    meta["heads"]["urgency"]["cue_weight"] = 100.0
    (tmp_path / "signals.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="SHA-256"):
        SignalModel.load(tmp_path)


def test_security_language_is_at_least_high_whatever_the_model_says():
    level, reasons = combine_urgency("low", 0.9, "there are unknown logins on our admin account", 0.0)
    assert level is Urgency.HIGH and any("security" in r for r in reasons)
    level, _ = combine_urgency("critical", 0.8, "an admin login from a foreign IP", 0.0)
    assert level is Urgency.CRITICAL  # the floor never lowers
    level, reasons = combine_urgency("normal", 0.7, "how do I rename a chart", 0.0)
    assert level is Urgency.NORMAL and reasons[0].startswith("model: normal (70%)")


def test_a_repeatedly_asking_customer_is_high_and_negative():
    level, _ = combine_urgency("normal", 0.6, "how do I export", 0.7)
    assert level is Urgency.HIGH
    assert combine_sentiment("neutral", 0.7) is Sentiment.NEGATIVE
    assert combine_sentiment("positive", 0.1) is Sentiment.POSITIVE


def test_cue_columns():
    m = cue_matrix("urgency", ["our API key was leaked on a public repo", "how do I add a user?"])
    assert m.shape[0] == 2 and set(np.unique(m)) <= {0.0, 1.0}
    assert m[0].sum() >= 2 and m[1].sum() >= 1  # cues + the rules' verdict (one-hot)


def test_bad_labels_are_reported(tmp_path):
    u = write_csv(tmp_path / "u.csv", [("x", "urgentish")] * 3, header=("text", "urgency"))
    s = write_csv(tmp_path / "s.csv", SENTIMENT, header=("text", "sentiment"))
    with pytest.raises(InvalidInput, match="unknown urgency labels"):
        train_signal_model(u, s, grid=GRID)
