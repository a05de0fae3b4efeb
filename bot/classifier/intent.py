"""The intent model: TF-IDF + sentence-embedding features, a linear classifier, calibrated confidence.

Training (:func:`train_intent_model`):

1. Features: word 1-2-gram + char_wb 2-5-gram sublinear TF-IDF (:mod:`.features`)
   and, when the ONNX runtime is installed (the default install), the
   all-MiniLM-L6-v2 sentence embedding of each message (:mod:`.embeddings`),
   appended as dense columns with weight 2.
2. A linear classifier: LinearSVC (squared hinge, one-vs-rest). Its decision
   scores are turned into probabilities by temperature scaling,
   ``softmax(scores * a)``, with ``a`` fitted by minimising the log-loss of
   out-of-fold scores (k-fold cross-validation on the training data).
3. Thresholds from measurement: on the same out-of-fold predictions, the
   risk-coverage curve gives the lowest confidence at which automatic answers
   reach the target precision, globally (key ``"*"``) and per intent (intents
   with enough out-of-fold predictions). The confidence is the max softmax.
4. Out of scope (:mod:`.scope`): when the data has an out-of-scope label it is
   a class of its own; in addition the model abstains when its scope score
   (energy, optionally with nearest-neighbour similarity) falls below a low
   percentile of the out-of-fold scores of in-scope rows.
5. The final model is fitted on all rows (in parallel with the folds).

Everything is stored as JSON + ``.npz`` arrays (see :mod:`.storage`); inference
needs numpy, scikit-learn's text analyzer and (for embedding models)
onnxruntime; nothing is unpickled.
"""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, cast

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from joblib import Parallel, delayed
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from supportbot.bot.classifier import embeddings as emb_mod
from supportbot.bot.classifier import storage
from supportbot.bot.classifier.features import DEFAULT_BLOCKS, Featurizer
from supportbot.bot.classifier.metrics import PRECISION_TARGETS, coverage_at_precision, evaluate_predictions
from supportbot.bot.classifier.scope import (
    DEFAULT_KEEP_IN_SCOPE,
    DEFAULT_NEIGHBOURS,
    ScopeRule,
    choose_scope_rule,
    energy,
    neighbour_similarity,
)
from supportbot.bot.domain import OUT_OF_SCOPE
from supportbot.bot.errors import InvalidInput, ModelError

DEFAULT_TARGET_PRECISION = 0.98
MIN_SUPPORT_PER_INTENT_THRESHOLD = 30  # out-of-fold predictions needed for an intent's own threshold
FALLBACK_THRESHOLD = 0.99  # used when the out-of-fold data cannot reach the target precision
EMBEDDING_WEIGHT = 2.0  # embedding columns x2 beside the L2-normalised TF-IDF blocks (chosen by CV)
C_TFIDF = 1.0
C_WITH_EMBEDDINGS = 0.5  # 5-fold CV on Banking77: 0.929 vs 0.928 accuracy, faster fits
MANY_ROWS = 5000  # above this, 3 folds instead of 5 by default (training time)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class IntentPrediction:
    intent: str  # OUT_OF_SCOPE when the model abstains or predicts the out-of-scope label
    confidence: float  # calibrated probability of the model's best label (max softmax)
    out_of_scope: bool
    top: tuple[tuple[str, float], ...]  # best labels (in-scope only) with probabilities
    best_in_scope: str  # the best in-scope label even when abstaining
    scope_score: float | None = None  # the scope rule's score; below the model's scope threshold it abstains


