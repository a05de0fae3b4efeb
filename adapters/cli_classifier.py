"""`supportbot train` and `supportbot eval`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from supportbot.bot.errors import InvalidInput, ModelError

_TEXT_COL = click.option("--text-column", default="text", show_default=True, help="Column with the message text.")
_LABEL_COL = click.option("--label-column", default="intent", show_default=True, help="Column with the label.")
_OOS = click.option(
    "--oos-label",
    default=None,
    help="Label that marks out-of-scope rows (the model should abstain on them).",
)


def _err(message: str) -> None:
    click.echo(f"error: {message}", err=True)


@click.command("train")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled CSV file.")
@_TEXT_COL
@_LABEL_COL
@_OOS
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option(
    "--target-precision",
    default=0.98,
    show_default=True,
    type=click.FloatRange(0.5, 1.0),
    help="Precision the automation thresholds must reach on cross-validated predictions.",
)
@click.option(
    "--embeddings/--no-embeddings",
    default=None,
    help="Sentence-embedding features beside TF-IDF (default: on when onnxruntime is installed).",
)
@click.option(
    "--keep-in-scope",
    default=0.96,
    show_default=True,
    type=click.FloatRange(0.5, 0.999),
    help="Share of in-scope messages the out-of-scope rule keeps (out of fold); 0.95-0.98 is sensible.",
)
@click.option(
    "--expected-oos-share",
    default=None,
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    help="Instead of --keep-in-scope: the share of your traffic that is out of scope (needs out-of-scope rows).",
)
@click.option("--folds", default=None, type=click.IntRange(2, 20), help="CV folds [5; 3 above 5,000 rows].")
@click.option("--jobs", default=None, type=click.IntRange(1, 64), help="Processes for cross-validation [all cores].")
@click.option(
    "--with-corrections",
    is_flag=True,
    help="Add agents' stored corrections (latest label per message wins, duplicates removed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (version, path, metrics) on stdout.")
def train_cmd(
    data_path: Path,
    text_column: str,
    label_column: str,
    oos_label: str | None,
    out_dir: Path,
    target_precision: float,
    embeddings: bool | None,
    keep_in_scope: float,
    expected_oos_share: float | None,
    folds: int | None,
    jobs: int | None,
    with_corrections: bool,
    as_json: bool,
) -> None:
    """Train an intent model from a CSV, save it (versioned, with metadata) and register it as a candidate."""
    from supportbot.adapters.progress import Bar, wanted
    from supportbot.bot.classifier.data import MIN_LABELS, MIN_ROWS, read_labelled_csv
    from supportbot.bot.classifier.intent import train_intent_model
    from supportbot.bot.classifier.versions import version_metrics

    bar = Bar("[train]", enabled=wanted(as_json))

    def progress(msg: str) -> None:
        bar.close()  # the line stays; the next stage redraws below it
        click.echo(f"[train] {msg}", err=True)
        bar.stage(msg)

    app = None
    try:
        data = read_labelled_csv(
            data_path,
            text_column=text_column,
            label_column=label_column,
            min_rows=MIN_ROWS,
            min_labels=MIN_LABELS,
        )
        progress(f"read {len(data)} rows, {len(set(data.labels))} labels from {data_path}")
        texts, labels, data_hash, used = data.texts, data.labels, data.sha256, None
        app = _registry_runtime()
        if with_corrections:
            texts, labels, data_hash, used = _add_corrections(app, texts, labels, data.sha256)
            progress(f"used {used} corrections ({len(texts)} rows)")
        result = train_intent_model(
            texts,
            labels,
            oos_label=oos_label,
            target_precision=target_precision,
            folds=folds,
            data_hash=data_hash,
            data_name=data_path.name,
            progress=progress,
            embeddings=embeddings,
            keep_in_scope=keep_in_scope,
            expected_oos_share=expected_oos_share,
            n_jobs=jobs or -1,
        )
        m = result.model
        m.metadata["data_columns"] = {"text": text_column, "label": label_column}
        m.metadata["rows_from_file"] = len(data)
        if used is not None:
            m.metadata["corrections_used"] = used
        m.metadata["version"] = _free_version(app, m.version, out_dir)
        m.save(out_dir)
    except (InvalidInput, ModelError) as exc:
        bar.close()
        _err(str(exc))
        sys.exit(2)
    except OSError as exc:
        bar.close()
        _err(f"cannot write model to {out_dir}: {exc}")
        sys.exit(2)
    finally:
        bar.close()
    assert m.scope is not None
    metrics = version_metrics(m.metadata)
    path = str(Path(out_dir).resolve())
    asyncio.run(app.core.models.register(m.version, path, data_hash=data_hash, metrics=metrics))
    if as_json:
        click.echo(json.dumps({"version": m.version, "path": path, "status": "candidate", "metrics": metrics}))
        return
    if used is not None:
        click.echo(f"used {used} corrections")
    click.echo(f"saved model {m.version} to {out_dir} in {result.seconds:.1f}s")
    click.echo(
        f"  intents: {len(m.intents)}; embeddings: {'yes' if m.embedding else 'no'}; global threshold at "
        f"{target_precision:.2f} precision: {m.thresholds['*']:.4f}; per-intent thresholds: {len(m.thresholds) - 1}"
    )
    click.echo(f"  out of scope: {m.scope.rule} below {m.scope.threshold:.4f} ({m.scope.chosen_by})")
    click.echo(f"registered as candidate {m.version}; compare and promote it with `supportbot models`")


def _registry_runtime():  # noqa: ANN202 - the Runtime type lives in adapters.bootstrap
    """The composition root on the configured database, without loading a model."""
    from supportbot.adapters.cli_core import _bootstrap, _settings

    return _bootstrap(_settings(), lazy_model=True)


def _add_corrections(app, texts: list[str], labels: list[str], file_hash: str) -> tuple[list[str], list[str], str, int]:  # noqa: ANN001
    """Training rows with the stored corrections; the data hash covers both."""
    import hashlib

    from supportbot.bot.review import corrections, with_corrections

    found = asyncio.run(app.core.db.read(lambda uow: corrections(uow)))
    texts, labels, used = with_corrections(texts, labels, found)
    extra = json.dumps(sorted((c.text, c.intent) for c in found), ensure_ascii=False)
    return texts, labels, hashlib.sha256(f"{file_hash}:{extra}".encode()).hexdigest(), used


def _free_version(app, version: str, out_dir: Path) -> str:  # noqa: ANN001
    """The model's version, made unique in the registry (two trainings in the same second on the same data)."""
    path = str(Path(out_dir).resolve())

    def taken(candidate: str) -> bool:
        found = asyncio.run(app.core.db.read(lambda uow: uow.model_versions.get(candidate)))
        return found is not None and found.path != path

    n, free = 1, version
    while taken(free):
        n += 1
        free = f"{version}-{n}"
    return free


