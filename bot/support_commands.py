"""``/support`` commands, the same on every platform.

``help`` for everyone on the staff side; ``queue`` and ``sla`` for agents;
``stats`` and ``threshold`` for managers. Customers get a refusal.
"""

from __future__ import annotations

import re
from datetime import timedelta

from supportbot.bot.cards import Card, CardField, CommandReply
from supportbot.bot.commands import Actor
from supportbot.bot.domain import AgentActionRecord, ConversationStatus, Role, new_id
from supportbot.bot.metrics import compute_stats, work_queue
from supportbot.bot.report import duration, pct
from supportbot.bot.service import THRESHOLD_PREFIX, SupportCore

HELP = """\
/support help — this help
/support queue — open hand-offs and drafts awaiting approval, oldest first (agents)
/support sla — conversations at risk of missing their SLA (agents)
/support stats [7d|24h|30d] — volume, automated resolution, first response, drafts (managers)
/support threshold [intent] [value] — show or set automation thresholds (managers)"""

_PERIOD = re.compile(r"^(\d{1,3})([hdw])$")


def parse_period(text: str) -> timedelta:
    match = _PERIOD.match(text.strip().lower())
    if not match:
        raise ValueError(f"cannot read period {text!r}: use e.g. 24h, 7d or 4w")
    amount, unit = int(match.group(1)), match.group(2)
    return {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]


class SupportCommands:
    def __init__(self, core: SupportCore) -> None:
        self.core = core

    def run(self, actor: Actor, text: str) -> CommandReply:
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
        }
        handler = handlers.get(name)
        if handler is None:
            return CommandReply(f"Unknown command {name!r}.\n{HELP}", ok=False)
        if name in ("stats", "threshold") and actor.role is not Role.MANAGER:
            return CommandReply(f"/support {name} is for managers.", ok=False)
        try:
            return handler(actor, args)
        except ValueError as exc:
            return CommandReply(str(exc), ok=False)

    def help(self, actor: Actor, args: list[str]) -> CommandReply:
        return CommandReply(HELP)

    def stats(self, actor: Actor, args: list[str]) -> CommandReply:
        period = parse_period(args[0]) if args else timedelta(days=7)
        now = self.core.clock.now()
        with self.core.uow() as uow:
            s = compute_stats(uow, now - period, now)
        label = args[0] if args else "7d"
        fields = (
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
        text = "\n".join(f"{f.label}: {f.value}" for f in fields)
        title = f"Support stats, last {label}"
        return CommandReply(f"{title}\n{text}", (Card(title, fields=fields),))

    def queue(self, actor: Actor, args: list[str]) -> CommandReply:
        now = self.core.clock.now()
        with self.core.uow() as uow:
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

    def sla(self, actor: Actor, args: list[str]) -> CommandReply:
        now = self.core.clock.now()
        with self.core.uow() as uow:
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

    def threshold(self, actor: Actor, args: list[str]) -> CommandReply:
        labels = self.core.classifier.labels()
        model = self.core.classifier.thresholds()
        with self.core.uow() as uow:
            overrides = self.core.threshold_overrides(uow)
            if not args:
                lines = [f"global (model): {model.get('*', self.core.policy.settings.default_threshold):.2f}"]
                lines += [f"{intent}: {value:.2f} (manager override)" for intent, value in sorted(overrides.items())]
                return CommandReply("Automation thresholds\n" + "\n".join(lines))
            intent = args[0]
            if intent not in labels:
                raise ValueError(f"unknown intent {intent!r}")
            if len(args) == 1:
                value, source = self.core.policy.threshold_for(intent, None, model, overrides)
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
                    self.core.clock.now(),
                    detail={"intent": intent, "value": value, "previous": overrides.get(intent)},
                )
            )
            uow.commit()
        return CommandReply(f"Threshold for {intent} set to {value:.2f}.")
