"""Model versions: register, promote, roll back, compare; and switching a running bot's model.

``ModelRegistry`` keeps the rules (the repository only stores): ``train`` registers every model
it writes as a *candidate*; a manager *promotes* one (``supportbot models promote``, ``/support
model promote``), which retires the previous current version; ``rollback`` returns to the
version that was current before. ``promote`` refuses a candidate whose precision at the target
(out of fold, on its own training data) is below the current model's, unless forced.

``ModelReloader`` is a scheduled job of every running bot: when the database names another
current version it loads that model on a thread (the old one keeps answering) and swaps it in,
so a promotion reaches every replica within one check interval, without a restart. A model
pinned by ``SUPPORTBOT_MODEL_DIR`` is never swapped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supportbot.bot.classifier.loader import SwappableClassifier
from supportbot.bot.domain import AgentActionRecord, Audience, ModelStatus, ModelVersion, OutboundKind, Role, new_id
from supportbot.bot.errors import Conflict, NotFound, SupportbotError
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.ports import Classifier, Clock, Database, UnitOfWork

log = logging.getLogger(__name__)

INTENT = "intent"
# figures shown side by side wherever two versions are compared (key, label)
COMPARED = (
    ("accuracy", "accuracy (out of fold)"),
    ("coverage_at_target", "coverage at the target precision"),
    ("precision_at_target", "precision at the target"),
    ("rows", "training rows"),
    ("corrections_used", "corrections used"),
)


class PromotionRefused(SupportbotError):
    """The guard refused a promotion; the message is the one-line reason."""


@dataclass(frozen=True)
class Promotion:
    promoted: ModelVersion
    previous: ModelVersion | None
    forced: bool = False

    def message(self) -> str:
        before = f" (was {self.previous.id})" if self.previous else ""
        forced = " despite the precision guard (--force)" if self.forced else ""
        return f"{self.promoted.id} is now the current model{before}{forced}; running bots switch within a minute."


def precision_guard(candidate: ModelVersion, current: ModelVersion | None) -> str | None:
    """Why ``candidate`` must not replace ``current``, or None when it may."""
    if current is None or current.id == candidate.id:
        return None  # with nothing promoted yet there is nothing to compare against
    theirs = current.metrics.get("precision_at_target")
    if theirs is None:
        return None
    ours = candidate.metrics.get("precision_at_target")
    if ours is None:
        return (
            f"refusing to promote {candidate.id}: it answers nothing at its thresholds, so its precision at "
            f"the target is unknown (current {current.id}: {theirs:.4f}); use --force to promote anyway"
        )
    if float(ours) + 1e-12 < float(theirs):
        return (
            f"refusing to promote {candidate.id}: its precision at the target ({float(ours):.4f}) is lower than the "
            f"current model {current.id}'s ({float(theirs):.4f}); use --force to promote anyway"
        )
    return None


class ModelRegistry:
    """Rules of the model lifecycle over ``uow.model_versions``; every change is also an agent action."""

    def __init__(self, db: Database, clock: Clock, kind: str = INTENT) -> None:
        self.db = db
        self.clock = clock
        self.kind = kind

    # ------------------------------------------------------------------ in a unit of work (CLI, /support)
    def register_in(
        self,
        uow: UnitOfWork,
        version_id: str,
        path: str,
        *,
        data_hash: str = "",
        metrics: Mapping[str, Any] | None = None,
        current_if_none: bool = False,
    ) -> ModelVersion:
        """Register a model as a candidate (idempotent for the same id); with ``current_if_none`` it
        becomes current when nothing is (the first model a bot runs)."""
        now = self.clock.now()
        existing = uow.model_versions.get(version_id)
        if existing is None:
            first = current_if_none and uow.model_versions.current(self.kind) is None
            existing = ModelVersion(
                version_id,
                self.kind,
                path,
                data_hash,
                now,
                dict(metrics or {}),
                status=ModelStatus.CURRENT if first else ModelStatus.CANDIDATE,
                promoted_at=now if first else None,
            )
            uow.model_versions.add(existing)
        elif current_if_none and uow.model_versions.current(self.kind) is None:
            uow.model_versions.make_current(version_id, promoted_at=now)
            existing = uow.model_versions.get(version_id) or existing
        return existing

    def resolve_in(self, uow: UnitOfWork, ref: str) -> ModelVersion:
        """A version by id, or by the directory it was registered from."""
        found = uow.model_versions.get(ref)
        if found is not None:
            return found
        by_path = [v for v in uow.model_versions.list(self.kind) if v.path.rstrip("/") == ref.rstrip("/")]
        if by_path:
            return by_path[-1]
        raise NotFound(f"no model version {ref!r} (see `supportbot models list`)")

    def promote_in(self, uow: UnitOfWork, ref: str, *, actor: str, role: Role, force: bool = False) -> Promotion:
        candidate = self.resolve_in(uow, ref)
        current = uow.model_versions.current(self.kind)
        if current is not None and current.id == candidate.id:
            raise Conflict(f"{candidate.id} is already the current model")
        refusal = precision_guard(candidate, current)
        if refusal is not None and not force:
            raise PromotionRefused(refusal)
        now = self.clock.now()
        previous = uow.model_versions.make_current(candidate.id, promoted_at=now)
        detail = {"version": candidate.id, "previous": previous.id if previous else None, "forced": refusal is not None}
        uow.actions.add(AgentActionRecord(new_id("act"), actor, role, "model_promote", now, detail=detail))
        promoted = uow.model_versions.get(candidate.id) or candidate
        return Promotion(promoted, previous, forced=refusal is not None)

    def rollback_in(self, uow: UnitOfWork, *, actor: str, role: Role) -> Promotion:
        """Back to the version that was current before the current one (its promotion time is kept,
        so rolling back twice walks further back rather than flipping between two)."""
        current = uow.model_versions.current(self.kind)
        if current is None:
            raise NotFound("no model has been promoted yet: nothing to roll back")
        earlier = [
            v
            for v in uow.model_versions.list(self.kind)
            if v.status is ModelStatus.RETIRED
            and v.promoted_at is not None
            and (current.promoted_at is None or v.promoted_at < current.promoted_at)
        ]
        if not earlier:
            raise NotFound(f"{current.id} is the first promoted model: there is nothing to roll back to")
        target = max(earlier, key=lambda v: v.promoted_at or v.created_at)
        uow.model_versions.make_current(target.id, promoted_at=None)
        now = self.clock.now()
        detail = {"version": target.id, "previous": current.id}
        uow.actions.add(AgentActionRecord(new_id("act"), actor, role, "model_rollback", now, detail=detail))
        return Promotion(uow.model_versions.get(target.id) or target, current)

    # ------------------------------------------------------------------ async shortcuts
    async def register(self, version_id: str, path: str, **kwargs: Any) -> ModelVersion:
        return await self.db.transaction(lambda uow: self.register_in(uow, version_id, path, **kwargs))

    async def promote(self, ref: str, *, actor: str, role: Role, force: bool = False) -> Promotion:
        return await self.db.transaction(lambda uow: self.promote_in(uow, ref, actor=actor, role=role, force=force))

    async def rollback(self, *, actor: str, role: Role) -> Promotion:
        return await self.db.transaction(lambda uow: self.rollback_in(uow, actor=actor, role=role))

    async def versions(self) -> list[ModelVersion]:
        return await self.db.read(lambda uow: uow.model_versions.list(self.kind))

    async def current(self) -> ModelVersion | None:
        return await self.db.read(lambda uow: uow.model_versions.current(self.kind))


def comparison_rows(candidate: ModelVersion, current: ModelVersion | None) -> list[tuple[str, Any, Any]]:
    """(label, current value, candidate value) of the stored figures."""
    rows = []
    for key, label in COMPARED:
        theirs = current.metrics.get(key) if current else None
        ours = candidate.metrics.get(key)
        if ours is None and theirs is None:
            continue
        rows.append((label, theirs, ours))
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}" if value < 1.0 else f"{value:g}"
    return str(value)


def comparison_text(
    candidate: ModelVersion, current: ModelVersion | None, extra: Mapping[str, tuple[Any, Any]] | None = None
) -> str:
    """Plain text for managers: the candidate beside the current model, and how to promote it."""
    head = f"Model candidate {candidate.id}" + (f" vs current {current.id}" if current else " (no current model yet)")
    lines = [head]
    for label, theirs, ours in comparison_rows(candidate, current):
        lines.append(f"• {label}: {_fmt(theirs)} → {_fmt(ours)}")
    for label, (theirs, ours) in (extra or {}).items():
        lines.append(f"• {label}: {_fmt(theirs)} → {_fmt(ours)}")
    refusal = precision_guard(candidate, current)
    if refusal is None:
        lines.append(f"Promote with /support model promote {candidate.id} (or `supportbot models promote`).")
    else:
        lines.append(f"Not promotable as is: {refusal.split(': ', 1)[1]}")
    return "\n".join(lines)


class ModelReloader:
    """Swap the running classifier for the database's current model when it changes."""

    def __init__(
        self,
        db: Database,
        classifier: SwappableClassifier,
        loader: Callable[[str], Classifier],
        *,
        pinned: bool = False,
        kind: str = INTENT,
    ) -> None:
        self.db = db
        self.classifier = classifier
        self.loader = loader
        self.pinned = pinned
        self.kind = kind
        self._failed: set[str] = set()  # versions whose files could not be loaded: not retried every tick
        self._lock = asyncio.Lock()

    async def check(self) -> bool:
        """Load and swap in the current version if it is not the one running; True when it swapped."""
        if self.pinned or not self.classifier.ready:
            return False
        async with self._lock:
            current = await self.db.read(lambda uow: uow.model_versions.current(self.kind))
            if current is None or current.id in self._failed or current.id == self.classifier.loaded_version():
                return False
            try:
                model = await asyncio.to_thread(self.loader, current.path)
                version = model.version
            except Exception as exc:  # a bad or missing directory: keep the running model, say why once
                self._failed.add(current.id)
                log.error("cannot load promoted model %s from %s: %s", current.id, current.path, exc)
                return False
            if version != current.id:
                self._failed.add(current.id)
                log.error("%s holds model %s, not the promoted %s: not switching", current.path, version, current.id)
                return False
            before = self.classifier.loaded_version()
            self.classifier.swap(model, path=current.path)
            log.info("switched the intent model from %s to %s", before, current.id)
            return True


def queue_proposal(
    uow: UnitOfWork,
    outbox: OutboxWriter,
    platforms: Sequence[str],
    candidate_id: str,
    extra: Mapping[str, tuple[Any, Any]] | None = None,
    *,
    kind: str = INTENT,
) -> str:
    """Queue the comparison of a retrained candidate for the managers' channel of every platform."""
    candidate = uow.model_versions.get(candidate_id)
    if candidate is None:
        raise NotFound(f"no model version {candidate_id}")
    current = uow.model_versions.current(kind)
    text = comparison_text(candidate, current, extra)
    for platform in platforms:
        outbox.queue(
            uow,
            None,
            Audience.MANAGERS,
            OutboundKind.REPORT,
            text,
            f"model-proposal:{platform}:{candidate.id}",
            {
                "summary": text,
                "model_proposal": {"candidate": candidate.id, "current": current.id if current else None},
            },
            platform=platform,
        )
    return text
