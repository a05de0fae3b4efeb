"""``/support`` commands, the same on every platform.

``help`` for everyone on the staff side; ``queue`` and ``sla`` for agents;
``stats`` and ``threshold`` for managers. Customers get a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from supportbot.bot.accounts import CrmHealth
from supportbot.bot.cards import Card, CardField, CommandReply
from supportbot.bot.commands import Actor
from supportbot.bot.dispatch import Dispatcher
from supportbot.bot.domain import AgentActionRecord, ConversationStatus, ModelStatus, Outbound, Role, new_id
from supportbot.bot.errors import Conflict, NotFound
from supportbot.bot.intake import THRESHOLD_PREFIX, threshold_overrides
from supportbot.bot.metrics import compute_stats, work_queue
from supportbot.bot.models import ModelRegistry, PromotionRefused
from supportbot.bot.modes import MODES, ChannelModes, parse_channel, parse_mode
from supportbot.bot.policy import Policy
from supportbot.bot.ports import Classifier, Clock, Database, UnitOfWork
from supportbot.bot.report import duration, pct

HELP = """\
/support help — this help
/support queue — open hand-offs and drafts awaiting approval, oldest first (agents)
/support sla — conversations at risk of missing their SLA (agents)
/support stats [7d|24h|30d] — volume, automated resolution, first response, drafts (managers)
/support threshold [intent] [value] — show or set automation thresholds (managers)
/support failed — replies and cards the bot gave up delivering, newest first (agents)
/support retry <id…>|all — send failed items again (managers)
/support model [promote VERSION [force] | rollback] — model versions; promote a candidate (managers)
/support mode [<channel> auto|draft-only|shadow|off] — channels' modes; set one (managers)"""

_PERIOD = re.compile(r"^(\d{1,3})([hdw])$")


def parse_period(text: str) -> timedelta:
    match = _PERIOD.match(text.strip().lower())
    if not match:
        raise ValueError(f"cannot read period {text!r}: use e.g. 24h, 7d or 4w")
    amount, unit = int(match.group(1)), match.group(2)
    return {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]


