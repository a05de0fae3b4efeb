"""Fixtures for the CX-ops loop: tiny real intent models (trained in-process, TF-IDF only, well under
a second each) and databases (a SQLite file; PostgreSQL when ``SUPPORTBOT_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from supportbot.bot.classifier.intent import train_intent_model
from supportbot.storage import upgrade
from tests.classifier.conftest import make_rows
from tests.postgres import isolated_schema

# extra rows that make the second model differ from the first (and know "webhooks")
EXTRA = [
    ("our webhook stopped firing", "webhooks"),
    ("webhook deliveries fail with 500", "webhooks"),
    ("how do I add a webhook endpoint", "webhooks"),
    ("webhook signature does not verify", "webhooks"),
    ("retry a failed webhook", "webhooks"),
    ("webhooks are delayed by an hour", "webhooks"),
]


def train_tiny(out: Path, data_hash: str, *, extra: bool = False) -> str:
    rows = make_rows() + (EXTRA if extra else [])
    texts, labels = zip(*rows, strict=True)
    result = train_intent_model(
        texts, labels, oos_label="out_of_scope", folds=3, n_jobs=1, embeddings=False, data_hash=data_hash
    )
    result.model.save(out)
    return result.model.version


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Two different small models: {"a": (dir, version), "b": (dir, version)}."""
    root = tmp_path_factory.mktemp("models")
    return {
        "a": (root / "a", train_tiny(root / "a", "aaaaaaaa")),
        "b": (root / "b", train_tiny(root / "b", "bbbbbbbb", extra=True)),
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'supportbot.db'}"
        upgrade(url)
        yield url
        return
    with isolated_schema("supportbot_cxops") as url:
        yield url
