"""Out-of-scope detection: which score says "this fits none of our intents", and where to cut.

Max softmax (the confidence used for answer thresholds) is a poor out-of-scope
detector: a message about nothing we know still gets most of its probability
mass on *some* intent. The scores here look at how strongly the model responds
at all:

* ``energy``: ``logsumexp`` of the temperature-scaled decision values of the
  in-scope intents (high when some intent fits well).
* ``energy+neighbours``: the energy plus the mean cosine similarity of the
  message's sentence embedding to its ``k`` nearest in-scope training
  messages, each standardised by its out-of-fold in-scope mean and spread.
* ``max_softmax``: kept as a candidate, and for models saved before scope rules.

The threshold does not depend on how many out-of-scope rows the training data
happens to contain: by default the model abstains below a low percentile of
the out-of-fold scores of in-scope rows (it keeps ``keep_in_scope`` of them,
0.96 by default). An operator who knows the out-of-scope share of their traffic
can give it instead (``expected_oos_share``): then the threshold maximises the
accuracy expected at that share, measured on the out-of-scope rows of the
training data (which is then required).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp, softmax
from scipy.stats import rankdata

from supportbot.bot.errors import InvalidInput

RULES = ("energy+neighbours", "energy", "max_softmax")  # preference order on ties
DEFAULT_KEEP_IN_SCOPE = 0.96
DEFAULT_NEIGHBOURS = 5
MIN_OOS_ROWS_TO_CHOOSE = 10  # out-of-scope rows needed to compare rules on out-of-fold data


def energy(scaled_scores: np.ndarray, in_scope_columns: np.ndarray) -> NDArray[np.floating[Any]]:
    """``logsumexp`` over the in-scope columns of temperature-scaled decision values, per row."""
    return cast("NDArray[np.floating[Any]]", logsumexp(scaled_scores[:, in_scope_columns], axis=1))


def max_softmax(scaled_scores: np.ndarray) -> NDArray[np.floating[Any]]:
    return cast("NDArray[np.floating[Any]]", softmax(scaled_scores, axis=1).max(axis=1))


def neighbour_similarity(
    queries: np.ndarray, index: np.ndarray, k: int, *, exclude_self: bool = False, chunk: int = 2048
) -> np.ndarray:
    """Mean cosine similarity of each query to its ``k`` most similar rows of ``index``.

    Rows are L2-normalised. With ``exclude_self`` the queries are the index
    itself and each row's own similarity is left out (leave-one-out, as for
    out-of-fold figures).
    """
    n = len(queries)
    out = np.zeros(n, dtype=np.float64)
    if len(index) == 0:
        return out
    index32 = np.asarray(index, dtype=np.float32)
    k_eff = max(1, min(k, len(index) - (1 if exclude_self else 0)))
    for start in range(0, n, chunk):
        sims = np.asarray(queries[start : start + chunk], dtype=np.float32) @ index32.T
        if exclude_self:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
        top = np.partition(sims, sims.shape[1] - k_eff, axis=1)[:, -k_eff:]
        out[start : start + chunk] = top.mean(axis=1)
    return out


def auroc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos = np.asarray(positive_scores, dtype=np.float64)
    neg = np.asarray(negative_scores, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return None
    ranks = rankdata(np.concatenate([pos, neg]))  # ties get their average rank
    rank_sum = ranks[: len(pos)].sum()
    return float((rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@dataclass(frozen=True)
class ScopeRule:
    """How a model decides "out of scope": abstain when ``score(rule) < threshold``."""

    rule: str
    threshold: float
    stats: dict[str, tuple[float, float]]  # score name -> (mean, std) over out-of-fold in-scope rows
    k: int = DEFAULT_NEIGHBOURS
    keep_in_scope: float | None = DEFAULT_KEEP_IN_SCOPE
    expected_oos_share: float | None = None
    chosen_by: str = ""
    oof_auroc: dict[str, float | None] | None = None

    @property
    def uses_neighbours(self) -> bool:
        return self.rule == "energy+neighbours"

    def score(self, parts: dict[str, np.ndarray]) -> np.ndarray:
        """The rule's score from its parts (``energy``, ``max_softmax``, ``neighbours``)."""
        return combine(self.rule, parts, self.stats)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "threshold": self.threshold,
            "stats": {k: list(v) for k, v in self.stats.items()},
            "k": self.k,
            "keep_in_scope": self.keep_in_scope,
            "expected_oos_share": self.expected_oos_share,
            "chosen_by": self.chosen_by,
            "oof_auroc": self.oof_auroc,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ScopeRule:
        rule = str(d["rule"])
        if rule not in RULES:
            raise ValueError(f"unknown scope rule {rule!r}")
        return cls(
            rule=rule,
            threshold=float(d["threshold"]),
            stats={str(k): (float(v[0]), float(v[1])) for k, v in d.get("stats", {}).items()},
            k=int(d.get("k", DEFAULT_NEIGHBOURS)),
            keep_in_scope=d.get("keep_in_scope"),
            expected_oos_share=d.get("expected_oos_share"),
            chosen_by=str(d.get("chosen_by", "")),
            oof_auroc=d.get("oof_auroc"),
        )


