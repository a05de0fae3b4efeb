"""The CX-ops loop on the command line: ``simulate``, ``models``, ``review``, ``gaps`` (and ``kb audit``).

Every command runs on the configured database (``SUPPORTBOT_DATABASE_URL``) through the composition
root, so it sees exactly what the running bots see: the current model, the managers' thresholds, the
stored conversations and agents' corrections.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from supportbot.adapters.progress import Bar, wanted
from supportbot.bot.domain import AccountLookup, ModelVersion, Role
from supportbot.bot.errors import ConfigurationError, InvalidInput, ModelError, NotFound, SupportbotError

CLI_ACTOR = "cli"


def _runtime(**kwargs: Any) -> Any:
    from supportbot.adapters.cli_core import _bootstrap, _settings

    return _bootstrap(_settings(), **kwargs)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _since(period: str | None) -> datetime | None:
    from supportbot.bot.support_commands import parse_period

    if not period:
        return None
    try:
        return datetime.now(UTC) - parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


_TICKETS = click.option(
    "--tickets",
    "tickets_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV of past tickets (a text column and a label column).",
)
_TEXT_COL = click.option("--text-column", default="text", show_default=True, help="Column with the ticket text.")
_LABEL_COL = click.option("--label-column", default="intent", show_default=True, help="Column with the true intent.")
_OOS = click.option("--oos-label", default=None, help="Label that marks out-of-scope tickets.")
_ACCOUNT = click.option("--account", "account_id", default=None, help="Decide as for this CRM account.")
_TARGET = click.option(
    "--target-precision",
    default=0.98,
    show_default=True,
    type=click.FloatRange(0.5, 1.0),
    help="Precision automatic answers must reach.",
)


# ============================================================================ simulate


def _read_tickets(path: Path, text_column: str, label_column: str) -> list[Any]:
    from supportbot.bot.classifier.data import read_labelled_csv
    from supportbot.bot.simulate import Ticket

    try:
        data = read_labelled_csv(path, text_column=text_column, label_column=label_column, min_rows=1)
    except InvalidInput as exc:
        _fail(str(exc), 2)
    return [Ticket(t, label) for t, label in zip(data.texts, data.labels, strict=True)]


def _account(app: Any, account_id: str | None) -> Any:
    if not account_id:
        return None
    account = asyncio.run(app.core.crm.find_account(AccountLookup(account_id=account_id)))
    if account is None:
        _fail(f"unknown account {account_id!r} (see the CRM file)", 2)
    return account


def run_simulation(
    app: Any,
    tickets: list[Any],
    *,
    account: Any,
    target_precision: float,
    oos_label: str | None,
    classifier: Any = None,
    bar: Bar | None = None,
) -> Any:
    """``bot.simulate.simulate`` on the runtime's triage (optionally with another classifier)."""
    import copy

    from supportbot.bot.intake import threshold_overrides
    from supportbot.bot.simulate import simulate

    core = app.core
    triage = core.triage
    if classifier is not None:
        triage = copy.copy(triage)
        triage.classifier = classifier
    overrides = asyncio.run(core.db.read(threshold_overrides))
    return simulate(
        triage,
        tickets,
        account=account,
        overrides=overrides,
        labels=triage.classifier.labels(),
        target_precision=target_precision,
        oos_labels=[oos_label] if oos_label else [],
        max_chars=core.settings.max_message_chars,
        progress=bar.update if bar is not None else None,
        encode_jobs=os.cpu_count() or 1,
        workers=min(4, os.cpu_count() or 1),  # classification in forked processes: see bot.simulate.prefill
    )