@click.command("eval")
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path), help="Model directory.")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled CSV file.")
@_TEXT_COL
@_LABEL_COL
@_OOS
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else on stdout.")
def eval_cmd(
    model_dir: Path,
    data_path: Path,
    text_column: str,
    label_column: str,
    oos_label: str | None,
    as_json: bool,
) -> None:
    """Evaluate a model: accuracy, macro-F1, per-intent table, confusions, risk-coverage."""
    from supportbot.bot.classifier.data import read_labelled_csv
    from supportbot.bot.classifier.evaluation import evaluate_model
    from supportbot.bot.classifier.intent import IntentModel

    try:
        model = IntentModel.load(model_dir)
        data = read_labelled_csv(
            data_path, text_column=text_column, label_column=label_column, min_rows=1, min_labels=1
        )
        result = evaluate_model(model, data.texts, data.labels, oos_label=oos_label)
    except (InvalidInput, ModelError) as exc:
        _err(str(exc))
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
        return
    _print_report(result)


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None else format(x, spec)


def _print_report(r: dict) -> None:
    echo = click.echo
    echo(f"model {r['model_version']}  rows {r['n']}")
    echo(f"accuracy  {r['accuracy']:.4f}")
    echo(f"macro-F1  {r['macro_f1']:.4f}")
    if "in_scope_accuracy" in r:
        echo(f"in-scope accuracy      {_fmt(r['in_scope_accuracy'])}  ({r['n_in_scope']} rows)")
        echo(f"out-of-scope recall    {_fmt(r['oos_recall'])}  ({r['n_out_of_scope']} rows)")
        echo(f"out-of-scope precision {_fmt(r.get('oos_precision'))}")
        echo(f"AUROC (in vs out)      {_fmt(r.get('auroc'))}  (scope rule {r['scope_rule']['rule']})")
        echo(f"top-1 in-scope accuracy without abstention  {_fmt(r.get('top1_accuracy'))}")
        echo(
            "in-scope coverage at the model's thresholds  "
            f"{_fmt(r.get('in_scope_coverage_at_model_threshold'))}"
            f"  (precision {_fmt(r.get('precision_at_model_threshold'))})"
        )
    elif "coverage_at_model_threshold" in r:
        echo(
            f"coverage at the model's thresholds  {_fmt(r['coverage_at_model_threshold'])}"
            f"  (precision {_fmt(r.get('precision_at_model_threshold'))})"
        )
    echo("")
    echo("risk-coverage (answer when confidence >= threshold)")
    echo(f"  {'precision':>9}  {'coverage':>8}  {'threshold':>9}")
    for key, cov in r["coverage_at_precision"].items():
        echo(f"  {key:>9}  {cov:8.3f}  {_fmt(r['threshold_at_precision'][key], '9.4f'):>9}")
    echo("")
    echo(f"{'intent':<40} {'prec':>6} {'recall':>6} {'f1':>6} {'n':>5}")
    for row in r["per_intent"]:
        echo(
            f"{row['label'][:40]:<40} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f} {row['support']:5d}"
        )
    if r["confused_pairs"]:
        echo("")
        echo("most confused (true -> predicted)")
        for pair in r["confused_pairs"]:
            echo(f"  {pair['count']:4d}  {pair['true']} -> {pair['predicted']}")
    if r.get("labels_unknown_to_model"):
        echo("")
        echo("labels the model was not trained on: " + ", ".join(r["labels_unknown_to_model"]))


