"""Small hand-made data so the classifier tests run in seconds without /work/shared."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from supportbot.bot.classifier.intent import IntentModel, train_intent_model

_TEMPLATES = {
    "password_reset": [
        "how do I reset my password",
        "I forgot my password",
        "password reset link not arriving",
        "can you help me change my password",
        "reset password for {who}",
        "lost my password, {how}",
    ],
    "billing_invoice": [
        "where can I download my invoice",
        "I need a copy of the invoice",
        "invoice for last month",
        "send the invoice to {who}",
        "billing invoice is missing the VAT number",
        "invoice PDF {how}",
    ],
    "sso_setup": [
        "how do we configure SAML SSO",
        "set up single sign-on with Okta",
        "SSO login with Azure AD",
        "enable SSO for {who}",
        "SAML certificate for SSO",
        "single sign-on configuration {how}",
    ],
    "export_data": [
        "how can I export my data to CSV",
        "export all records",
        "download a data export",
        "export the reports for {who}",
        "bulk export of tickets",
        "data export {how}",
    ],
    "out_of_scope": [
        "what is the weather like today",
        "tell me a joke",
        "who won the football game",
        "recommend a good pizza place",
        "what's the capital of France",
        "sing me a song",
    ],
}
_FILL = {
    "who": ["my colleague", "our admin", "the whole team"],
    "how": ["please help", "what should I do", "thanks"],
}


def make_rows() -> list[tuple[str, str]]:
    rows = []
    for intent, templates in _TEMPLATES.items():
        for t in templates:
            if "{" in t:
                for who, how in itertools.islice(itertools.product(_FILL["who"], _FILL["how"]), 3):
                    rows.append((t.format(who=who, how=how), intent))
            else:
                rows.append((t, intent))
                rows.append((t + "?", intent))
    return rows


def write_csv(path: Path, rows, header=("text", "intent")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def rows() -> list[tuple[str, str]]:
    return make_rows()


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, rows) -> Path:
    out = tmp_path_factory.mktemp("model")
    texts, labels = zip(*rows, strict=True)
    result = train_intent_model(texts, labels, oos_label="out_of_scope", folds=3, n_jobs=1, data_hash="test")
    result.model.save(out)
    return out


@pytest.fixture()
def model(trained_dir) -> IntentModel:
    return IntentModel.load(trained_dir)