@click.command("simulate")
@_TICKETS
@_TEXT_COL
@_LABEL_COL
@_OOS
@_ACCOUNT
@_TARGET
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else on stdout.")
@click.option("--html", "html_out", default=None, type=click.Path(path_type=Path), help="Also write an HTML report.")
def simulate_cmd(
    tickets_path: Path,
    text_column: str,
    label_column: str,
    oos_label: str | None,
    account_id: str | None,
    target_precision: float,
    as_json: bool,
    html_out: Path | None,
) -> None:
    """Replay past tickets through the current model, knowledge base and policy; nothing is posted or stored."""
    from supportbot.bot.ops_report import simulation_html

    tickets = _read_tickets(tickets_path, text_column, label_column)
    app = _runtime()
    account = _account(app, account_id)
    with Bar("[simulate]", enabled=wanted(as_json)) as bar:
        sim = run_simulation(
            app, tickets, account=account, target_precision=target_precision, oos_label=oos_label, bar=bar
        )
    version = app.core.classifier.version
    if html_out is not None:
        html_out.write_text(
            simulation_html(sim, source=tickets_path.name, model_version=version, account=account_id), encoding="utf-8"
        )
    if as_json:
        click.echo(json.dumps(sim.to_dict()))
        return
    a, rec = sim.actions, sim.recommended
    click.echo(f"simulated {sim.n} tickets with model {version} in {sim.seconds:.1f}s ({sim.n / sim.seconds:.0f}/s)")
    click.echo(
        f"today's settings:  answer {_pct(a['answer'])}, draft {_pct(a['draft'])}, hand off {_pct(a['handoff'])}; "
        f"automatic precision {_pct(sim.automatic_precision)}"
    )
    click.echo(
        f"recommended for {target_precision:.0%} precision: global threshold {rec.global_threshold:.2f}"
        + (f" and {len(rec.per_intent)} per-intent thresholds" if rec.per_intent else "")
        + f" -> automatic {_pct(rec.automation_rate)} at precision {_pct(rec.precision)}"
        + ("" if rec.reached else " (no threshold reaches the target)")
    )
    for intent, t in sorted(rec.per_intent.items()):
        click.echo(f"  {intent}: {t:.2f}")
    click.echo("curve (one global threshold):  threshold  automatic  precision")
    for p in sim.curve:
        click.echo(f"  {p.threshold:9.2f}  {_pct(p.automation_rate):>9}  {_pct(p.precision):>9}")
    if html_out is not None:
        click.echo(f"report: {html_out}")


# ============================================================================ models


def version_json(v: ModelVersion) -> dict[str, Any]:
    return {
        "version": v.id,
        "path": v.path,
        "created_at": v.created_at.isoformat(),
        "status": v.status.value,
        "metrics": v.metrics,
    }


@click.group("models")
def models_group() -> None:
    """Model versions: list, promote, roll back, compare."""


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def models_list(as_json: bool) -> None:
    """Every registered model version, oldest first."""
    app = _runtime(lazy_model=True)
    versions = asyncio.run(app.core.models.versions())
    if as_json:
        click.echo(json.dumps({"models": [version_json(v) for v in versions]}))
        return
    if not versions:
        click.echo("no model version registered yet (`supportbot train` registers each model it writes)")
        return
    click.echo(f"{'version':<44} {'status':<10} {'precision':>9} {'coverage':>9} {'rows':>6} {'corr.':>5}  path")
    for v in versions:
        m = v.metrics
        click.echo(
            f"{v.id:<44} {v.status.value:<10} {_pct(m.get('precision_at_target')):>9} "
            f"{_pct(m.get('coverage_at_target')):>9} {m.get('rows') or '—':>6} {m.get('corrections_used', '—'):>5}  "
            f"{v.path}"
        )


def _register_dir(app: Any, ref: str) -> str:
    """A model directory not registered yet is registered as a candidate; returns its version."""
    from supportbot.bot.classifier.versions import read_metadata, version_metrics

    path = Path(ref)
    if not path.is_dir():
        return ref
    try:
        meta = read_metadata(path)
    except ModelError as exc:
        _fail(str(exc), 2)
    version = str(meta["version"])
    asyncio.run(
        app.core.models.register(
            version, str(path.resolve()), data_hash=str(meta.get("data_sha256") or ""), metrics=version_metrics(meta)
        )
    )
    return version


@models_group.command("promote")
@click.argument("version")
@click.option("--force", is_flag=True, help="Promote even if its precision at the target is below the current one's.")
def models_promote(version: str, force: bool) -> None:
    """Make VERSION (as listed, or a model directory) the current model; running bots switch within a minute."""
    from supportbot.bot.models import PromotionRefused

    app = _runtime(lazy_model=True)
    ref = _register_dir(app, version)
    try:
        done = asyncio.run(app.core.models.promote(ref, actor=CLI_ACTOR, role=Role.MANAGER, force=force))
    except PromotionRefused as exc:
        _fail(str(exc))
    except SupportbotError as exc:
        _fail(str(exc))
    click.echo(done.message())


