import json

import pytest
from click.testing import CliRunner

from supportbot.adapters.cli import main
from tests.classifier.conftest import write_csv


@pytest.fixture(autouse=True)
def _own_database(tmp_path, monkeypatch):
    """`train` registers each model in the configured database: a temporary one, never the working tree's."""
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'supportbot.db'}")


def _run(*args):
    return CliRunner().invoke(main, list(args))


def test_train_then_eval_json(tmp_path, rows):
    data = write_csv(tmp_path / "intents.csv", rows)
    out = tmp_path / "model"
    r = _run("train", "--data", str(data), "--oos-label", "out_of_scope", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert (out / "manifest.json").is_file()
    assert "saved model" in r.output

    r = CliRunner().invoke(
        main, ["eval", "--model", str(out), "--data", str(data), "--oos-label", "out_of_scope", "--json"]
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)  # ONE JSON object and nothing else on stdout
    for key in ("accuracy", "macro_f1", "coverage_at_precision", "in_scope_accuracy", "oos_recall"):
        assert key in result
    assert set(result["coverage_at_precision"]) == {"0.95", "0.98", "0.99"}
    assert result["accuracy"] > 0.9


def test_custom_columns_and_text_report(tmp_path, rows):
    data = write_csv(tmp_path / "b.csv", rows, header=("utterance", "category"))
    out = tmp_path / "m"
    r = _run(
        "train",
        "--data",
        str(data),
        "--text-column",
        "utterance",
        "--label-column",
        "category",
        "--out",
        str(out),
        "--folds",
        "3",
        "--target-precision",
        "0.95",
    )
    assert r.exit_code == 0, r.output
    r = _run(
        "eval",
        "--model",
        str(out),
        "--data",
        str(data),
        "--text-column",
        "utterance",
        "--label-column",
        "category",
    )
    assert r.exit_code == 0, r.output
    for needle in ("accuracy", "macro-F1", "risk-coverage", "0.99", "password_reset"):
        assert needle in r.output
    json_r = _run(
        "eval",
        "--model",
        str(out),
        "--data",
        str(data),
        "--text-column",
        "utterance",
        "--label-column",
        "category",
        "--json",
    )
    assert "in_scope_accuracy" not in json.loads(json_r.stdout)  # no --oos-label given


def test_clear_errors(tmp_path, rows):
    missing = _run("train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m"))
    assert missing.exit_code != 0 and "does not exist" in missing.output
    assert "Traceback" not in missing.output

    data = write_csv(tmp_path / "d.csv", rows)
    bad_col = _run("train", "--data", str(data), "--label-column", "category", "--out", str(tmp_path / "m"))
    assert bad_col.exit_code != 0 and "no label column 'category'" in bad_col.output

    few = write_csv(tmp_path / "few.csv", rows[:3])
    r = _run("train", "--data", str(few), "--out", str(tmp_path / "m"))
    assert r.exit_code != 0 and "usable rows" in r.output

    one_label = write_csv(tmp_path / "one.csv", [(f"text {i}", "x") for i in range(20)])
    r = _run("train", "--data", str(one_label), "--out", str(tmp_path / "m"))
    assert r.exit_code != 0 and "distinct label" in r.output

    r = _run("eval", "--model", str(tmp_path / "no-model"), "--data", str(data))
    assert r.exit_code != 0 and "does not exist" in r.output
