"""The scheduled retraining that only proposes: train a candidate with agents' corrections, compare it
with the current model, post the comparison to the managers. A manager promotes it (``/support model
promote V`` or ``supportbot models promote V``); nothing here changes which model runs.

Training and the comparison run as ``supportbot`` subprocesses, so the bot's event loop and memory are
not shared with scikit-learn and a second model. The job trains only when at least
``models.retrain_min_corrections`` corrections arrived since the last proposal, and claims its period
in the database (``sla_events``), so several replicas train once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supportbot.bot.domain import SlaEvent, new_id
from supportbot.bot.models import queue_proposal

if TYPE_CHECKING:
    from supportbot.adapters.bootstrap import Runtime

log = logging.getLogger(__name__)

LAST_PROPOSAL = "models.retrain.last_at"
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def models_dir(runtime: Runtime) -> Path:
    """Where retrained candidates are written: the setting, else ``models/`` beside the SQLite file."""
    settings = runtime.settings
    if settings.models.retrain_out_dir is not None:
        return Path(settings.models.retrain_out_dir)
    url = settings.database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).resolve().parent / "models"
    return Path("models").resolve()


async def run_cli(runtime: Runtime, *args: str, timeout: float = 3600.0) -> dict[str, Any]:
    """``supportbot ARGS`` in a subprocess on this bot's database; its last stdout line as JSON."""
    env = {**os.environ, "SUPPORTBOT_DATABASE_URL": runtime.settings.database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "supportbot.adapters.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        raise RuntimeError(f"supportbot {args[0]} took longer than {timeout:.0f}s") from None
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"supportbot {args[0]} failed ({proc.returncode}): {tail[0]}")
    lines = out.decode().strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return result


class RetrainJob:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._running = False

    async def run(self) -> str | None:
        """Train and propose a candidate when enough new corrections arrived; its version, or None."""
        if self._running:
            return None
        self._running = True
        try:
            return await self._run()
        except Exception as exc:  # the bot keeps running; the next period tries again
            log.error("scheduled retraining failed: %s", exc)
            return None
        finally:
            self._running = False

    async def _run(self) -> str | None:
        core, s = self.runtime.core, self.runtime.settings.models
        last = await core.db.read(lambda uow: uow.settings.get(LAST_PROPOSAL))
        since = datetime.fromisoformat(last) if last else None
        fresh = await core.corrections(since)
        if len(fresh) < s.retrain_min_corrections:
            return None
        now = core.clock.now()
        period = timedelta(hours=s.retrain_every_hours)
        bucket = EPOCH + period * ((now - EPOCH) // period)
        claim = SlaEvent(new_id("sla"), "models:retrain", "retrain", bucket, now, {"corrections": len(fresh)})
        if not await core.db.transaction(lambda uow: uow.sla_events.claim(claim)):
            return None  # another replica (or an earlier run) trains in this period
        out = models_dir(self.runtime) / f"candidate-{now:%Y%m%d-%H%M%S}"
        oos = ["--oos-label", s.retrain_oos_label] if s.retrain_oos_label else []
        columns = ["--text-column", s.retrain_text_column, "--label-column", s.retrain_label_column]
        log.info("retraining with %d new corrections into %s", len(fresh), out)
        trained = await run_cli(
            self.runtime,
            "train",
            "--data",
            str(s.retrain_data),
            *columns,
            *oos,
            "--target-precision",
            str(s.retrain_target_precision),
            "--with-corrections",
            "--out",
            str(out),
            "--json",
        )
        version = str(trained["version"])
        extra: dict[str, tuple[Any, Any]] = {}
        if s.retrain_heldout is not None and Path(s.retrain_heldout).is_file():
            compared = await run_cli(
                self.runtime, "models", "compare", version, "--data", str(s.retrain_heldout), *columns, *oos, "--json"
            )
            extra = held_out_rows(compared)
        platforms = core.weekly_report.platforms()

        def propose(uow: Any) -> str:
            uow.settings.set(LAST_PROPOSAL, now.isoformat())
            return queue_proposal(uow, core.outbox, platforms, version, extra)

        await core.db.transaction(propose)
        await core.dispatcher.dispatch()
        log.info("proposed model %s to the managers", version)
        return version


def held_out_rows(compared: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Held-out figures of ``models compare --json`` as (current, candidate) pairs."""
    current, candidate = compared.get("current") or {}, compared.get("candidate") or {}
    rows: dict[str, tuple[Any, Any]] = {}
    for key, label in (("accuracy", "held-out accuracy"), ("coverage_at_target", "held-out coverage at the target")):
        rows[label] = ((current.get("eval") or {}).get(key), (candidate.get("eval") or {}).get(key))
    return rows
