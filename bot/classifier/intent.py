"""The intent model: TF-IDF features, a linear classifier, calibrated confidence.

Training (:func:`train_intent_model`):

1. Word 1-2-gram + char_wb 2-5-gram sublinear TF-IDF (:mod:`.features`).
2. A linear classifier: LinearSVC (squared hinge, one-vs-rest). Its decision
   scores are turned into probabilities by temperature scaling,
   ``softmax(scores * a)``, with ``a`` fitted by minimising the log-loss of
   out-of-fold scores (k-fold cross-validation on the training data).
3. Thresholds from measurement: on the same out-of-fold predictions, the
   risk-coverage curve gives the lowest confidence at which automatic answers
   reach the target precision, globally (key ``"*"``) and per intent (intents
   with enough out-of-fold predictions).
4. Out of scope: when the data has an out-of-scope label it is a class of its
   own; in any case the model abstains (``out_of_scope``) when the
   confidence is below ``abstain_threshold``, chosen on the out-of-fold data.
5. The final model is refitted on all rows.

Everything is stored as JSON + ``.npz`` arrays (see :mod:`.storage`); inference
needs numpy and scikit-learn's text analyzer, nothing is unpickled.
"""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from joblib import Parallel, delayed
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from supportbot.bot.classifier import storage
from supportbot.bot.classifier.features import DEFAULT_BLOCKS, Featurizer
from supportbot.bot.classifier.metrics import PRECISION_TARGETS, coverage_at_precision, evaluate_predictions
from supportbot.bot.domain import OUT_OF_SCOPE
from supportbot.bot.errors import InvalidInput, ModelError

DEFAULT_TARGET_PRECISION = 0.98
MIN_SUPPORT_PER_INTENT_THRESHOLD = 30  # out-of-fold predictions needed for an intent's own threshold
FALLBACK_THRESHOLD = 0.99  # used when the out-of-fold data cannot reach the target precision

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class IntentPrediction:
    intent: str  # OUT_OF_SCOPE when the model abstains or predicts the out-of-scope label
    confidence: float  # calibrated probability of the model's best label
    out_of_scope: bool
    top: tuple[tuple[str, float], ...]  # best labels (in-scope only) with probabilities
    best_in_scope: str  # the best in-scope label even when abstaining


