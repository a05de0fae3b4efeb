"""Load a classifier in the background so the bot can listen at once.

Loading the intent model and the sentence encoder takes a second or two
(files are verified, the ONNX session is built and checked against reference
vectors). ``LazyClassifier`` implements the ``Classifier`` port over a loader
run on a daemon thread: ``start()`` returns immediately; ``classify``,
``labels``, ``thresholds`` and ``version`` wait until the load has finished,
so a message that arrives first is classified as soon as the model is there,
never dropped. A failed load is re-raised (the same ``ModelError``) to every
caller, so the runtime can report it. ::

    clf = LazyClassifier(lambda: load_classifier(settings.model_dir)).start()
    ...                          # start listening
    clf.ready                    # False until loaded
    clf.classify(text)           # waits for the load (or raises its error)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from supportbot.bot.domain import Classification
from supportbot.bot.errors import ModelError
from supportbot.bot.ports import Classifier


class LazyClassifier(Classifier):
    """A ``Classifier`` whose real classifier is built by ``loader`` on a background thread."""

    def __init__(self, loader: Callable[[], Classifier], *, name: str = "classifier-loader") -> None:
        self._loader = loader
        self._name = name
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._inner: Classifier | None = None
        self._error: BaseException | None = None
        self.load_seconds: float | None = None

    def start(self) -> LazyClassifier:
        """Begin loading on a daemon thread (idempotent); returns ``self``."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name=self._name, daemon=True)
                self._thread.start()
        return self

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            self._inner = self._loader()
        except BaseException as exc:  # kept and re-raised to every caller
            self._error = exc
        finally:
            self.load_seconds = time.perf_counter() - t0
            self._done.set()

    @property
    def ready(self) -> bool:
        """True once the classifier is loaded (False while loading or after a failed load)."""
        return self._done.is_set() and self._inner is not None

    @property
    def failed(self) -> BaseException | None:
        """The load's exception, if it failed."""
        return self._error if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> Classifier:
        """The loaded classifier; starts the load if nobody did. ``TimeoutError`` after ``timeout`` seconds."""
        self.start()
        if not self._done.wait(timeout):
            raise TimeoutError(f"the classifier did not finish loading within {timeout} s")
        if self._error is not None:
            if isinstance(self._error, ModelError):
                raise self._error
            raise ModelError(f"loading the classifier failed: {self._error}") from self._error
        assert self._inner is not None
        return self._inner

    # ------------------------------------------------------------------ the Classifier port

    def classify(self, text: str, *, context: Sequence[str] = ()) -> Classification:
        return self.wait().classify(text, context=context)

    def labels(self) -> tuple[str, ...]:
        return self.wait().labels()

    def thresholds(self) -> dict[str, float]:
        return self.wait().thresholds()

    # The port declares a plain attribute that other implementations assign; this one is read-only,
    # because the version is the loaded classifier's.
    @property
    def version(self) -> str:  # type: ignore[override]
        return self.wait().version


def load_classifier_in_background(model_dir: Path | str | None = None) -> LazyClassifier:
    """``load_classifier(model_dir)`` on a background thread, started."""
    from supportbot.bot.classifier.text_classifier import load_classifier

    return LazyClassifier(lambda: load_classifier(model_dir)).start()


class SwappableClassifier(Classifier):
    """The ``Classifier`` the core holds; the model inside can be replaced while the bot runs.

    A promoted model is loaded on a thread while the old one keeps answering, then swapped in
    with one assignment, so no message waits for a model switch and none sees half of one.
    ``path`` is the directory the model in use came from (None when unknown, e.g. a test fake).
    """

    def __init__(self, inner: Classifier, *, path: str | None = None) -> None:
        self._inner = inner
        self.path = path
        self.swaps = 0

    @property
    def inner(self) -> Classifier:
        return self._inner

    def swap(self, inner: Classifier, *, path: str | None = None) -> None:
        self._inner, self.path = inner, path
        self.swaps += 1

    @property
    def ready(self) -> bool:
        inner = self._inner
        return inner.ready if isinstance(inner, LazyClassifier) else True

    def loaded_version(self) -> str | None:
        """The version in use without waiting for a background load (None while it loads or failed)."""
        return self._inner.version if self.ready else None

    def classify(self, text: str, *, context: Sequence[str] = ()) -> Classification:
        return self._inner.classify(text, context=context)

    def labels(self) -> tuple[str, ...]:
        return self._inner.labels()

    def thresholds(self) -> dict[str, float]:
        return self._inner.thresholds()

    @property
    def version(self) -> str:
        return self._inner.version

    @version.setter
    def version(self, value: str) -> None:  # the port declares a plain attribute; this one follows the model
        raise AttributeError("the version is the inner model's")


def innermost(classifier: Classifier, timeout: float | None = None) -> Classifier:
    """The classifier under the wrappers (swappable, lazy): e.g. to batch-encode texts ahead."""
    while True:
        if isinstance(classifier, SwappableClassifier):
            classifier = classifier.inner
        elif isinstance(classifier, LazyClassifier):
            classifier = classifier.wait(timeout)
        else:
            return classifier