@models_group.command("rollback")
def models_rollback() -> None:
    """Return to the model that was current before the current one."""
    app = _runtime(lazy_model=True)
    try:
        done = asyncio.run(app.core.models.rollback(actor=CLI_ACTOR, role=Role.MANAGER))
    except SupportbotError as exc:
        _fail(str(exc))
    click.echo(f"rolled back from {done.previous.id if done.previous else '?'}: {done.message()}")


def _side(
    app: Any,
    version: ModelVersion | None,
    path: Path,
    data: Any,
    tickets: list[Any] | None,
    *,
    oos_label: str | None,
    target: float,
    account: Any,
    bar: Bar,
) -> dict[str, Any]:
    """Held-out figures (and a simulation) of one model directory."""
    from supportbot.adapters.bootstrap import load_model
    from supportbot.bot.classifier.evaluation import evaluate_model
    from supportbot.bot.classifier.loader import innermost
    from supportbot.bot.classifier.versions import read_metadata, version_metrics

    bar.stage(f"loading {path.name}")
    try:
        classifier = load_model(path)
        meta = read_metadata(path)
    except (ConfigurationError, ModelError) as exc:
        _fail(str(exc), 2)
    model = getattr(innermost(classifier), "model", None)
    key = f"{target:.2f}"
    side: dict[str, Any] = {
        "version": classifier.version,
        "path": str(path),
        "status": version.status.value if version else "unregistered",
        "metrics": version.metrics if version else version_metrics(meta),
    }
    if model is not None:
        bar.stage(f"evaluating {classifier.version}")
        r = evaluate_model(model, data.texts, data.labels, oos_label=oos_label, targets=(target,))
        side["eval"] = {
            "n": r["n"],
            "accuracy": r["accuracy"],
            "macro_f1": r["macro_f1"],
            "coverage_at_target": r["coverage_at_precision"][key],
            "threshold_at_target": r["threshold_at_precision"][key],
            "precision_at_model_threshold": r.get("precision_at_model_threshold"),
        }
    if tickets:
        bar.stage(f"simulating with {classifier.version}")
        sim = run_simulation(
            app, tickets, account=account, target_precision=target, oos_label=oos_label, classifier=classifier
        )
        side["simulate"] = {
            "n": sim.n,
            "actions": sim.actions,
            "automatic_precision": sim.automatic_precision,
            "recommended": sim.recommended.to_dict(),
        }
    return side


@models_group.command("compare")
@click.argument("version")
@click.option("--against", default="current", show_default=True, help="The version to compare with.")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path), help="Labelled held-out CSV.")
@click.option(
    "--tickets", "tickets_path", default=None, type=click.Path(path_type=Path), help="Past tickets to simulate."
)
@_TEXT_COL
@_LABEL_COL
@_OOS
@_ACCOUNT
@_TARGET
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def models_compare(
    version: str,
    against: str,
    data_path: Path,
    tickets_path: Path | None,
    text_column: str,
    label_column: str,
    oos_label: str | None,
    account_id: str | None,
    target_precision: float,
    as_json: bool,
) -> None:
    """VERSION beside another (default: the current model): accuracy, coverage at the target, simulation."""
    from supportbot.bot.classifier.data import read_labelled_csv

    app = _runtime(lazy_model=True)
    try:
        data = read_labelled_csv(data_path, text_column=text_column, label_column=label_column, min_rows=1)
    except InvalidInput as exc:
        _fail(str(exc), 2)
    tickets = _read_tickets(tickets_path, text_column, label_column) if tickets_path else None
    account = _account(app, account_id)
    models = app.core.models

    def find(ref: str) -> tuple[ModelVersion | None, Path]:
        if ref == "current":
            current = asyncio.run(models.current())
            if current is not None:
                return current, Path(current.path)
            return None, Path(app.settings.model_dir)  # nothing promoted yet: the configured model
        try:
            found = asyncio.run(app.core.db.read(lambda uow: models.resolve_in(uow, ref)))
        except NotFound:
            if Path(ref).is_dir():
                return None, Path(ref)
            _fail(f"no model version {ref!r} (see `supportbot models list`)", 2)
        return found, Path(found.path)

    candidate, candidate_path = find(version)
    other, other_path = find(against)
    with Bar("[compare]", enabled=wanted(as_json)) as bar:
        sides = {
            "candidate": _side(
                app,
                candidate,
                candidate_path,
                data,
                tickets,
                oos_label=oos_label,
                target=target_precision,
                account=account,
                bar=bar,
            ),
            "current": _side(
                app,
                other,
                other_path,
                data,
                tickets,
                oos_label=oos_label,
                target=target_precision,
                account=account,
                bar=bar,
            ),
        }
    result = {"target_precision": target_precision, "data": str(data_path), **sides}
    if candidate is not None:
        from supportbot.bot.models import precision_guard

        refusal = precision_guard(candidate, other)
        result["promotable"] = refusal is None
        result["guard"] = refusal
    if as_json:
        click.echo(json.dumps(result))
        return
    _print_comparison(result)


