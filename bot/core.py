"""The core, assembled: every part with its typed dependencies.

``SupportCore.assemble`` is called by the composition root
(``supportbot.adapters.bootstrap``) with the adapters it chose (storage,
classifier, knowledge base, CRM, clock, channels). Each part has one job:

==============  ===========================================================
``intake``      store inbound messages, group them, recover after a crash
``triage``      every gate plus the policy: one verdict with its reason
``accounts``    CRM context and its cache
``dispatcher``  the outbox: posting, ordering, retries, claims
``commands``    agent actions (approve, edit, reject, claim, resolve, ...)
``actions``     card buttons and CSAT buttons, the same on every platform
``reactions``   agents' emoji workflows (🎫 open, 👀 claim, ✅ resolve)
``feedback``    CSAT and 👍/👎
``support``     ``/support`` commands and the staff dashboard
``models``      model versions: register, promote, roll back
``sla`` ...     scheduled jobs: SLA sweep, lifecycle, alerts, weekly report
==============  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from supportbot.bot.accounts import Accounts
from supportbot.bot.acknowledge import Acknowledgements
from supportbot.bot.alerts import AlertMonitor
from supportbot.bot.answers import ReplyComposer
from supportbot.bot.card_actions import CardActions
from supportbot.bot.commands import AgentCommands, CommandsConfig
from supportbot.bot.dispatch import ChannelRegistry, Dispatcher, DispatchStats
from supportbot.bot.domain import InboundMessage
from supportbot.bot.effects import EventBus, subscribe_standard_handlers
from supportbot.bot.feedback import Feedback, Rated
from supportbot.bot.intake import InboundResult, Intake, IntakeConfig
from supportbot.bot.lifecycle import LifecycleSweeper
from supportbot.bot.models import ModelRegistry
from supportbot.bot.modes import ChannelModes
from supportbot.bot.operations import WeeklyReport
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.policy import Policy
from supportbot.bot.ports import (
    CRM,
    Classifier,
    Clock,
    Database,
    KnowledgeBase,
    Telemetry,
    UnitOfWorkFactory,
)
from supportbot.bot.reactions import EmojiWorkflows
from supportbot.bot.review import corrections
from supportbot.bot.settings import CoreSettings
from supportbot.bot.sla import SlaClocks, SlaPolicy, SlaSweeper
from supportbot.bot.support_commands import SupportCommands
from supportbot.bot.triage import Triage


@dataclass
class SupportCore:
    settings: CoreSettings
    db: Database
    clock: Clock
    classifier: Classifier
    kb: KnowledgeBase
    crm: CRM
    policy: Policy
    channels: ChannelRegistry
    outbox: OutboxWriter
    bus: EventBus
    accounts: Accounts
    triage: Triage
    dispatcher: Dispatcher
    feedback: Feedback
    intake: Intake
    commands: AgentCommands
    actions: CardActions
    support: SupportCommands
    sla_policy: SlaPolicy
    sla: SlaSweeper
    lifecycle: LifecycleSweeper
    alerts: AlertMonitor
    telemetry: Telemetry
    weekly_report: WeeklyReport
    models: ModelRegistry
    reactions: EmojiWorkflows

    @classmethod
    def assemble(
        cls,
        settings: CoreSettings,
        *,
        db: Database,
        classifier: Classifier,
        kb: KnowledgeBase,
        crm: CRM,
        clock: Clock,
        channels: ChannelRegistry,
        telemetry: Telemetry | None = None,
        composer: ReplyComposer | None = None,
    ) -> SupportCore:
        telemetry = telemetry or Telemetry()
        modes = ChannelModes(settings.channel_modes)
        outbox = OutboxWriter(clock, modes)
        bus = EventBus(outbox)
        subscribe_standard_handlers(bus)
        sla_policy = SlaPolicy(settings.sla)
        SlaClocks(sla_policy).subscribe(bus)
        Acknowledgements(settings.acknowledgement, sla_policy).subscribe(bus)
        policy = Policy(settings.policy)
        dispatcher = Dispatcher(
            db,
            channels,
            clock,
            lease=timedelta(seconds=settings.delivery_claim_seconds),
            give_up_after=timedelta(hours=settings.delivery_give_up_hours),
            telemetry=telemetry,
        )
        feedback = Feedback(db, bus, clock, csat_platforms=settings.operations.csat_platforms)
        triage = Triage(classifier, kb, policy)
        accounts = Accounts(
            crm,
            clock,
            cache_ttl=timedelta(seconds=settings.crm_cache_seconds),
            deadline=settings.crm_deadline_seconds,
            telemetry=telemetry,
            db=db,
        )
        intake = Intake(
            db=db,
            triage=triage,
            accounts=accounts,
            bus=bus,
            outbox=outbox,
            feedback=feedback,
            dispatcher=dispatcher,
            clock=clock,
            modes=modes,
            config=IntakeConfig(
                grouping_window=timedelta(seconds=settings.grouping_window_seconds),
                max_message_chars=settings.max_message_chars,
                greeting_prompt=settings.acknowledgement.greeting_prompt,
            ),
            telemetry=telemetry,
            composer=composer,
        )
        commands = AgentCommands(
            db=db,
            bus=bus,
            outbox=outbox,
            dispatcher=dispatcher,
            clock=clock,
            labels=classifier.labels,
            config=CommandsConfig(note_marker=settings.note_marker, max_message_chars=settings.max_message_chars),
        )
        ops = settings.operations
        models = ModelRegistry(db, clock)

        def report_platforms() -> list[str]:
            """Where manager reports and alerts go: the setting, else every channel the bot runs."""
            return list(ops.report_platforms) if ops.report_platforms else sorted(channels)

        return cls(
            settings=settings,
            db=db,
            clock=clock,
            classifier=classifier,
            kb=kb,
            crm=crm,
            policy=policy,
            channels=channels,
            outbox=outbox,
            bus=bus,
            accounts=accounts,
            triage=triage,
            dispatcher=dispatcher,
            feedback=feedback,
            intake=intake,
            commands=commands,
            actions=CardActions(commands=commands, feedback=feedback, db=db, labels=classifier.labels),
            support=SupportCommands(
                db=db,
                clock=clock,
                classifier=classifier,
                policy=policy,
                dispatcher=dispatcher,
                models=models,
                crm_health=accounts.health,
                modes=modes,
            ),
            sla_policy=sla_policy,
            sla=SlaSweeper(db=db, outbox=outbox, clock=clock, dispatcher=dispatcher, policy=sla_policy),
            lifecycle=LifecycleSweeper(
                db=db,
                bus=bus,
                outbox=outbox,
                clock=clock,
                dispatcher=dispatcher,
                auto_resolve_after=timedelta(hours=ops.auto_resolve_hours),
            ),
            alerts=AlertMonitor(
                db=db, outbox=outbox, clock=clock, dispatcher=dispatcher, settings=ops, platforms=report_platforms
            ),
            telemetry=telemetry,
            weekly_report=WeeklyReport(
                db=db,
                outbox=outbox,
                clock=clock,
                dispatcher=dispatcher,
                settings=ops,
                calendar=sla_policy.calendar,
                platforms=report_platforms,
            ),
            models=models,
            reactions=EmojiWorkflows(
                db=db, intake=intake, commands=commands, settings=settings.emoji, feedback=feedback
            ),
        )

    # ---------------------------------------------------------------- shortcuts for entry points and tests
    @property
    def uow(self) -> UnitOfWorkFactory:
        return self.db.uow

    async def handle_inbound(self, msg: InboundMessage, *, dispatch: bool = True) -> InboundResult:
        return await self.intake.handle(msg, dispatch=dispatch)

    async def dispatch_outbox(self, limit: int = 100) -> DispatchStats:
        return await self.dispatcher.dispatch(limit)

    async def recover(self) -> int:
        recovered = await self.intake.recover()
        await self.dispatcher.dispatch()
        return recovered

    async def record_feedback(
        self,
        conversation_id: str,
        *,
        positive: bool,
        user_id: str,
        score: int | None = None,
        comment: str = "",
        dispatch: bool = True,
    ) -> Rated:
        rated = await self.feedback.record(conversation_id, user_id, positive=positive, score=score, comment=comment)
        if dispatch:
            await self.dispatcher.dispatch()
        return rated

    async def register_model_version(
        self, path: str = "", data_hash: str = "", metrics: dict[str, object] | None = None
    ) -> None:
        """Record the classifier version in use, so every decision can be traced to a model; the
        first model a bot runs becomes the current one (something to roll back to)."""
        await self.models.register(
            self.classifier.version, path, data_hash=data_hash, metrics=metrics, current_if_none=True
        )

    async def corrections(self, since: datetime | None = None) -> list[tuple[str, str, str]]:
        """Agents' intent corrections as (text, corrected intent, predicted intent), for retraining:
        the latest label per message, with what the model actually predicted for it."""
        return [(c.text, c.intent, c.predicted) for c in await self.db.read(lambda uow: corrections(uow, since))]