@dataclass
class IntentModel:
    featurizer: Featurizer
    labels: list[str]  # class order of the weight rows; may include the OOS label
    weights: np.ndarray  # (n_classes, n_features) float32
    bias: np.ndarray  # (n_classes,) float32
    scale: float  # temperature scaling: probabilities = softmax(scores * scale)
    oos_label: str | None = None  # the data's out-of-scope label when trained with one
    abstain_threshold: float = 0.0
    thresholds: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    # optional sentence-embedding block appended after the TF-IDF features:
    # {"package", "model", "dim", "weight"}; needs the ``embeddings`` extra
    embedding: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._weights_t = np.ascontiguousarray(self.weights.T)  # (n_features, n_classes)
        self._n_tfidf = self.featurizer.size
        self._oos_index = self.labels.index(self.oos_label) if self.oos_label in self.labels else None

    # ------------------------------------------------------------------ inference

    @property
    def intents(self) -> tuple[str, ...]:
        """Known intents without the out-of-scope label."""
        return tuple(label for label in self.labels if label != self.oos_label)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        x = self.featurizer.transform(texts)
        s = np.asarray(x @ self._weights_t[: self._n_tfidf]) + self.bias
        if self.embedding:
            from supportbot.bot.classifier import embeddings

            e = embeddings.encode(texts) * float(self.embedding["weight"])
            s = s + e @ self._weights_t[self._n_tfidf :]
        return s

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.scores(texts) * self.scale, axis=1)

    def _proba_one(self, text: str) -> np.ndarray:
        idx, vals = self.featurizer.transform_one(text)
        s = vals @ self._weights_t[idx] + self.bias if len(idx) else self.bias.copy()
        if self.embedding:
            from supportbot.bot.classifier import embeddings

            e = embeddings.encode([text])[0] * float(self.embedding["weight"])
            s = s + e @ self._weights_t[self._n_tfidf :]
        return softmax(s.astype(np.float64) * self.scale)

    def predict_one(self, text: str, top_k: int = 3) -> IntentPrediction:
        if not self.featurizer.transform_one(text)[0].size:
            return self._nothing_known(top_k)
        return self._decide(self._proba_one(text), top_k)

    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[IntentPrediction]:
        known = np.diff(self.featurizer.transform(texts).indptr) > 0
        return [
            self._decide(p, top_k) if k else self._nothing_known(top_k)
            for p, k in zip(self.predict_proba(texts), known, strict=True)
        ]

    def _nothing_known(self, top_k: int) -> IntentPrediction:
        """No word or n-gram the model knows (empty text, emoji only): abstain with confidence 0."""
        top = tuple((label, 0.0) for label in self.intents[:top_k])
        return IntentPrediction(OUT_OF_SCOPE, 0.0, True, top, self.intents[0] if self.intents else OUT_OF_SCOPE)

    def _decide(self, proba: np.ndarray, top_k: int) -> IntentPrediction:
        order = np.argsort(-proba)
        best = int(order[0])
        conf = float(proba[best])
        in_scope_order = [int(i) for i in order if i != self._oos_index]
        top = tuple((self.labels[i], float(proba[i])) for i in in_scope_order[:top_k])
        best_in_scope = self.labels[in_scope_order[0]] if in_scope_order else OUT_OF_SCOPE
        oos = best == self._oos_index or conf < self.abstain_threshold
        return IntentPrediction(
            intent=OUT_OF_SCOPE if oos else self.labels[best],
            confidence=conf,
            out_of_scope=oos,
            top=top,
            best_in_scope=best_in_scope,
        )

    def threshold_for(self, intent: str) -> float:
        return self.thresholds.get(intent, self.thresholds.get("*", FALLBACK_THRESHOLD))

    def would_answer(self, prediction: IntentPrediction) -> bool:
        """Whether the model's own thresholds allow answering automatically."""
        return (not prediction.out_of_scope) and prediction.confidence >= self.threshold_for(prediction.intent)

    # ------------------------------------------------------------------ persistence

    def save(self, model_dir: Path) -> None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        for name in ("model.json", "features.json", "arrays.npz", storage.MANIFEST):
            (model_dir / name).unlink(missing_ok=True)
        storage.write_json(
            model_dir / "model.json",
            {
                "labels": self.labels,
                "oos_label": self.oos_label,
                "scale": self.scale,
                "abstain_threshold": self.abstain_threshold,
                "thresholds": self.thresholds,
                "n_features": int(self.weights.shape[1]),
                "embedding": self.embedding,
                "metadata": self.metadata,
            },
        )
        storage.write_json(model_dir / "features.json", self.featurizer.to_json())
        arrays = {"weights": self.weights.astype(np.float32), "bias": self.bias.astype(np.float32)}
        arrays.update(self.featurizer.arrays())
        storage.write_arrays(model_dir / "arrays.npz", arrays)
        storage.write_manifest(model_dir, ["model.json", "features.json", "arrays.npz"])

    @classmethod
    def load(cls, model_dir: Path) -> IntentModel:
        model_dir = Path(model_dir)
        storage.verify_manifest(model_dir)
        meta = storage.read_json(model_dir / "model.json")
        feats = storage.read_json(model_dir / "features.json")
        arrays = storage.read_arrays(model_dir / "arrays.npz")
        try:
            featurizer = Featurizer.from_saved(feats, arrays)
            weights = np.asarray(arrays["weights"], dtype=np.float32)
            bias = np.asarray(arrays["bias"], dtype=np.float32)
            labels = [str(x) for x in meta["labels"]]
            embedding = meta.get("embedding")
            if embedding:
                from supportbot.bot.classifier import embeddings as emb_mod

                if not emb_mod.available():
                    raise ModelError(
                        f"model in {model_dir} uses sentence embeddings; install the extra: {emb_mod.INSTALL_HINT}"
                    )
            n_features = featurizer.size + (int(embedding["dim"]) if embedding else 0)
            if weights.shape != (len(labels), n_features) or bias.shape != (len(labels),):
                raise ValueError(
                    f"weights {weights.shape} / bias {bias.shape} do not fit "
                    f"{len(labels)} labels x {n_features} features"
                )
            return cls(
                featurizer=featurizer,
                labels=labels,
                weights=weights,
                bias=bias,
                scale=float(meta["scale"]),
                oos_label=meta.get("oos_label"),
                abstain_threshold=float(meta.get("abstain_threshold", 0.0)),
                thresholds={str(k): float(v) for k, v in meta["thresholds"].items()},
                metadata=dict(meta.get("metadata", {})),
                embedding=embedding,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"model in {model_dir} is inconsistent: {exc}") from exc


