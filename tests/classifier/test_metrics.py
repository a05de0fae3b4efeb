"""Evaluation metrics on a tiny hand-made set; the expected numbers were worked out by hand.

Rows (true, predicted, confidence); "oos" is the out-of-scope label, a
prediction of "oos" is an abstention and gets confidence 0 (never answered):

    1  a    a    0.95   right
    2  a    a    0.90   right
    3  b    b    0.85   right
    4  oos  a    0.80   wrong (an out-of-scope message answered)
    5  b    a    0.70   wrong
    6  b    b    0.60   right
    7  oos  oos  0.00   right (abstained on an out-of-scope message)
    8  a    oos  0.00   wrong (abstained on an in-scope message)

accuracy = 5/8 = 0.625; in-scope rows 1,2,3,5,6,8 -> 4/6 right; OOS recall = 1/2.
Risk-coverage in confidence order: precision after 1..6 answers is
1, 1, 1, 3/4, 3/5, 4/6.  At p=0.95/0.98/0.99: 3 answers -> coverage 3/8 at
threshold 0.85.  At p=0.70: 4 answers (0.75) -> 4/8 at 0.80.  At p=0.60:
6 answers (0.667) -> 6/8 at 0.60 (rows 7 and 8 are never answered).
Per-label F1: a: P=2/4, R=2/3 -> 4/7; b: P=2/2, R=2/3 -> 0.8; oos: P=1/2,
R=1/2 -> 0.5.  Macro-F1 = (4/7 + 0.8 + 0.5) / 3 = 0.623810.
"""

import pytest

from supportbot.bot.classifier.metrics import coverage_at_precision, evaluate_predictions, macro_f1

Y_TRUE = ["a", "a", "b", "oos", "b", "b", "oos", "a"]
Y_PRED = ["a", "a", "b", "a", "a", "b", "oos", "oos"]
CONF = [0.95, 0.90, 0.85, 0.80, 0.70, 0.60, 0.0, 0.0]


def test_evaluate_by_hand():
    r = evaluate_predictions(Y_TRUE, Y_PRED, CONF, oos_label="oos")
    assert r["accuracy"] == pytest.approx(0.625)
    assert r["in_scope_accuracy"] == pytest.approx(4 / 6)
    assert r["oos_recall"] == pytest.approx(0.5)
    assert r["macro_f1"] == pytest.approx((4 / 7 + 0.8 + 0.5) / 3)
    for p in ("0.95", "0.98", "0.99"):
        assert r["coverage_at_precision"][p] == pytest.approx(3 / 8)
        assert r["threshold_at_precision"][p] == pytest.approx(0.85)


def test_coverage_at_lower_targets_by_hand():
    correct = [t == p and t != "oos" for t, p in zip(Y_TRUE, Y_PRED, strict=True)]
    point = coverage_at_precision(CONF, correct, 0.70)
    assert (point.coverage, point.threshold, point.answered) == (4 / 8, 0.80, 4)
    assert point.precision == pytest.approx(0.75)
    point = coverage_at_precision(CONF, correct, 0.60)
    assert (point.coverage, point.threshold) == (6 / 8, 0.60)


def test_ties_are_answered_together():
    # two messages at 0.9, one wrong: precision 1/2 -> nothing qualifies for 0.99
    point = coverage_at_precision([0.9, 0.9], [True, False], 0.99)
    assert point.coverage == 0.0 and point.threshold is None


def test_macro_f1_perfect_and_answered_at_model_threshold():
    assert macro_f1(["x", "y"], ["x", "y"]) == 1.0
    r = evaluate_predictions(
        Y_TRUE, Y_PRED, CONF, oos_label="oos", answered_at_model_threshold=[c >= 0.85 for c in CONF]
    )
    # rows 1, 2, 3 answered; in-scope rows are 6 -> 3/6; all three right
    assert r["in_scope_coverage_at_model_threshold"] == pytest.approx(0.5)
    assert r["precision_at_model_threshold"] == 1.0