def _print_comparison(r: dict[str, Any]) -> None:
    cand, cur = r["candidate"], r["current"]
    click.echo(f"{'':<38} {'current':>22} {'candidate':>22}")
    click.echo(f"{'version':<38} {cur['version'][-22:]:>22} {cand['version'][-22:]:>22}")
    rows: list[tuple[str, Any, Any]] = [
        (
            "precision at target (out of fold)",
            cur["metrics"].get("precision_at_target"),
            cand["metrics"].get("precision_at_target"),
        ),
        (
            "coverage at target (out of fold)",
            cur["metrics"].get("coverage_at_target"),
            cand["metrics"].get("coverage_at_target"),
        ),
        ("training rows", cur["metrics"].get("rows"), cand["metrics"].get("rows")),
        ("corrections used", cur["metrics"].get("corrections_used"), cand["metrics"].get("corrections_used")),
    ]
    if "eval" in cand:
        rows += [
            ("held-out accuracy", cur["eval"]["accuracy"], cand["eval"]["accuracy"]),
            ("held-out macro-F1", cur["eval"]["macro_f1"], cand["eval"]["macro_f1"]),
            (
                f"held-out coverage at {r['target_precision']:.0%}",
                cur["eval"]["coverage_at_target"],
                cand["eval"]["coverage_at_target"],
            ),
        ]
    if "simulate" in cand:
        for key in ("answer", "draft", "handoff"):
            rows.append((f"simulate: {key}", cur["simulate"]["actions"][key], cand["simulate"]["actions"][key]))
        rows.append(
            (
                "simulate: automatic precision",
                cur["simulate"]["automatic_precision"],
                cand["simulate"]["automatic_precision"],
            )
        )
        rows.append(
            (
                "simulate: recommended automation",
                cur["simulate"]["recommended"]["automation_rate"],
                cand["simulate"]["recommended"]["automation_rate"],
            )
        )

    def fmt(v: Any) -> str:
        if v is None:
            return "—"
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    for label, a, b in rows:
        click.echo(f"{label:<38} {fmt(a):>22} {fmt(b):>22}")
    if r.get("guard"):
        click.echo(f"promote: {r['guard']}")
    elif "promotable" in r:
        click.echo(f"promote: allowed (supportbot models promote {cand['version']})")


# ============================================================================ review


