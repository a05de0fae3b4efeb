"""The CX-ops loop through the real command line on SQLite and PostgreSQL:
train → models list → promote (guard, --force) → rollback → ask --store → review → label →
train --with-corrections → gaps → kb audit → simulate."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from supportbot.adapters.cli import main
from supportbot.bot.domain import ModelVersion
from supportbot.storage import SqlUnitOfWorkFactory
from tests.classifier.conftest import make_rows, write_csv


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "SUPPORTBOT_CONFIG", "SUPPORTBOT_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args))
        if ok:
            assert result.exit_code == 0, result.output + str(result.exception)
        return result

    return run


def _json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def _train(cli, out: str, *extra: str):
    return cli("train", "--data", "tiny.csv", "--oos-label", "out_of_scope", "--no-embeddings", "--jobs", "1",
               "--folds", "3", "--out", out, *extra)  # fmt: skip


def test_the_loop_from_training_to_gaps(cli, db_url, tmp_path):
    write_csv(tmp_path / "tiny.csv", make_rows())
    first = _json(_train(cli, "m1", "--json"))
    assert first["status"] == "candidate" and first["path"] == str((tmp_path / "m1").resolve())
    assert first["metrics"]["rows"] == len(make_rows()) and "precision_at_target" in first["metrics"]
    listed = _json(cli("models", "list", "--json"))
    (entry,) = listed["models"]
    assert set(entry) == {"version", "path", "created_at", "status", "metrics"}
    assert entry["status"] == "candidate" and entry["version"] == first["version"]
    # nothing promoted yet: the first promotion compares against nothing
    assert "is now the current model" in cli("models", "promote", first["version"]).output

    # a candidate whose precision at the target is below the current one's is refused, unless --force
    factory = SqlUnitOfWorkFactory(db_url)
    with factory() as uow:
        uow.model_versions.add(
            ModelVersion(
                "intent-weak", "intent", str(tmp_path / "m1"), "h", datetime.now(UTC), {"precision_at_target": 0.5}
            )
        )
        uow.commit()
    refused = cli("models", "promote", "intent-weak", ok=False)
    assert refused.exit_code == 1
    (line,) = refused.output.strip().splitlines()
    assert "refusing to promote intent-weak" in line and "--force" in line
    assert "is now the current model" in cli("models", "promote", "intent-weak", "--force").output
    rolled = cli("models", "rollback")
    assert f"{first['version']} is now the current model" in rolled.output
    statuses = {m["version"]: m["status"] for m in _json(cli("models", "list", "--json"))["models"]}
    assert statuses == {first["version"]: "current", "intent-weak": "retired"}

    # stored one-shot questions; the out-of-scope one is worth labelling
    asked = [
        _json(cli("ask", "--store", q, "--json"))
        for q in ("tell me a joke", "sing me a song", "how do I reset my password")
    ]
    assert len({a["conversation_id"] for a in asked}) == 3  # each call is a conversation of its own
    review = _json(cli("review", "--json"))
    assert all(set(item) == {"conversation_id", "reason", "text"} for item in review["items"])
    joke = next(i for i in review["items"] if i["text"] == "tell me a joke")
    assert joke["reason"] == "out_of_scope"
    assert "Intent set to password_reset" in cli("review", "label", joke["conversation_id"], "password_reset").output
    assert cli("review", "label", joke["conversation_id"], "no_such_intent", ok=False).exit_code != 0
    cli("review", "label", joke["conversation_id"], "billing_invoice")  # the latest label per message wins
    assert joke["conversation_id"] not in [i["conversation_id"] for i in _json(cli("review", "--json"))["items"]]
    exported = cli("corrections", "export").stdout.strip().splitlines()
    assert exported == ["text,intent,predicted_intent", "tell me a joke,billing_invoice,out_of_scope"]

    second = _train(cli, "m2", "--with-corrections")
    assert "used 1 corrections" in second.stdout
    version = next(m for m in _json(cli("models", "list", "--json"))["models"] if m["path"].endswith("m2"))
    # "tell me a joke" is a training row already: the agent's label replaces its label, no row is added
    assert version["metrics"]["corrections_used"] == 1 and version["metrics"]["rows"] == len(make_rows())

    gaps = _json(cli("gaps", "--since", "1d", "--min-size", "1", "--json"))
    assert gaps["topics"] and all(
        set(t) == {"label", "size", "examples", "conversation_ids", "suggested_title"} for t in gaps["topics"]
    )
    assert {"sing me a song"} <= {e for t in gaps["topics"] for e in t["examples"]}
    audit = _json(cli("kb", "audit", "--json"))
    assert audit["articles"] > 0 and {"flagged", "never_cited", "stale", "undated"} <= set(audit)


def test_simulate_json_and_html_with_the_current_model(cli, tmp_path, tiny_models):
    model_dir, version = tiny_models["a"]
    cli("models", "promote", str(model_dir))  # a directory is registered, then promoted
    rows = [(t, i) for t, i in make_rows()][::3] + [("hello", "out_of_scope")]
    write_csv(tmp_path / "past.csv", rows)
    out = cli("simulate", "--tickets", "past.csv", "--oos-label", "out_of_scope", "--json", "--html", "sim.html")
    data = _json(out)
    assert set(data) == {"n", "actions", "automatic_precision", "curve", "recommended"}
    assert data["n"] == len(rows) and set(data["actions"]) == {"answer", "draft", "handoff"}
    assert set(data["recommended"]) == {"global", "per_intent", "automation_rate", "precision"}
    assert all(set(p) == {"threshold", "automation_rate", "precision"} for p in data["curve"])
    page = (tmp_path / "sim.html").read_text()
    assert "<svg" in page and "Risk-coverage" in page and "<script" not in page
    assert version in page
    text = cli("simulate", "--tickets", "past.csv", "--account", "acc_demo").output
    assert f"with model {version}" in text and "recommended for 98% precision" in text
    unknown = cli("simulate", "--tickets", "past.csv", "--account", "acc_nope", ok=False)
    assert unknown.exit_code == 2 and "unknown account" in unknown.output
