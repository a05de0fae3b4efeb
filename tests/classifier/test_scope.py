"""Out-of-scope rules: energy, neighbours, the threshold that does not depend on the training prior."""

import numpy as np
import pytest

from supportbot.bot.classifier.scope import auroc, choose_scope_rule, energy, neighbour_similarity
from supportbot.bot.errors import InvalidInput


def test_energy_is_logsumexp_over_in_scope_columns():
    s = np.array([[2.0, 0.0, 5.0], [0.0, 0.0, 0.0]])
    e = energy(s, np.array([0, 1]))  # column 2 is the out-of-scope class
    assert e[0] == pytest.approx(np.log(np.exp(2) + 1))
    assert e[1] == pytest.approx(np.log(2))


def test_auroc_by_hand():
    assert auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auroc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    # pairs: (2 vs 1) win, (2 vs 3) loss, (4 vs 1) win, (4 vs 3) win -> 3/4; a tie counts half
    assert auroc(np.array([2.0, 4.0]), np.array([1.0, 3.0])) == pytest.approx(0.75)
    assert auroc(np.array([1.0]), np.array([1.0])) == pytest.approx(0.5)
    assert auroc(np.array([1.0]), np.array([])) is None


def test_neighbour_similarity_leave_one_out():
    index = np.eye(3, dtype=np.float32)
    index = np.vstack([index, index[0]])  # row 3 duplicates row 0
    assert neighbour_similarity(index, index, 1, exclude_self=True).tolist() == [1.0, 0.0, 0.0, 1.0]
    q = np.array([[0.6, 0.8, 0.0]], dtype=np.float32)
    assert neighbour_similarity(q, index, 2)[0] == pytest.approx((0.8 + 0.6) / 2)


def _oof(n_in=200, n_oos=0, seed=0):
    rng = np.random.default_rng(seed)
    e_in = rng.normal(5.0, 1.0, n_in)
    e_oos = rng.normal(2.0, 1.0, n_oos)
    nb_in = rng.normal(0.7, 0.05, n_in)
    nb_oos = rng.normal(0.45, 0.05, n_oos)
    parts = {
        "energy": np.concatenate([e_in, e_oos]),
        "max_softmax": np.concatenate([rng.uniform(0.3, 1.0, n_in), rng.uniform(0.3, 1.0, n_oos)]),
        "neighbours": np.concatenate([nb_in, nb_oos]),
    }
    in_scope = np.arange(n_in + n_oos) < n_in
    return parts, in_scope, in_scope.copy(), np.zeros(n_in + n_oos, dtype=bool)


def test_threshold_keeps_the_chosen_share_of_in_scope_rows_whatever_the_oos_prior():
    for n_oos in (2, 60):  # 1% or 23% out of scope in the training data: the cut stays put
        parts, in_scope, right, cls = _oof(n_oos=n_oos)
        rule = choose_scope_rule(parts, in_scope, right, cls, keep_in_scope=0.96)
        kept = (rule.score(parts)[in_scope] >= rule.threshold).mean()
        assert kept == pytest.approx(0.96, abs=0.01)


def test_rule_chosen_by_out_of_fold_auroc_when_there_are_oos_rows():
    parts, in_scope, right, cls = _oof(n_oos=60)
    rule = choose_scope_rule(parts, in_scope, right, cls)
    assert rule.oof_auroc["max_softmax"] < 0.7 < rule.oof_auroc["energy"]  # max softmax is noise here
    assert rule.rule in ("energy", "energy+neighbours") and "AUROC" in rule.chosen_by
    # without out-of-scope rows to measure against: the default
    parts, in_scope, right, cls = _oof(n_oos=0)
    assert choose_scope_rule(parts, in_scope, right, cls).rule == "energy+neighbours"
    del parts["neighbours"]
    assert choose_scope_rule(parts, in_scope, right, cls).rule == "energy"


def test_expected_oos_share_moves_the_cut():
    parts, in_scope, right, cls = _oof(n_oos=60)
    del parts["neighbours"]  # energy alone overlaps between in and out of scope, so the share matters
    low = choose_scope_rule(parts, in_scope, right, cls, expected_oos_share=0.02)
    high = choose_scope_rule(parts, in_scope, right, cls, expected_oos_share=0.5)
    assert high.threshold > low.threshold  # more out-of-scope traffic: abstain more readily
    assert high.keep_in_scope is None and high.expected_oos_share == 0.5
    parts, in_scope, right, cls = _oof(n_oos=3)
    with pytest.raises(InvalidInput, match="out-of-scope rows"):
        choose_scope_rule(parts, in_scope, right, cls, expected_oos_share=0.2)
    with pytest.raises(InvalidInput, match="keep_in_scope"):
        choose_scope_rule(parts, in_scope, right, cls, keep_in_scope=0.3)