def combine(rule: str, parts: dict[str, np.ndarray], stats: dict[str, tuple[float, float]]) -> np.ndarray:
    if rule == "energy":
        return parts["energy"]
    if rule == "max_softmax":
        return parts["max_softmax"]
    if rule == "energy+neighbours":
        (em, es), (nm, ns) = stats["energy"], stats["neighbours"]
        return (parts["energy"] - em) / es + (parts["neighbours"] - nm) / ns
    raise ValueError(f"unknown scope rule {rule!r}")


def _stats(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(max(values.std(), 1e-6))


def choose_scope_rule(
    parts: dict[str, np.ndarray],
    in_scope: np.ndarray,
    answer_right: np.ndarray,
    predicted_oos_class: np.ndarray,
    *,
    keep_in_scope: float = DEFAULT_KEEP_IN_SCOPE,
    expected_oos_share: float | None = None,
    k: int = DEFAULT_NEIGHBOURS,
) -> ScopeRule:
    """Pick the score and its threshold from out-of-fold data.

    ``parts`` holds out-of-fold ``energy``, ``max_softmax`` and (with
    embeddings) ``neighbours`` per training row; ``in_scope`` marks rows whose
    label is not the out-of-scope label; ``answer_right`` marks rows whose
    best in-scope intent is their label; ``predicted_oos_class`` marks rows
    whose best label is the out-of-scope class (they abstain whatever the score).

    Rule: with at least ``MIN_OOS_ROWS_TO_CHOOSE`` out-of-scope rows, the
    candidate with the highest out-of-fold AUROC (in-scope vs out-of-scope);
    without, ``energy+neighbours`` when embeddings are there, else ``energy``
    (the held-out-intents benchmark in ``bench/classifier.py`` is the evidence).
    """
    if not 0.5 <= keep_in_scope < 1.0:
        raise InvalidInput(f"keep_in_scope must be in [0.5, 1), got {keep_in_scope}")
    in_scope = np.asarray(in_scope, dtype=bool)
    if not in_scope.any():
        raise InvalidInput("no in-scope rows to measure the out-of-scope threshold on")
    stats = {name: _stats(values[in_scope]) for name, values in parts.items()}
    candidates = [r for r in RULES if r != "energy+neighbours" or "neighbours" in parts]
    n_oos = int((~in_scope).sum())
    scores = {r: combine(r, parts, stats) for r in candidates}
    aurocs = {r: auroc(scores[r][in_scope], scores[r][~in_scope]) for r in candidates} if n_oos else None
    if n_oos >= MIN_OOS_ROWS_TO_CHOOSE and aurocs:
        best = max(candidates, key=lambda r: (round(aurocs[r] or 0.0, 4), -candidates.index(r)))
        chosen_by = f"highest out-of-fold AUROC against {n_oos} out-of-scope rows"
    else:
        best = candidates[0]
        chosen_by = f"default ({n_oos} out-of-scope rows, fewer than {MIN_OOS_ROWS_TO_CHOOSE} needed to compare rules)"
    score = scores[best]
    if expected_oos_share is None:
        threshold = float(np.quantile(score[in_scope], 1.0 - keep_in_scope))
        return ScopeRule(best, threshold, stats, k, keep_in_scope, None, chosen_by, aurocs)
    if not 0.0 < expected_oos_share < 1.0:
        raise InvalidInput(f"expected_oos_share must be between 0 and 1, got {expected_oos_share}")
    if n_oos < MIN_OOS_ROWS_TO_CHOOSE:
        raise InvalidInput(
            f"an expected out-of-scope share needs at least {MIN_OOS_ROWS_TO_CHOOSE} out-of-scope rows in the "
            f"training data to measure against (found {n_oos}); give --keep-in-scope instead"
        )
    threshold, kept = _threshold_for_share(score, in_scope, answer_right, predicted_oos_class, expected_oos_share)
    return ScopeRule(
        best,
        threshold,
        stats,
        k,
        None,
        expected_oos_share,
        chosen_by + f"; threshold maximises accuracy at {expected_oos_share:.0%} out of scope (keeps {kept:.1%})",
        aurocs,
    )


def _threshold_for_share(
    score: np.ndarray, in_scope: np.ndarray, right: np.ndarray, oos_class: np.ndarray, share: float
) -> tuple[float, float]:
    """Threshold maximising ``(1-share) * in-scope accuracy + share * out-of-scope recall`` out of fold."""
    levels = np.concatenate([np.linspace(0.0, 0.2, 81), np.linspace(0.21, 0.6, 40)])
    best = (-1.0, float(score[in_scope].min()), 1.0)
    for level in levels:
        t = float(np.quantile(score[in_scope], level)) if level > 0 else -np.inf
        abstain = oos_class | (score < t)
        in_acc = float((right & ~abstain)[in_scope].mean())
        oos_rec = float(abstain[~in_scope].mean())
        value = (1 - share) * in_acc + share * oos_rec
        if value > best[0] + 1e-9:
            best = (value, t if np.isfinite(t) else float(score.min()) - 1.0, float((~abstain)[in_scope].mean()))
    return best[1], best[2]