@click.group("review", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--since", default=None, help="Only conversations newer than this, e.g. 30d.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def review_group(ctx: click.Context, as_json: bool, since: str | None, limit: int) -> None:
    """Conversations worth labelling, most useful first; `review label` stores a correction."""
    if ctx.invoked_subcommand is not None:
        return
    from supportbot.bot.review import review_queue

    cutoff = _since(since)
    app = _runtime(lazy_model=True)
    items = asyncio.run(app.core.db.read(lambda uow: review_queue(uow, since=cutoff, limit=limit)))
    if as_json:
        click.echo(json.dumps({"items": [i.to_dict() for i in items]}, ensure_ascii=False))
        return
    if not items:
        click.echo("nothing to review: no override, 👎, out-of-scope or low-confidence conversation unlabelled")
        return
    for i in items:
        guess = f"{i.predicted_intent} {i.confidence:.2f}"
        click.echo(f"{i.conversation_id}  {i.reason:<15} {guess:<28} {i.text[:90]}")
    click.echo(f"\n{len(items)} to review; label one with: supportbot review label CONVERSATION_ID INTENT")


@review_group.command("label")
@click.argument("conversation_id")
@click.argument("intent")
def review_label(conversation_id: str, intent: str) -> None:
    """Store an agent's intent for a conversation's question (the latest label per message wins)."""
    from supportbot.bot.commands import Actor, RelabelIntent
    from supportbot.bot.review import review_queue

    app = _runtime(lazy_model=True)
    queued = asyncio.run(app.core.db.read(lambda uow: review_queue(uow, limit=None)))
    message_id = next((i.message_id for i in queued if i.conversation_id == conversation_id), None)
    actor = Actor(CLI_ACTOR, Role.AGENT, "CLI")
    try:
        result = asyncio.run(
            app.core.commands.execute(RelabelIntent(conversation_id, actor, intent, message_id), dispatch=False)
        )
    except SupportbotError as exc:
        _fail(str(exc))
    click.echo(f"{conversation_id}: {result.message} (stored as a correction for retraining)")


# ============================================================================ gaps


@click.command("gaps")
@click.option("--since", default="30d", show_default=True, help="Questions of this period, e.g. 7d or 30d.")
@click.option("--min-size", default=3, show_default=True, type=click.IntRange(1, 1000), help="Smallest topic.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def gaps_cmd(since: str, min_size: int, as_json: bool) -> None:
    """Group the questions the bot could not answer into topics, largest first."""
    from supportbot.bot.gaps import find_gaps, shared_encoder, unanswered

    cutoff = _since(since)
    app = _runtime(lazy_model=True)
    questions = asyncio.run(app.core.db.read(lambda uow: unanswered(uow, cutoff)))
    with Bar("[gaps]", enabled=wanted(as_json)) as bar:
        bar.stage(f"encoding {len(questions)} questions")
        topics = find_gaps(questions, encoder=shared_encoder(), min_size=min_size, progress=bar.update)
    if as_json:
        click.echo(json.dumps({"topics": [t.to_dict() for t in topics]}, ensure_ascii=False))
        return
    click.echo(f"{len(questions)} unanswered questions since {since}; {len(topics)} topics of {min_size} or more")
    for n, t in enumerate(topics, 1):
        click.echo(f"\n{n}. {t.suggested_title}  ({t.size} questions; {t.label})")
        for example in t.examples[:3]:
            click.echo(f"   - {example[:110]}")


def kb_audit(as_json: bool, stale_days: int) -> None:
    """``supportbot kb audit``: registered on the ``kb`` group of ``cli_core``."""
    from supportbot.bot.kb_audit import audit_kb

    app = _runtime(lazy_model=True)
    core = app.core
    articles = core.kb.articles()
    now = datetime.now(UTC)
    audit = asyncio.run(core.db.read(lambda uow: audit_kb(uow, articles, Path(core.settings.kb_dir), now, stale_days)))
    if as_json:
        click.echo(json.dumps(audit.to_dict(), ensure_ascii=False))
        return
    click.echo(f"{audit.articles} articles in {core.settings.kb_dir}")
    click.echo(f"\ncited by 👎 answers or rejected drafts ({len(audit.flagged)}):")
    for r in audit.flagged:
        click.echo(f"  {r['id']}: {r['negative_answers']} 👎, {r['rejected_drafts']} rejected drafts")
    click.echo(f"\nnever cited ({len(audit.never_cited)}):")
    for r in audit.never_cited:
        click.echo(f"  {r['id']}  {r['title']}")
    click.echo(f"\nnot updated for {stale_days} days ({len(audit.stale)}):")
    for r in audit.stale:
        click.echo(f"  {r['id']}: updated {r['updated']} ({r['days']} days)")
    if audit.undated:
        click.echo(
            f"\nno `updated:` in the front matter ({len(audit.undated)}): " + ", ".join(r["id"] for r in audit.undated)
        )


def register(group: click.Group) -> None:
    for command in (simulate_cmd, models_group, review_group, gaps_cmd):
        group.add_command(command)
