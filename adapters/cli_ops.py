"""`supportbot report` and `supportbot demo-data`.

``demo-data`` replays example conversations through the REAL core (the
configured database, the bundled knowledge base, CRM and intent model, the
real policy, SLA, lifecycle and CSAT hooks) with a simulated clock spread
over the last N days: customers ask the labelled example questions, agents
approve, edit and reject drafts, claim and resolve hand-offs (sometimes too
late: SLA breaches), customers say "that didn't help" when the answer was
for the wrong intent and answer CSAT prompts. The scheduler's sweeps run on
the simulated clock. Nothing is invented after the fact: every number in the
report is what the pipeline stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import heapq
import itertools
import random
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from supportbot.adapters.settings import Settings
from supportbot.bot.domain import Author, Delivery, InboundMessage, Outbound, Role
from supportbot.bot.errors import SupportbotError
from supportbot.bot.ports import Channel, Clock
from supportbot.bot.settings import EXAMPLE_DIR

# ============================================================================ report


@click.command("report")
@click.option("--since", "period", default="7d", show_default=True, help="Period to cover: 24h, 7d, 4w, ...")
@click.option(
    "--out",
    "out_path",
    default="report.html",
    show_default=True,
    type=click.Path(path_type=Path),
    help="HTML file to write.",
)
@click.option(
    "--png",
    "png_path",
    default=None,
    type=click.Path(path_type=Path),
    help="Also render a PNG screenshot with headless Chromium.",
)
@click.option("--until", "until", default=None, help="End of the period (ISO date or time, UTC); default now.")
@click.option("--demo", is_flag=True, help="Report on freshly simulated demo data in a temporary database.")
def report_cmd(period: str, out_path: Path, png_path: Path | None, until: str | None, demo: bool) -> None:
    """Write a self-contained HTML report (inline SVG charts, no network)."""
    from supportbot.adapters.cli_core import _settings
    from supportbot.bot.gaps import find_gaps, shared_encoder, unanswered
    from supportbot.bot.metrics import compute_metrics
    from supportbot.bot.report import render_html
    from supportbot.bot.sla import BusinessCalendar
    from supportbot.bot.support_commands import parse_period

    try:
        span = parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    try:
        now = datetime.fromisoformat(until) if until else datetime.now(UTC)
    except ValueError:
        raise click.BadParameter(
            f"cannot read {until!r}: use e.g. 2026-11-30 or 2026-11-30T09:00", param_hint="--until"
        ) from None
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(database_url=f"sqlite:///{Path(tmp) / 'demo.db'}") if demo else _settings()
        if demo:
            summary = asyncio.run(simulate(settings, days=max(1, span.days or 1), seed=7, end=now))
            click.echo(summary.describe(), err=True)
        from supportbot.adapters.bootstrap import build_database

        uow = build_database(settings).uow
        zone = BusinessCalendar.from_settings(settings.sla).zone
        with uow() as session:
            metrics = compute_metrics(session, now - span, now, zone=zone)
            questions = unanswered(session, now - span)
        uow.dispose()  # type: ignore[attr-defined]
    topics = find_gaps(questions, encoder=shared_encoder()) if questions else []
    page = render_html(metrics, title="Support report", generated_at=now, zone_name=settings.sla.timezone, gaps=topics)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    click.echo(f"wrote {out_path} ({metrics.overall.volume} conversations, since {period})")
    if png_path is not None:
        screenshot(out_path, png_path)
        click.echo(f"wrote {png_path}")


def screenshot(html_path: Path, png_path: Path, *, width: int = 1200, height: int = 1900) -> None:
    """Render ``html_path`` to a PNG with headless Chromium (local file, no network)."""
    browser = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    if browser is None:
        raise click.ClickException("no chromium found for --png (apt-get install chromium)")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={png_path.resolve()}",
                f"--window-size={width},{height}",
                html_path.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


# ============================================================================ demo data


class SimClock(Clock):
    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current


class DemoChannel(Channel):
    """Accepts every post (nothing leaves the machine) and remembers what was sent."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.sent: list[Outbound] = []
        self._ids = itertools.count(1)

    async def send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        self.sent.append(outbound)
        return f"{self.platform}-{next(self._ids)}"


AGENTS = [("U_AGENT_ANA", "Ana"), ("U_AGENT_BEN", "Ben"), ("U_AGENT_CHO", "Cho"), ("U_AGENT_DEV", "Dev")]
NOT_HELPED = [
    "that didn't help",
    "still not working, same error",
    "this doesn't answer my question",
    "I tried that but still getting the error",
    "not what I asked, sorry",
]
EDIT_SUFFIX = "\n\nIf that does not solve it, reply here and I'll dig into your workspace directly."