class SupportCommands:
    """The commands run in one read (or, for ``threshold VALUE``, write) unit of work off the event loop."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        classifier: Classifier,
        policy: Policy,
        dispatcher: Dispatcher,
        models: ModelRegistry | None = None,
        crm_health: Callable[[], CrmHealth] | None = None,
        modes: ChannelModes | None = None,
    ) -> None:
        self.crm_health = crm_health
        self.modes = modes or ChannelModes()
        self.dispatcher = dispatcher
        self.db = db
        self.clock = clock
        self.classifier = classifier
        self.policy = policy
        self.models = models or ModelRegistry(db, clock)

    async def run(self, actor: Actor, text: str) -> CommandReply:
        parts = (text or "").split()
        name, args = (parts[0].lower(), parts[1:]) if parts else ("help", [])
        if actor.role is Role.CUSTOMER or actor.role is Role.BOT:
            return CommandReply("Sorry, /support is only available to the support team.", ok=False)
        handlers = {
            "help": self.help,
            "queue": self.queue,
            "sla": self.sla,
            "stats": self.stats,
            "threshold": self.threshold,
            "failed": self.failed,
            "model": self.model,
            "mode": self.mode,
        }
        if name == "retry":
            if actor.role is not Role.MANAGER:
                return CommandReply("/support retry is for managers.", ok=False)
            return await self.retry(actor, args)
        handler = handlers.get(name)
        if handler is None:
            return CommandReply(f"Unknown command {name!r}.\n{HELP}", ok=False)
        if name in ("stats", "threshold", "model") and actor.role is not Role.MANAGER:
            return CommandReply(f"/support {name} is for managers.", ok=False)
        if name == "mode" and args and actor.role is not Role.MANAGER:
            return CommandReply("/support mode is for managers.", ok=False)
        writes = (name in ("threshold", "mode") and len(args) >= 2) or (name == "model" and bool(args))
        try:
            if writes:
                return await self.db.transaction(lambda uow: handler(uow, actor, args))
            return await self.db.read(lambda uow: handler(uow, actor, args))
        except (ValueError, NotFound, Conflict, PromotionRefused) as exc:
            return CommandReply(str(exc), ok=False)

    def help(self, uow: UnitOfWork, actor: Actor, args: list[str]) -> CommandReply:
        return CommandReply(f"{HELP}\n\n{self.crm_line()}" if self.crm_health else HELP)

    def crm_line(self) -> str:
        return self.crm_health().line(self.clock.now()) if self.crm_health else "CRM: unknown"

    def stats(self, uow: UnitOfWork, actor: Actor, args: list[str]) -> CommandReply:
        period = parse_period(args[0]) if args else timedelta(days=7)
        now = self.clock.now()
        s = compute_stats(uow, now - period, now)
        label = args[0] if args else "7d"
        fields: tuple[CardField, ...] = (
            CardField("Conversations", str(s.volume)),
            CardField("Automated resolution", f"{pct(s.automated_resolution_rate)} ({s.automated_resolutions})"),
            CardField("Answered by bot (raw deflection)", f"{pct(s.deflection_rate)} ({s.answered_by_bot})"),
            CardField(
                "First response p50 / p90", f"{duration(s.first_response_p50_s)} / {duration(s.first_response_p90_s)}"
            ),
            CardField("Hand-offs", f"{s.handoffs} ({pct(s.handoff_rate)})"),
            CardField(
                "SLA compliance",
                f"{pct(s.sla_compliance)} (first response {pct(s.frt_sla_compliance)}, "
                f"resolution {pct(s.resolution_sla_compliance)})",
            ),
            CardField("CSAT", f"{pct(s.csat)} of {s.csat_responses} ratings (bot answers {pct(s.csat_auto)})"),
            CardField(
                "Drafts approved / edited / rejected",
                f"{s.drafts_approved} / {s.drafts_edited} / {s.drafts_rejected} ({s.drafts_pending} pending)",
            ),
            CardField("Top intents", ", ".join(f"{i} ({n})" for i, n in s.top_intents[:5]) or "—", short=False),
        )
        if s.shadow_decisions:
            fields += (
                CardField(
                    "Shadow mode (not in the figures above)",
                    f"{s.shadow_decisions} decisions in {s.shadow_conversations} conversations: would have answered "
                    f"{s.shadow_answers}, drafted {s.shadow_drafts}, handed off {s.shadow_handoffs}; agents agreed "
                    f"{pct(s.shadow_agreement_rate)} ({s.shadow_agreed} of {s.shadow_compared} compared)",
                    short=False,
                ),
            )
        text = "\n".join(f"{f.label}: {f.value}" for f in fields)
        title = f"Support stats, last {label}"
        return CommandReply(f"{title}\n{text}", (Card(title, fields=fields),))

    def queue(self, uow: UnitOfWork, actor: Actor, args: list[str]) -> CommandReply:
        now = self.clock.now()
        items = work_queue(uow)
        if not items:
            return CommandReply("The queue is empty: no open hand-offs or drafts awaiting approval.")
        lines = []
        for item in items[:25]:
            age = duration((now - item.created_at).total_seconds())
            owner = f", claimed by {item.owner}" if item.owner else ""
            lines.append(f"• {item.kind} {item.id} ({age} old{owner}): {item.summary}")
        more = f"\n…and {len(items) - 25} more" if len(items) > 25 else ""
        return CommandReply(f"{len(items)} waiting, oldest first:\n" + "\n".join(lines) + more)

    def sla(self, uow: UnitOfWork, actor: Actor, args: list[str]) -> CommandReply:
        now = self.clock.now()
        open_convs = uow.conversations.list(statuses=[ConversationStatus.OPEN])
        at_risk = []
        for conv in open_convs:
            due = conv.first_response_due_at if conv.first_response_at is None else conv.resolution_due_at
            if due is None:
                continue
            left = (due - now).total_seconds()
            at_risk.append((left, conv))
        at_risk.sort(key=lambda pair: pair[0])
        risky = [(left, c) for left, c in at_risk if left < 3600]
        if not risky:
            return CommandReply(f"No conversation is within an hour of its SLA ({len(at_risk)} open with SLAs).")
        lines = [
            f"• {c.id} ({c.intent or '?'}, {c.urgency.value}): "
            + (f"breached {duration(-left)} ago" if left < 0 else f"due in {duration(left)}")
            for left, c in risky[:25]
        ]
        return CommandReply(f"{len(risky)} conversations at risk:\n" + "\n".join(lines))

    def failed(self, uow: UnitOfWork, actor: Actor, args: list[str]) -> CommandReply:
        items = uow.outbox.failed(26)
        if not items:
            return CommandReply("Nothing failed: every reply and card was delivered or is still being tried.")
        lines = [dead_letter_line(item, self.clock.now()) for item in items[:25]]
        more = "\n…and more (supportbot outbox failed lists them all)" if len(items) > 25 else ""
        return CommandReply(
            f"{len(items[:25])} failed deliveries, newest first:\n"
            + "\n".join(lines)
            + more
            + "\nSend them again with /support retry <id> (or all)."
        )

    async def retry(self, actor: Actor, args: list[str]) -> CommandReply:
        if not args:
            return CommandReply("Name the failed items to send again (/support retry out_… or all).", ok=False)
        count = await self.dispatcher.requeue(None if args == ["all"] else args)
        if not count:
            return CommandReply("No failed item with those ids (see /support failed).", ok=False)
        return CommandReply(f"Sending {count} failed item{'s' if count != 1 else ''} again.")

    def threshold(self, uow: UnitOfWork, actor: Actor, args: list[str]) -> CommandReply:
        labels = self.classifier.labels()
        model = self.classifier.thresholds()
        overrides = threshold_overrides(uow)
        if not args:
            lines = [f"global (model): {model.get('*', self.policy.settings.default_threshold):.2f}"]
            lines += [f"{intent}: {value:.2f} (manager override)" for intent, value in sorted(overrides.items())]
            return CommandReply("Automation thresholds\n" + "\n".join(lines))
        intent = args[0]
        if intent not in labels:
            raise ValueError(f"unknown intent {intent!r}")
        if len(args) == 1:
            value, source = self.policy.threshold_for(intent, None, model, overrides)
            return CommandReply(f"{intent}: {value:.2f} ({source})")
        try:
            value = float(args[1])
        except ValueError:
            raise ValueError(f"threshold must be a number between 0 and 1, got {args[1]!r}") from None
        if not 0 <= value <= 1:
            raise ValueError(f"threshold must be between 0 and 1, got {value}")
        uow.settings.set(THRESHOLD_PREFIX + intent, value)
        uow.actions.add(
            AgentActionRecord(
                new_id("act"),
                actor.user_id,
                actor.role,
                "threshold",
                self.clock.now(),
                detail={"intent": intent, "value": value, "previous": overrides.get(intent)},
            )
        )
        return CommandReply(f"Threshold for {intent} set to {value:.2f}.")

    def mode(self, uow: UnitOfWork, actor: Actor, args: list[str]) -> CommandReply:
        """``mode``: channels not in ``auto``; ``mode <channel> <mode>`` sets one (managers)."""
        if not args:
            modes = self.modes.all(uow)
            if not modes:
                return CommandReply("Every channel is in auto mode (modes: " + ", ".join(MODES) + ").")
            lines = [f"<#{channel}>: {mode.value}" for channel, mode in modes.items()]
            return CommandReply("Channel modes (the rest: auto)\n" + "\n".join(lines))
        if len(args) != 2:
            raise ValueError("usage: /support mode <channel> " + "|".join(MODES))
        channel, mode = parse_channel(args[0]), parse_mode(args[1])
        previous = self.modes.mode(uow, channel)
        self.modes.set(uow, channel, mode)
        uow.actions.add(
            AgentActionRecord(
                new_id("act"),
                actor.user_id,
                actor.role,
                "mode",
                self.clock.now(),
                detail={"channel": channel, "mode": mode.value, "previous": previous.value},
            )
        )
        return CommandReply(f"<#{channel}> is now in {mode.value} mode (was {previous.value}).")

    def model(self, uow: UnitOfWork, actor: Actor, args: list[str]) -> CommandReply:
        """``model``: the versions; ``model promote V [force]``; ``model rollback``."""
        if not args:
            versions = uow.model_versions.list(self.models.kind)
            if not versions:
                return CommandReply("No model version is registered yet (`supportbot train` registers them).")
            current = next((v for v in versions if v.status is ModelStatus.CURRENT), None)
            lines = []
            for v in reversed(versions[-10:]):
                m = v.metrics
                figures = ", ".join(
                    f"{label} {m[key]:.3f}" if isinstance(m.get(key), float) else f"{label} {m.get(key, '—')}"
                    for key, label in (("precision_at_target", "precision"), ("coverage_at_target", "coverage"))
                )
                lines.append(f"• {v.id} [{v.status.value}] {figures}")
            head = f"Current model: {current.id}" if current else "No model promoted yet"
            return CommandReply(f"{head}\n" + "\n".join(lines) + "\n/support model promote VERSION to switch.")
        verb, rest = args[0].lower(), args[1:]
        if verb == "promote" and rest:
            force = len(rest) > 1 and rest[1].lower() in ("force", "--force")
            done = self.models.promote_in(uow, rest[0], actor=actor.user_id, role=actor.role, force=force)
            return CommandReply(done.message())
        if verb == "rollback":
            done = self.models.rollback_in(uow, actor=actor.user_id, role=actor.role)
            return CommandReply(f"Rolled back: {done.message()}")
        raise ValueError("usage: /support model [promote VERSION [force] | rollback]")

    async def home(self, actor: Actor) -> CommandReply:
        """The staff dashboard (Slack's App Home): last 7 days and the work queue; a refusal for customers."""
        if not actor.role.is_staff:
            return CommandReply(
                "This app is for the support team. Ask your question in your shared support channel.", ok=False
            )
        return await self.db.read(lambda uow: self._home(uow, actor))

    def _home(self, uow: UnitOfWork, actor: Actor) -> CommandReply:
        now = self.clock.now()
        stats = compute_stats(uow, now - timedelta(days=7), now)
        items = work_queue(uow)
        figures = (
            CardField("Conversations", str(stats.volume)),
            CardField(
                "Automated resolution", f"{pct(stats.automated_resolution_rate)} ({stats.automated_resolutions})"
            ),
            CardField(
                "First response p50 / p90",
                f"{duration(stats.first_response_p50_s)} / {duration(stats.first_response_p90_s)}",
            ),
            CardField("Hand-offs", f"{stats.handoffs} ({pct(stats.handoff_rate)})"),
            CardField(
                "Drafts approved / edited / rejected / pending",
                f"{stats.drafts_approved} / {stats.drafts_edited} / {stats.drafts_rejected} / {stats.drafts_pending}",
            ),
        )
        lines = [
            f"• {i.kind} {i.id}: {i.summary}" + (f" (claimed by {i.owner})" if i.owner else "") for i in items[:15]
        ]
        cards = [
            Card("Last 7 days", body="\n".join(f"{f.label}: {f.value}" for f in figures)),
            Card(f"Work queue ({len(items)} waiting)", body="\n".join(lines) if lines else "Nothing waiting."),
            Card("Integrations", body=self.crm_line()),
        ]
        if actor.role is Role.MANAGER:
            cards.append(
                Card(
                    "Manager commands",
                    body="/support stats [7d|24h|30d] · /support threshold [intent] [value] · "
                    "/support model [promote VERSION]",
                )
            )
        return CommandReply("Support dashboard", tuple(cards))


def dead_letter_line(item: Outbound, now: datetime) -> str:
    """One failed delivery for people: what, where, since when, and the platform's last word."""
    age = duration((now - item.created_at).total_seconds())
    where = f"{item.platform} {item.audience.value}" + (f", {item.conversation_id}" if item.conversation_id else "")
    error = (item.last_error or "unknown error").splitlines()[0][:160]
    return f"• {item.id} {item.kind.value} ({where}), queued {age} ago, {item.attempts} attempts: {error}"