@click.command("train-signals")
@click.option("--urgency", "urgency_csv", type=click.Path(path_type=Path), default=None, help="text,urgency CSV.")
@click.option("--sentiment", "sentiment_csv", type=click.Path(path_type=Path), default=None, help="text,sentiment CSV.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option(
    "--embeddings/--no-embeddings", default=None, help="Sentence-embedding features (default: when installed)."
)
def train_signals_cmd(
    urgency_csv: Path | None, sentiment_csv: Path | None, out_dir: Path, embeddings: bool | None
) -> None:
    """Train the urgency and sentiment models (defaults: the bundled example CSVs)."""
    from supportbot.bot.classifier.signal_model import train_signal_model
    from supportbot.bot.classifier.text_classifier import default_model_dir

    example = default_model_dir().parent
    try:
        model = train_signal_model(
            urgency_csv or example / "urgency.csv",
            sentiment_csv or example / "sentiment.csv",
            embeddings=embeddings,
            progress=lambda m: click.echo(f"[train-signals] {m}", err=True),
        )
        model.save(out_dir)
    except (InvalidInput, ModelError) as exc:
        _err(str(exc))
        sys.exit(2)
    click.echo(f"saved signal model {model.version} to {out_dir} in {model.metadata['train_seconds']:.1f}s")


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    group.add_command(train_cmd)
    group.add_command(eval_cmd)
    group.add_command(train_signals_cmd)