@dataclass
class DemoSummary:
    conversations: int = 0
    answered: int = 0
    drafts: int = 0
    handoffs: int = 0
    ratings: int = 0
    not_helped: int = 0
    sent: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        return (
            f"simulated {self.conversations} conversations: {self.answered} answered automatically, "
            f"{self.drafts} drafts, {self.handoffs} hand-offs, {self.not_helped} 'did not help' follow-ups, "
            f"{self.ratings} CSAT ratings; {self.sent} messages posted to the demo channels"
        )


def _examples() -> list[tuple[str, str]]:
    rows = []
    for name in ("intents_heldout.csv",):  # not the training data: honest confidence
        with open(EXAMPLE_DIR / name, newline="", encoding="utf-8") as fh:
            rows += [(r["text"], r["intent"]) for r in csv.DictReader(fh)]
    return rows


def _classifier(settings: Settings):
    """The configured model; without one, a model trained now on the bundled examples."""
    from supportbot.adapters.bootstrap import build_classifier
    from supportbot.bot.errors import ConfigurationError

    try:
        return build_classifier(settings)
    except ConfigurationError:
        from supportbot.bot.classifier import TextClassifier, train_intent_model

        with open(EXAMPLE_DIR / "intents.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        click.echo("no trained model found: training one on bot/example/intents.csv for the demo…", err=True)
        result = train_intent_model(
            [r["text"] for r in rows], [r["intent"] for r in rows], oos_label="out_of_scope", n_jobs=1
        )
        return TextClassifier(result.model)


class Simulation:
    def __init__(self, app, clock: SimClock, rng: random.Random, end: datetime) -> None:
        self.app, self.clock, self.rng, self.end = app, clock, rng, end
        self.queue: list[tuple[datetime, int, Callable[[], Awaitable[None]]]] = []
        self.seq = itertools.count()
        self.summary = DemoSummary()
        self.ops = app.core

    def at(self, when: datetime, action: Callable[[], Awaitable[None]]) -> None:
        if when <= self.end:
            heapq.heappush(self.queue, (when, next(self.seq), action))

    async def run(self) -> None:
        while self.queue:
            when, _, action = heapq.heappop(self.queue)
            self.clock.current = max(self.clock.current, when)
            with contextlib.suppress(SupportbotError):  # e.g. a conversation an agent already resolved
                await action()
        self.clock.current = self.end
        await self.app.core.dispatch_outbox()

    # ------------------------------------------------------------ actors
    def agent(self):
        from supportbot.bot.commands import Actor

        user, name = self.rng.choice(AGENTS)
        return Actor(user, Role.AGENT, name)

    def customer_message(self, customer: dict, text: str, thread: str | None = None) -> InboundMessage:
        n = next(self.seq)
        return InboundMessage(
            platform=customer["platform"],
            workspace_id=customer["workspace"],
            channel_id=customer["channel"],
            message_id=f"demo-{n}",
            author=Author(customer["user"], customer["name"], Role.CUSTOMER),
            text=text,
            sent_at=self.clock.now(),
            thread_id=thread,
            account_id=customer["account"],
        )

    async def conversation(self, customer: dict, text: str, true_intent: str) -> None:
        from supportbot.bot.commands import (
            ApproveDraft,
            EditDraft,
            RejectDraft,
            RelabelIntent,
            ResolveConversation,
            StaffMessage,
        )

        core, rng, now = self.app.core, self.rng, self.clock.now()
        first = self.customer_message(customer, text)
        result = await core.handle_inbound(first)
        if result.status != "processed" or result.decision is None:
            return
        self.summary.conversations += 1
        conv_id = result.conversation_id
        predicted = result.classification.intent if result.classification else None
        wrong = predicted != true_intent
        action = result.decision.action.value
        labels = set(core.classifier.labels())

        async def rate(score: int) -> None:
            # customers answer the CSAT prompt about half the time, by button or by typing the number
            conv = await core.db.read(lambda uow: uow.conversations.get(conv_id))
            if conv is None or conv.status.value != "resolved":
                return
            self.summary.ratings += 1
            if rng.random() < 0.3:
                await core.handle_inbound(self.customer_message(customer, str(score), thread=first.message_id))
            else:
                await core.record_feedback(conv_id, positive=score >= 4, user_id=customer["user"], score=score)

        def later_rating(after: timedelta, good: bool) -> None:
            if rng.random() < 0.55:
                score = rng.choice([4, 5, 5, 5]) if good else rng.choice([1, 2, 2, 3])
                self.at(self.clock.now() + after, lambda: rate(score))

        if action == "answer":
            self.summary.answered += 1
            if wrong and rng.random() < 0.75 or not wrong and rng.random() < 0.04:
                self.summary.not_helped += 1
                complaint = rng.choice(NOT_HELPED)

                async def complain() -> None:
                    res = await core.handle_inbound(self.customer_message(customer, complaint, thread=first.message_id))
                    if res.handoff_id:
                        self.at(
                            self.clock.now() + timedelta(minutes=rng.randint(5, 90)),
                            lambda: self.work_handoff(conv_id, res.handoff_id, customer, first, wrong=True),
                        )

                self.at(now + timedelta(minutes=rng.randint(3, 120)), complain)
            else:
                if rng.random() < 0.3:
                    self.at(
                        now + timedelta(minutes=rng.randint(1, 30)),
                        lambda: core.handle_inbound(
                            self.customer_message(
                                customer,
                                rng.choice(["thanks!", "thank you 🙏", "perfect, thanks"]),
                                thread=first.message_id,
                            )
                        ),
                    )
                # silence: the lifecycle sweep nudges, resolves and asks CSAT; rate after that
                hours = self.ops.lifecycle.after.total_seconds() / 3600
                later_rating(timedelta(hours=hours + rng.randint(1, 6)), good=not wrong)
        elif action == "draft":
            self.summary.drafts += 1
            delay = timedelta(minutes=rng.choice([4, 8, 15, 25, 40, 70, 150, 300]))

            async def review() -> None:
                agent = self.agent()
                if wrong and true_intent in labels and rng.random() < 0.8:
                    await self.app.commands.execute(
                        RejectDraft(result.draft_id, agent, "wrong topic", corrected_intent=true_intent)
                    )
                    await self.app.commands.execute(
                        StaffMessage(
                            customer["platform"],
                            await self.staff_thread(conv_id),
                            agent,
                            "Thanks for the details! I've looked into this and here is what to do next…",
                            f"staff-{next(self.seq)}",
                        )
                    )
                elif rng.random() < 0.3:
                    await self.app.commands.execute(EditDraft(result.draft_id, agent, result.reply + EDIT_SUFFIX))
                else:
                    await self.app.commands.execute(ApproveDraft(result.draft_id, agent))
                self.at(
                    self.clock.now() + timedelta(hours=rng.randint(1, 30)),
                    lambda: self.app.commands.execute(ResolveConversation(conv_id, agent)),
                )
                later_rating(timedelta(hours=31), good=not wrong or rng.random() < 0.6)

            self.at(now + delay, review)
        else:
            self.summary.handoffs += 1
            urgent = result.classification and result.classification.urgency.value in ("critical", "high")
            minutes = rng.choice([3, 6, 9, 12, 20] if urgent else [10, 30, 60, 120, 240, 600])
            self.at(
                now + timedelta(minutes=minutes),
                lambda: self.work_handoff(conv_id, result.handoff_id, customer, first, wrong=wrong),
            )
            if wrong and predicted not in (None, "out_of_scope") and true_intent in labels:
                self.at(
                    now + timedelta(minutes=minutes + 1),
                    lambda: self.app.commands.execute(RelabelIntent(conv_id, self.agent(), true_intent)),
                )

    async def staff_thread(self, conv_id: str) -> str:
        await self.app.core.dispatch_outbox()
        conv = await self.app.core.db.read(lambda uow: uow.conversations.get(conv_id))
        return conv.staff_thread_id if conv and conv.staff_thread_id else ""

    async def work_handoff(
        self, conv_id: str, handoff_id: str, customer: dict, first: InboundMessage, *, wrong: bool
    ) -> None:
        from supportbot.bot.commands import ClaimHandoff, ResolveConversation, StaffMessage

        agent = self.agent()
        await self.app.commands.execute(ClaimHandoff(handoff_id, agent))
        thread = await self.staff_thread(conv_id)
        if thread:
            await self.app.commands.execute(
                StaffMessage(
                    customer["platform"],
                    thread,
                    agent,
                    "Hi! I'm on it — I've checked your workspace and applied a fix on our side. Can you try again?",
                    f"staff-{next(self.seq)}",
                )
            )
        rng = self.rng
        if rng.random() < 0.8:
            resolve_after = timedelta(hours=rng.choice([1, 2, 4, 8, 20, 40]))
            self.at(
                self.clock.now() + resolve_after, lambda: self.app.commands.execute(ResolveConversation(conv_id, agent))
            )
            if rng.random() < 0.55:
                score = rng.choice([3, 4, 5, 5, 5]) if not wrong else rng.choice([3, 4, 4, 5])
                self.at(
                    self.clock.now() + resolve_after + timedelta(minutes=rng.randint(5, 300)),
                    lambda: self._rate_resolved(conv_id, customer, score),
                )

    async def _rate_resolved(self, conv_id: str, customer: dict, score: int) -> None:
        conv = await self.app.core.db.read(lambda uow: uow.conversations.get(conv_id))
        if conv is not None and conv.status.value == "resolved":
            self.summary.ratings += 1
            await self.app.core.record_feedback(conv_id, positive=score >= 4, user_id=customer["user"], score=score)

    async def sla_sweep(self) -> None:
        await self.ops.sla.sweep()

    async def lifecycle_sweep(self) -> None:
        await self.ops.lifecycle.sweep()

    async def daily(self) -> None:
        await self.ops.alerts.check()
        await self.ops.weekly_report.post()


def _customers(accounts, rng: random.Random) -> list[dict]:
    customers = []
    names = ["Alex", "Blair", "Casey", "Drew", "Emery", "Finley", "Gray", "Harper", "Indy", "Jules", "Kai", "Lane"]
    for account in accounts:
        platform = "slack" if account.tier in ("enterprise", "pro") or rng.random() < 0.4 else "discord"
        for n in range(3):
            name = rng.choice(names)
            customers.append(
                {
                    "account": account.id,
                    "tier": account.tier,
                    "platform": platform,
                    "workspace": (account.slack_team_ids or ("T_DEMO",))[0]
                    if platform == "slack"
                    else (account.discord_guild_ids or ("G_DEMO",))[0],
                    "channel": f"C_{account.id}",
                    "user": f"U_{account.id}_{n}",
                    "name": name,
                }
            )
    for n in range(6):  # people the CRM does not know
        customers.append(
            {
                "account": None,
                "tier": None,
                "platform": "discord",
                "workspace": "G_COMMUNITY",
                "channel": "C_community",
                "user": f"U_anon_{n}",
                "name": rng.choice(names),
            }
        )
    return customers


async def simulate(
    settings: Settings,
    *,
    days: int = 14,
    seed: int = 7,
    end: datetime | None = None,
    per_weekday: tuple[int, int] = (18, 32),
    classifier=None,
) -> DemoSummary:
    """Replay example conversations over ``days`` days ending ``end`` (default now) into the database."""
    from supportbot.adapters.bootstrap import bootstrap, build_crm, build_kb

    settings = settings.model_copy(
        update={
            "operations": settings.operations.model_copy(
                update={"csat_platforms": sorted({*settings.operations.csat_platforms, "slack", "discord"})}
            ),
        }
    )
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    clock = SimClock(start)
    channels = (DemoChannel("slack"), DemoChannel("discord"))
    app = bootstrap(
        settings,
        classifier=classifier or _classifier(settings),
        kb=build_kb(settings),
        crm=build_crm(settings),
        clock=clock,
        channels=channels,
    )
    rng = random.Random(seed)
    sim = Simulation(app, clock, rng, end)
    accounts = await app.core.crm.list_accounts()
    customers = _customers(accounts, rng)
    weights = [{"enterprise": 3, "pro": 3, "starter": 2, "free": 1.5}.get(c["tier"], 1) for c in customers]
    examples = _examples()
    day = start
    while day < end:
        weekend = day.weekday() >= 5
        volume = rng.randint(4, 9) if weekend else rng.randint(*per_weekday)
        for _ in range(volume):
            hour = rng.choice([7, 8, 9, 9, 10, 10, 11, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 18, 20, 22, 2])
            when = day + timedelta(hours=hour, minutes=rng.randint(0, 59))
            customer = rng.choices(customers, weights)[0]
            text, intent = rng.choice(examples)
            sim.at(when, functools.partial(sim.conversation, customer, text, intent))
        for half_hour in range(48):  # the scheduler: SLA sweep every 30 simulated minutes, lifecycle every 2 h
            sim.at(day + timedelta(minutes=30 * half_hour + 1), sim.sla_sweep)
            if half_hour % 4 == 0:
                sim.at(day + timedelta(minutes=30 * half_hour + 2), sim.lifecycle_sweep)
        sim.at(day + timedelta(hours=9, minutes=5), sim.daily)
        day += timedelta(days=1)
    await sim.run()
    sim.summary.sent = sum(len(c.sent) for c in channels)
    app.core.db.close()
    app.core.uow.dispose()  # type: ignore[attr-defined]
    return sim.summary


@click.command("demo-data")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 90), help="Days to simulate.")
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same story).")
def demo_data_cmd(days: int, seed: int) -> None:
    """Replay example conversations through the real core into the configured database."""
    from supportbot.adapters.cli_core import _safe_url, _settings

    settings = _settings()
    summary = asyncio.run(simulate(settings, days=days, seed=seed))
    click.echo(summary.describe())
    click.echo(f"database: {_safe_url(settings.database_url)} — now run `supportbot report --since {days}d`")


def register(group: click.Group) -> None:
    group.add_command(report_cmd)
    group.add_command(demo_data_cmd)