# ---------------------------------------------------------------------- training


def _fit_linear(x, y: np.ndarray, n_classes: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    """LinearSVC weights as (n_classes, n_features), (n_classes,)."""
    clf = LinearSVC(C=c, class_weight=None)
    clf.fit(x, y)
    w = clf.coef_.astype(np.float32)
    b = np.atleast_1d(clf.intercept_).astype(np.float32)
    if n_classes == 2:  # binary LinearSVC has one row: +w for class 1
        w = np.vstack([-w / 2, w / 2])
        b = np.array([-b[0] / 2, b[0] / 2], dtype=np.float32)
    return w, b


def fit_scale(scores: np.ndarray, y: np.ndarray) -> float:
    """Temperature scaling: the ``a`` minimising the log-loss of softmax(scores * a)."""
    rows = np.arange(len(y))

    def nll(log_a: float) -> float:
        return float(-log_softmax(scores * np.exp(log_a), axis=1)[rows, y].mean())

    res = minimize_scalar(nll, bounds=(-6.0, 8.0), method="bounded")
    return float(np.exp(res.x))


def measured_thresholds(
    confidence: np.ndarray,
    predicted: Sequence[str],
    answer_correct: np.ndarray,
    target: float,
    *,
    min_support: int = MIN_SUPPORT_PER_INTENT_THRESHOLD,
) -> dict[str, float]:
    """Global (``"*"``) and per-intent thresholds reaching ``target`` precision.

    Per-intent thresholds come from the intent's own out-of-fold predictions
    (the risk-coverage curve of the messages predicted as that intent) and are
    only set when the intent has at least ``min_support`` of them; other
    intents use the global threshold. When a curve never reaches the target,
    the threshold is ``FALLBACK_THRESHOLD`` (0.99).
    """
    glob = coverage_at_precision(confidence, answer_correct, target)
    out = {"*": glob.threshold if glob.threshold is not None else FALLBACK_THRESHOLD}
    predicted = np.asarray(predicted)
    for intent in sorted(set(predicted.tolist())):
        mask = predicted == intent
        if mask.sum() < min_support or intent == OUT_OF_SCOPE:
            continue
        point = coverage_at_precision(confidence[mask], answer_correct[mask], target)
        out[intent] = point.threshold if point.threshold is not None else FALLBACK_THRESHOLD
    return out


def choose_abstain_threshold(
    confidence: np.ndarray, y_true: np.ndarray, pred_idx: np.ndarray, oos_index: int | None
) -> float:
    """Confidence below which the model says "fits no intent".

    With out-of-scope rows in the data: the threshold maximising out-of-fold
    accuracy when "out of scope" is one more answer (an abstention is right on
    an out-of-scope row, wrong on an in-scope one). Without: the highest confidence bin (of 20) whose out-of-fold
    accuracy is below one half, i.e. where the best guess is more often wrong
    than right (0 when there is none).
    """
    candidates = np.linspace(0.0, 0.9, 46)
    if oos_index is not None and (y_true == oos_index).any() and (y_true != oos_index).any():
        is_oos = y_true == oos_index
        best_t, best_val = 0.0, -1.0
        for t in candidates:
            says_oos = (pred_idx == oos_index) | (confidence < t)
            val = float(np.where(says_oos, is_oos, pred_idx == y_true).mean())
            if val > best_val + 1e-9:
                best_t, best_val = float(t), float(val)
        return best_t
    correct = pred_idx == y_true
    edges = np.linspace(0.0, 1.0, 21)
    threshold = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (confidence >= lo) & (confidence < hi)
        if m.sum() >= 5 and correct[m].mean() < 0.5:
            threshold = float(hi)
    return min(threshold, 0.5)


@dataclass
class TrainResult:
    model: IntentModel
    validation: dict[str, Any]
    seconds: float


def _with_embeddings(x, emb: np.ndarray | None):
    return x if emb is None else sp.hstack([x, sp.csr_matrix(emb)], format="csr")


def _fold_scores(tr_texts, tr_y, va_texts, n_classes, blocks, c, tr_emb=None, va_emb=None) -> np.ndarray:
    """Decision scores of one cross-validation fold (runs in a worker process)."""
    feat = Featurizer.fit(tr_texts, blocks)
    present = np.unique(tr_y)
    x_tr = _with_embeddings(feat.transform(tr_texts), tr_emb)
    w, b = _fit_linear(x_tr, np.searchsorted(present, tr_y), len(present), c)
    s = np.full((len(va_texts), n_classes), -1e3)  # labels absent from a fold get a low score
    s[:, present] = np.asarray(_with_embeddings(feat.transform(va_texts), va_emb) @ w.T) + b
    return s


def train_intent_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    oos_label: str | None = None,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    folds: int = 5,
    c: float = 1.0,
    blocks: Sequence[dict[str, Any]] = DEFAULT_BLOCKS,
    data_hash: str = "",
    data_name: str = "",
    progress: Progress = _quiet,
    seed: int = 0,
    n_jobs: int = -1,
    embeddings: bool = False,
    embedding_weight: float = 2.0,
) -> TrainResult:
    t0 = time.perf_counter()
    texts = list(texts)
    labels = [str(x) for x in labels]
    if len(texts) != len(labels):
        raise InvalidInput("texts and labels differ in length")
    label_set = sorted(set(labels))
    if len(label_set) < 2:
        raise InvalidInput(f"need at least 2 distinct labels to train, got {len(label_set)}")
    if oos_label is not None and oos_label not in label_set:
        progress(f"note: no rows with the out-of-scope label {oos_label!r}; abstention uses confidence only")
    y = np.array([label_set.index(x) for x in labels])
    n_classes = len(label_set)
    counts = Counter(labels)
    k = max(2, min(folds, min(counts.values())))
    if min(counts.values()) < 2:
        raise InvalidInput(
            "every label needs at least 2 rows for cross-validated calibration; too few: "
            + ", ".join(sorted(lb for lb, n in counts.items() if n < 2))
        )
    texts_arr = np.array(texts, dtype=object)

    # 1) out-of-fold scores for calibration, thresholds and validation metrics
    emb = None
    embedding_info = None
    if embeddings:
        from supportbot.bot.classifier import embeddings as emb_mod

        progress(f"computing sentence embeddings ({emb_mod.MODEL_NAME}) for {len(texts)} rows")
        emb = emb_mod.encode(texts) * embedding_weight
        embedding_info = {**emb_mod.describe(), "weight": embedding_weight}
    oof = np.zeros((len(texts), n_classes), dtype=np.float64)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = list(skf.split(texts_arr, y))
    n_jobs = max(1, min(k, n_jobs if n_jobs > 0 else (os.cpu_count() or 1)))
    progress(f"cross-validation: {k} folds of ~{len(splits[0][0])} training rows on {n_jobs} process(es)")
    fold_scores = Parallel(n_jobs=n_jobs)(
        delayed(_fold_scores)(
            texts_arr[tr].tolist(),
            y[tr],
            texts_arr[va].tolist(),
            n_classes,
            blocks,
            c,
            None if emb is None else emb[tr],
            None if emb is None else emb[va],
        )
        for tr, va in splits
    )
    for (_, va), s in zip(splits, fold_scores, strict=True):
        oof[va] = s

    scale = fit_scale(oof, y)
    proba = softmax(oof * scale, axis=1)
    pred_idx = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    oos_index = label_set.index(oos_label) if oos_label in label_set else None
    abstain = choose_abstain_threshold(conf, y, pred_idx, oos_index)
    if oos_index is not None:
        predicted_oos = (pred_idx == oos_index) | (conf < abstain)
    else:
        # no out-of-scope rows to measure against: validation figures are top-1,
        # abstentions only ever fall below the automation thresholds anyway
        predicted_oos = np.zeros(len(y), dtype=bool)
    pred_labels = [OUT_OF_SCOPE if o else label_set[j] for j, o in zip(pred_idx, predicted_oos, strict=True)]
    true_labels = [OUT_OF_SCOPE if oos_label is not None and t == oos_label else t for t in labels]
    answer_conf = np.where(predicted_oos, 0.0, conf)
    answer_correct = np.array([p == t and t != OUT_OF_SCOPE for p, t in zip(pred_labels, true_labels, strict=True)])
    thresholds = measured_thresholds(answer_conf, pred_labels, answer_correct, target_precision)
    answered = np.array(
        [
            not o and c_ >= thresholds.get(p, thresholds["*"])
            for p, o, c_ in zip(pred_labels, predicted_oos, answer_conf, strict=True)
        ]
    )
    validation = evaluate_predictions(
        true_labels,
        pred_labels,
        answer_conf,
        oos_label=OUT_OF_SCOPE if oos_label is not None else None,
        answered_at_model_threshold=answered,
    )
    validation["method"] = f"{k}-fold cross-validation, out-of-fold predictions"
    validation["log_loss"] = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())
    progress(
        f"validation ({k}-fold): accuracy {validation['accuracy']:.4f}, "
        f"macro-F1 {validation['macro_f1']:.4f}, "
        f"coverage at {target_precision:.2f} precision "
        f"{coverage_at_precision(answer_conf, answer_correct, target_precision).coverage:.3f} "
        f"(threshold {thresholds['*']:.4f})"
    )

    # 2) final fit on all rows
    progress(f"fitting the final model on all {len(texts)} rows")
    feat = Featurizer.fit(texts, blocks)
    w, b = _fit_linear(_with_embeddings(feat.transform(texts), emb), y, n_classes, c)
    created = datetime.now(UTC)
    version = f"intent-{created:%Y%m%d%H%M%S}-{data_hash[:8] or 'nodata'}"
    metadata = {
        "version": version,
        "kind": "intent",
        "created_at": created.isoformat(),
        "data_sha256": data_hash,
        "data_name": data_name,
        "n_rows": len(texts),
        "label_counts": dict(sorted(counts.items())),
        "intents": [lb for lb in label_set if lb != oos_label],
        "oos_label": oos_label,
        "target_precision": target_precision,
        "precision_targets_reported": list(PRECISION_TARGETS),
        "algorithm": {
            "features": list(blocks),
            "classifier": f"LinearSVC(C={c}), one-vs-rest",
            "embeddings": embedding_info,
            "calibration": "temperature scaling on out-of-fold scores",
            "folds": k,
            "seed": seed,
        },
        "validation": {key: val for key, val in validation.items() if key != "per_intent"},
        "validation_per_intent": validation["per_intent"],
        "library_versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }
    model = IntentModel(
        featurizer=feat,
        labels=label_set,
        weights=w,
        bias=b,
        scale=scale,
        oos_label=oos_label if oos_index is not None else oos_label,
        abstain_threshold=abstain,
        thresholds=thresholds,
        metadata=metadata,
        embedding=embedding_info,
    )
    seconds = time.perf_counter() - t0
    model.metadata["train_seconds"] = round(seconds, 3)
    return TrainResult(model, validation, seconds)