@dataclass
class IntentModel:
    featurizer: Featurizer
    labels: list[str]  # class order of the weight rows; may include the OOS label
    weights: np.ndarray  # (n_classes, n_features) float32
    bias: np.ndarray  # (n_classes,) float32
    scale: float  # temperature scaling: probabilities = softmax(scores * scale)
    oos_label: str | None = None  # the data's out-of-scope label when trained with one
    abstain_threshold: float = 0.0  # models saved before scope rules: abstain below this max softmax
    thresholds: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    # sentence-embedding block appended after the TF-IDF features: {"model_id", "sha256", "dim", "weight", ...}
    embedding: dict[str, Any] | None = None
    scope: ScopeRule | None = None
    neighbours: np.ndarray | None = None  # (n, dim) embeddings of in-scope training rows (float16 on disk)

    def __post_init__(self) -> None:
        self._weights_t = np.ascontiguousarray(self.weights.T)  # (n_features, n_classes)
        self._n_tfidf = self.featurizer.size
        self._oos_index = self.labels.index(self.oos_label) if self.oos_label in self.labels else None
        self._in_scope_cols = np.array([i for i, lb in enumerate(self.labels) if i != self._oos_index], dtype=int)
        if self.scope is None:
            self.scope = ScopeRule("max_softmax", float(self.abstain_threshold), {}, keep_in_scope=None)
        self._neighbours = None if self.neighbours is None else np.asarray(self.neighbours, dtype=np.float32)
        self._encoder: emb_mod.SentenceEncoder | None = None
        self._emb_weight = float(self.embedding["weight"]) if self.embedding else 0.0

    # ------------------------------------------------------------------ inference

    @property
    def intents(self) -> tuple[str, ...]:
        """Known intents without the out-of-scope label."""
        return tuple(label for label in self.labels if label != self.oos_label)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    def warm_up(self) -> None:
        """Load the sentence encoder now (``load`` does this) rather than on the first message."""
        if self.embedding and self._encoder is None:
            self._encoder = emb_mod.require_encoder()

    def _encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Sentence embeddings of ``texts``; only for models with an embedding block."""
        self.warm_up()
        assert self._encoder is not None
        return self._encoder.encode(texts)

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float32] | None:
        if not self.embedding:
            return None
        return self._encode(texts)

    def _raw_scores(self, texts: Sequence[str], emb: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Unscaled decision values (n, classes) and which rows have any known n-gram."""
        x = self.featurizer.transform(texts)
        s = np.asarray(x @ self._weights_t[: self._n_tfidf]) + self.bias
        if emb is not None:
            s = s + (emb * self._emb_weight) @ self._weights_t[self._n_tfidf :]
        return s.astype(np.float64), np.diff(x.indptr) > 0

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return self._raw_scores(texts, self._embed(texts))[0]

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return cast("NDArray[np.float64]", softmax(self.scores(texts) * self.scale, axis=1))

    def _raw_one(self, text: str, embedding: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, bool]:
        """Fast path for one message: decision values, embedding, whether any n-gram is known."""
        idx, vals = self.featurizer.transform_one(text)
        s = (vals @ self._weights_t[idx] + self.bias) if idx.size else self.bias.copy()
        emb: NDArray[np.float32] | None = None
        if self.embedding:
            emb = self._encode([text]) if embedding is None else np.asarray(embedding, dtype=np.float32).reshape(1, -1)
            s = s + (emb[0] * self._emb_weight) @ self._weights_t[self._n_tfidf :]
        return s.astype(np.float64), emb, bool(idx.size)

    def _proba_one(self, text: str) -> NDArray[np.float64]:
        return cast("NDArray[np.float64]", softmax(self._raw_one(text)[0] * self.scale))

    def scope_parts(self, scaled: np.ndarray, emb: np.ndarray | None) -> dict[str, np.ndarray]:
        """The scores the scope rule may use, per row of temperature-scaled decision values."""
        parts = {"energy": energy(scaled, self._in_scope_cols), "max_softmax": softmax(scaled, axis=1).max(axis=1)}
        if self.scope is not None and self.scope.uses_neighbours:
            if emb is None or self._neighbours is None:
                raise ModelError("the model's scope rule needs sentence embeddings and its neighbour index")
            parts["neighbours"] = neighbour_similarity(emb, self._neighbours, self.scope.k)
        return parts

    def predict_one(self, text: str, top_k: int = 3, *, embedding: np.ndarray | None = None) -> IntentPrediction:
        """One message; ``embedding`` (its sentence embedding) saves computing it again."""
        s, emb, known = self._raw_one(text, embedding)
        if not known:
            return self._nothing_known(top_k)
        return self._decide_rows(s[None, :], emb, np.array([True]), top_k)[0]

    def predict(self, texts: Sequence[str], top_k: int = 3) -> list[IntentPrediction]:
        texts = list(texts)
        if not texts:
            return []
        emb = self._embed(texts)
        s, known = self._raw_scores(texts, emb)
        return self._decide_rows(s, emb, known, top_k)

    def _decide_rows(
        self, s: np.ndarray, emb: np.ndarray | None, known: np.ndarray, top_k: int
    ) -> list[IntentPrediction]:
        scaled = s * self.scale
        proba = softmax(scaled, axis=1)
        assert self.scope is not None
        score = self.scope.score(self.scope_parts(scaled, emb))
        return [
            self._decide(p, float(sc), top_k) if k else self._nothing_known(top_k)
            for p, sc, k in zip(proba, score, known, strict=True)
        ]

    def _nothing_known(self, top_k: int) -> IntentPrediction:
        """No word or n-gram the model knows (empty text, emoji only): abstain with confidence 0."""
        top = tuple((label, 0.0) for label in self.intents[:top_k])
        return IntentPrediction(OUT_OF_SCOPE, 0.0, True, top, self.intents[0] if self.intents else OUT_OF_SCOPE)

    def _decide(self, proba: np.ndarray, scope_score: float, top_k: int) -> IntentPrediction:
        order = np.argsort(-proba)
        best = int(order[0])
        conf = float(proba[best])
        in_scope_order = [int(i) for i in order if i != self._oos_index]
        top = tuple((self.labels[i], float(proba[i])) for i in in_scope_order[:top_k])
        best_in_scope = self.labels[in_scope_order[0]] if in_scope_order else OUT_OF_SCOPE
        assert self.scope is not None
        oos = best == self._oos_index or scope_score < self.scope.threshold
        return IntentPrediction(
            intent=OUT_OF_SCOPE if oos else self.labels[best],
            confidence=conf,
            out_of_scope=oos,
            top=top,
            best_in_scope=best_in_scope,
            scope_score=scope_score,
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
        assert self.scope is not None
        storage.write_json(
            model_dir / "model.json",
            {
                "labels": self.labels,
                "oos_label": self.oos_label,
                "scale": self.scale,
                "scope": self.scope.to_json(),
                "thresholds": self.thresholds,
                "n_features": int(self.weights.shape[1]),
                "embedding": self.embedding,
                "metadata": self.metadata,
            },
        )
        storage.write_json(model_dir / "features.json", self.featurizer.to_json())
        arrays = {"weights": self.weights.astype(np.float32), "bias": self.bias.astype(np.float32)}
        arrays.update(self.featurizer.arrays())
        if self.neighbours is not None:
            arrays["neighbours"] = np.asarray(self.neighbours, dtype=np.float16)
        storage.write_arrays(model_dir / "arrays.npz", arrays)
        storage.write_manifest(model_dir, ["model.json", "features.json", "arrays.npz"])

    @classmethod
    def load(cls, model_dir: Path) -> IntentModel:
        """Verify (manifest), parse and check a model directory; loads the sentence encoder it needs."""
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
                _check_embedding_block(embedding, model_dir)
            n_features = featurizer.size + (int(embedding["dim"]) if embedding else 0)
            if weights.shape != (len(labels), n_features) or bias.shape != (len(labels),):
                raise ValueError(
                    f"weights {weights.shape} / bias {bias.shape} do not fit "
                    f"{len(labels)} labels x {n_features} features"
                )
            scope = ScopeRule.from_json(meta["scope"]) if meta.get("scope") else None
            neighbours = arrays.get("neighbours")
            if (
                scope is not None
                and scope.uses_neighbours
                and (neighbours is None or not embedding or neighbours.shape[1:] != (int(embedding["dim"]),))
            ):
                raise ValueError("the scope rule needs a neighbour index of embedding rows")
            model = cls(
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
                scope=scope,
                neighbours=neighbours,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"model in {model_dir} is inconsistent: {exc}") from exc
        model.warm_up()
        return model


def _check_embedding_block(embedding: dict[str, Any], model_dir: Path) -> None:
    if embedding.get("sha256") != emb_mod.MODEL_SHA256:
        raise ModelError(
            f"model in {model_dir} was trained with sentence embeddings from "
            f"{embedding.get('package') or embedding.get('model')!r}, not the pinned {emb_mod.MODEL_ID}; "
            "retrain it (supportbot train ...)"
        )
    if not emb_mod.available():
        raise ModelError(f"model in {model_dir} uses sentence embeddings; {emb_mod.INSTALL_HINT}")


# ---------------------------------------------------------------------- training


def _fit_linear(
    x: sp.csr_matrix, y: NDArray[np.int_], n_classes: int, c: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
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
    predicted_arr = np.asarray(predicted)
    for intent in sorted(set(predicted_arr.tolist())):
        mask = predicted_arr == intent
        if mask.sum() < min_support or intent == OUT_OF_SCOPE:
            continue
        point = coverage_at_precision(confidence[mask], answer_correct[mask], target)
        out[intent] = point.threshold if point.threshold is not None else FALLBACK_THRESHOLD
    return out


@dataclass
class TrainResult:
    model: IntentModel
    validation: dict[str, Any]
    seconds: float


def _with_embeddings(x: sp.csr_matrix, emb: NDArray[np.floating[Any]] | None) -> sp.csr_matrix:
    return x if emb is None else sp.hstack([x, sp.csr_matrix(emb)], format="csr")


def _fold_scores(
    tr_texts: Sequence[str],
    tr_y: NDArray[np.int_],
    va_texts: Sequence[str],
    n_classes: int,
    blocks: Sequence[dict[str, Any]],
    c: float,
    tr_emb: NDArray[np.floating[Any]] | None = None,
    va_emb: NDArray[np.floating[Any]] | None = None,
) -> NDArray[np.float64]:
    """Decision scores of one cross-validation fold (runs in a worker process)."""
    feat = Featurizer.fit(tr_texts, blocks)
    present = np.unique(tr_y)
    x_tr = _with_embeddings(feat.transform(tr_texts), tr_emb)
    w, b = _fit_linear(x_tr, np.searchsorted(present, tr_y), len(present), c)
    s = np.full((len(va_texts), n_classes), -1e3)  # labels absent from a fold get a low score
    s[:, present] = np.asarray(_with_embeddings(feat.transform(va_texts), va_emb) @ w.T) + b
    return s


def _final_fit(
    texts: Sequence[str],
    y: NDArray[np.int_],
    n_classes: int,
    blocks: Sequence[dict[str, Any]],
    c: float,
    emb: NDArray[np.floating[Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray], NDArray[np.float32], NDArray[np.float32]]:
    """The model on all rows (runs in a worker beside the folds); the featurizer travels as JSON + arrays."""
    feat = Featurizer.fit(texts, blocks)
    w, b = _fit_linear(_with_embeddings(feat.transform(texts), emb), y, n_classes, c)
    return feat.to_json(), feat.arrays(), w, b


def _library_versions(with_embeddings: bool) -> dict[str, str]:
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }
    if with_embeddings:
        for dist in ("onnxruntime", "tokenizers", emb_mod.MODEL_PACKAGE):
            try:
                versions[dist] = importlib_metadata.version(dist)
            except importlib_metadata.PackageNotFoundError:
                versions[dist] = "unknown"
    return versions


def train_intent_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    oos_label: str | None = None,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    folds: int | None = None,
    c: float | None = None,
    blocks: Sequence[dict[str, Any]] = DEFAULT_BLOCKS,
    data_hash: str = "",
    data_name: str = "",
    progress: Progress = _quiet,
    seed: int = 0,
    n_jobs: int = -1,
    embeddings: bool | None = None,
    embedding_weight: float = EMBEDDING_WEIGHT,
    keep_in_scope: float = DEFAULT_KEEP_IN_SCOPE,
    expected_oos_share: float | None = None,
    neighbours_k: int = DEFAULT_NEIGHBOURS,
) -> TrainResult:
    """Train, calibrate and measure an intent model.

    ``embeddings``: None uses sentence embeddings when the runtime is installed
    (TF-IDF only otherwise), True requires them, False never uses them.
    ``folds``: None is 5, or 3 above ``MANY_ROWS`` rows. ``keep_in_scope`` /
    ``expected_oos_share``: see :mod:`.scope`.
    """
    t0 = time.perf_counter()
    texts = list(texts)
    labels = [str(x) for x in labels]
    if len(texts) != len(labels):
        raise InvalidInput("texts and labels differ in length")
    label_set = sorted(set(labels))
    if len(label_set) < 2:
        raise InvalidInput(f"need at least 2 distinct labels to train, got {len(label_set)}")
    if oos_label is not None and oos_label not in label_set:
        progress(f"note: no rows with the out-of-scope label {oos_label!r}; abstention uses the scope score only")
    y = np.array([label_set.index(x) for x in labels])
    n_classes = len(label_set)
    counts = Counter(labels)
    if min(counts.values()) < 2:
        raise InvalidInput(
            "every label needs at least 2 rows for cross-validated calibration; too few: "
            + ", ".join(sorted(lb for lb, n in counts.items() if n < 2))
        )
    k = max(2, min(folds or (5 if len(texts) <= MANY_ROWS else 3), min(counts.values())))
    texts_arr = np.array(texts, dtype=object)
    n_jobs = max(1, n_jobs if n_jobs > 0 else (os.cpu_count() or 1))

    if embeddings is None:
        embeddings = emb_mod.available()
        if not embeddings:
            progress(f"note: sentence-embedding runtime not installed, TF-IDF only ({emb_mod.INSTALL_HINT})")
    elif embeddings and not emb_mod.available():
        raise InvalidInput(f"sentence embeddings need their runtime: {emb_mod.INSTALL_HINT}")
    if c is None:
        c = C_WITH_EMBEDDINGS if embeddings else C_TFIDF

    # 1) sentence embeddings (unit rows; scaled by the weight as features)
    emb = unit = None
    embedding_info = None
    if embeddings:
        t_emb = time.perf_counter()
        unit = emb_mod.encode_parallel(texts, n_jobs)
        emb = unit * embedding_weight
        embedding_info = {**emb_mod.require_encoder().describe(), "weight": embedding_weight}
        progress(f"sentence embeddings ({emb_mod.MODEL_ID}) of {len(texts)} rows in {time.perf_counter() - t_emb:.1f}s")

    # 2) out-of-fold scores for calibration, thresholds and validation, and the final fit, in parallel
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = list(skf.split(texts_arr, y))
    workers = max(1, min(k + 1, n_jobs))
    progress(f"cross-validation: {k} folds of ~{len(splits[0][0])} rows + the final fit on {workers} process(es)")
    jobs = [delayed(_final_fit)(texts, y, n_classes, list(blocks), c, emb)]
    jobs += [
        delayed(_fold_scores)(
            texts_arr[tr].tolist(),
            y[tr],
            texts_arr[va].tolist(),
            n_classes,
            list(blocks),
            c,
            None if emb is None else emb[tr],
            None if emb is None else emb[va],
        )
        for tr, va in splits
    ]
    results = Parallel(n_jobs=workers)(jobs)
    feat_json, feat_arrays, w, b = results[0]
    oof = np.zeros((len(texts), n_classes), dtype=np.float64)
    for (_, va), s in zip(splits, results[1:], strict=True):
        oof[va] = s

    # 3) calibration and the scope rule
    scale = fit_scale(oof, y)
    scaled = oof * scale
    proba = softmax(scaled, axis=1)
    pred_idx = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    oos_index = label_set.index(oos_label) if oos_label in label_set else None
    in_scope_cols = np.array([j for j in range(n_classes) if j != oos_index], dtype=int)
    in_scope = y != oos_index if oos_index is not None else np.ones(len(y), dtype=bool)
    best_in_scope = in_scope_cols[proba[:, in_scope_cols].argmax(axis=1)]
    parts = {"energy": energy(scaled, in_scope_cols), "max_softmax": conf}
    neighbours = None
    if emb is not None and unit is not None:
        neighbours = unit[in_scope]
        nb = np.zeros(len(y))
        nb[in_scope] = neighbour_similarity(neighbours, neighbours, neighbours_k, exclude_self=True)
        nb[~in_scope] = neighbour_similarity(unit[~in_scope], neighbours, neighbours_k)
        parts["neighbours"] = nb
    rule = choose_scope_rule(
        parts,
        in_scope,
        best_in_scope == y,
        pred_idx == oos_index if oos_index is not None else np.zeros(len(y), dtype=bool),
        keep_in_scope=keep_in_scope,
        expected_oos_share=expected_oos_share,
        k=neighbours_k,
    )
    if not rule.uses_neighbours:
        neighbours = None
    scope_score = rule.score(parts)
    predicted_oos = scope_score < rule.threshold
    if oos_index is not None:
        predicted_oos |= pred_idx == oos_index
    progress(
        f"scope rule {rule.rule} (threshold {rule.threshold:.4f}; {rule.chosen_by}): out of fold it abstains on "
        f"{predicted_oos[in_scope].mean():.1%} of in-scope rows"
        + (f" and {predicted_oos[~in_scope].mean():.1%} of out-of-scope rows" if (~in_scope).any() else "")
    )

    # 4) answer thresholds and validation figures on the out-of-fold predictions
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
    if oos_index is not None:
        validation = evaluate_predictions(
            true_labels, pred_labels, answer_conf, oos_label=OUT_OF_SCOPE, answered_at_model_threshold=answered
        )
    else:
        # no out-of-scope rows to measure against: accuracy is top-1; abstentions are never answered
        top1 = [label_set[j] for j in pred_idx]
        validation = evaluate_predictions(labels, top1, answer_conf, answered_at_model_threshold=answered)
    validation["method"] = f"{k}-fold cross-validation, out-of-fold predictions"
    validation["log_loss"] = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())
    validation["in_scope_abstention_rate"] = float(predicted_oos[in_scope].mean())
    progress(
        f"validation ({k}-fold): accuracy {validation['accuracy']:.4f}, "
        f"macro-F1 {validation['macro_f1']:.4f}, "
        f"coverage at {target_precision:.2f} precision "
        f"{coverage_at_precision(answer_conf, answer_correct, target_precision).coverage:.3f} "
        f"(threshold {thresholds['*']:.4f})"
    )

    # 5) the final model (fitted above, in parallel with the folds)
    feat = Featurizer.from_saved(feat_json, feat_arrays)
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
            "scope": {"rule": rule.rule, "keep_in_scope": keep_in_scope, "expected_oos_share": expected_oos_share},
            "folds": k,
            "seed": seed,
        },
        "validation": {key: val for key, val in validation.items() if key != "per_intent"},
        "validation_per_intent": validation["per_intent"],
        "library_versions": _library_versions(bool(embeddings)),
    }
    model = IntentModel(
        featurizer=feat,
        labels=label_set,
        weights=w,
        bias=b,
        scale=scale,
        oos_label=oos_label,
        thresholds=thresholds,
        metadata=metadata,
        embedding=embedding_info,
        scope=rule,
        neighbours=None if neighbours is None else neighbours.astype(np.float16),
    )
    seconds = time.perf_counter() - t0
    model.metadata["train_seconds"] = round(seconds, 3)
    return TrainResult(model, validation, seconds)
