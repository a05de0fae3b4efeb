"""Delivering the outbox: everything the core queued, posted by the channels.

An item is claimed (a lease other replicas respect) in one transaction, sent,
then marked sent, retried later or failed. Items of one conversation go out in
order per audience (the customer's thread, the staff mirror), never overtaking
one that waits for a retry; different conversations are sent concurrently.
Staff items wait for their conversation's mirror thread and card updates for
the card they update.

``dispatch()`` runs one pass and returns what happened; ``kick()`` asks the
background pump for passes until nothing more is due (adapters call it after
queueing, so one pass serves the replies of many messages under load).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from supportbot.bot.domain import (
    Audience,
    Conversation,
    Delivery,
    MessageKind,
    Outbound,
    OutboundKind,
    OutboxStatus,
    Role,
    StoredMessage,
    new_id,
)
from supportbot.bot.errors import DeliveryError, DuplicateDelivery, RateLimited
from supportbot.bot.ports import Channel, Clock, Database, Pace, Telemetry, UnitOfWork

log = logging.getLogger(__name__)

# An item that could not be delivered for this long is failed (a dead letter, retried by hand);
# 429s and outages only delay it: nothing gives up by counting attempts.
GIVE_UP_AFTER = timedelta(hours=24)
# How long a claim keeps other replicas off an item. It must outlast one channel.send
# (platform calls time out well within it); a crashed sender's items wait this long.
CLAIM_LEASE = timedelta(seconds=60)
CONCURRENT_CONVERSATIONS = 16


def _lane(audience: Audience) -> str:
    """Customer and staff messages of a conversation keep their own order: a triage card held up by a
    rate limit on the triage channel never delays the customer's answer."""
    return "customer" if audience is Audience.CUSTOMER else "staff"


class ChannelRegistry(Mapping[str, Channel]):
    """The channels the running bot posts through, by platform. Built by the composition root."""

    def __init__(self, channels: tuple[Channel, ...] = ()) -> None:
        self._channels: dict[str, Channel] = {}
        for channel in channels:
            self.add(channel)

    def add(self, channel: Channel) -> None:
        self._channels[channel.platform] = channel

    def __getitem__(self, platform: str) -> Channel:
        return self._channels[platform]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0

    def add(self, other: DispatchStats) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.deferred += other.deferred


@dataclass
class _Plan:
    """One pass: what may be sent now, grouped by conversation, and where each item goes."""

    groups: dict[str, list[tuple[Outbound, Delivery | None]]] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    deferred: int = 0
    doomed: list[tuple[Outbound, str]] = field(default_factory=list)  # items whose prerequisite failed
    lapsed: set[str] = field(default_factory=set)  # claimed by a sender that never recorded the outcome
    wake_in: float | None = None  # seconds until a paced item may go: the pump comes back then


class _Pacer:
    """Token buckets per pace key, and what a platform's 429 says about the key (in this process).

    After a 429 every post of the key waits the Retry-After; then ONE post probes the platform,
    and the bucket opens again only once a probe went through (a storm of 429s costs one request
    per Retry-After per key, not one per waiting post).
    """

    PROBE_TIMEOUT = 30.0  # a probe whose outcome never came back (cancelled) stops blocking after this

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._cooling: dict[str, float] = {}  # key -> time the platform said to wait until
        self._probing: dict[str, float | None] = {}  # key limited lately -> when its probe went out (None: none)

    def take(self, pace: Pace, now: float) -> float:
        """0 when the post may go now (a token is taken), else the seconds until it may."""
        until = self._cooling.get(pace.key)
        if until is not None:
            if now < until:
                return until - now
            del self._cooling[pace.key]
        if pace.key in self._probing:
            sent = self._probing[pace.key]
            if sent is not None and now - sent < self.PROBE_TIMEOUT:
                return 1.0  # the probe's outcome decides; come back soon
            self._probing[pace.key] = now
            return 0.0
        tokens, at = self._buckets.get(pace.key, (float(pace.burst), now))
        tokens = min(float(pace.burst), tokens + (now - at) * pace.per_second)
        if tokens >= 1.0:
            self._buckets[pace.key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[pace.key] = (tokens, now)
        return (1.0 - tokens) / pace.per_second if pace.per_second > 0 else 60.0

    def limited(self, key: str, seconds: float, now: float) -> None:
        self._cooling[key] = max(self._cooling.get(key, 0.0), now + seconds)
        self._probing[key] = None
        self._buckets[key] = (0.0, now + seconds)

    def passed(self, key: str) -> None:
        """A post of ``key`` went through (or failed for another reason): the key is open again."""
        self._probing.pop(key, None)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        channels: ChannelRegistry,
        clock: Clock,
        *,
        lease: timedelta = CLAIM_LEASE,
        give_up_after: timedelta = GIVE_UP_AFTER,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.telemetry = telemetry or Telemetry()
        self.give_up_after = give_up_after
        self._pacer = _Pacer()
        self._wake: asyncio.TimerHandle | None = None
        self.db = db
        self.channels = channels
        self.clock = clock
        self.lease = lease
        self.worker_id = new_id("worker")  # owner of this process's claims
        self._lock = asyncio.Lock()  # one pass at a time per process; claims order the replicas
        self._pump: asyncio.Task[None] | None = None
        self._wanted = False

    # ---------------------------------------------------------------- background pump
    def kick(self) -> None:
        """Ask for delivery soon; coalesces with a pass already running."""
        self._wanted = True
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _run_pump(self, limit: int = 100) -> None:
        while True:
            self._wanted = False
            try:
                stats = await self.dispatch(limit)
            except Exception:  # the database is down, say: the scheduler's next pass retries
                log.exception("outbox dispatch failed")
                return
            if not self._wanted and stats.sent + stats.retried + stats.failed < limit:
                return

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the background pump to finish (tests, shutdown)."""
        pump = self._pump
        if pump is not None and not pump.done():
            await asyncio.wait_for(asyncio.shield(pump), timeout)

    # ---------------------------------------------------------------- one pass
    async def dispatch(self, limit: int = 100) -> DispatchStats:
        """Send what is due now; failures stay pending and are retried with backoff."""
        async with self._lock:
            total = DispatchStats()
            while True:  # a mirror thread sent in this pass unblocks its staff items: go again
                stats, progressed = await self._pass(limit)
                total.add(stats)
                if not progressed or stats.sent + stats.retried + stats.failed >= limit:
                    total.deferred = stats.deferred
                    return total

    async def _pass(self, limit: int) -> tuple[DispatchStats, bool]:
        """Plan and claim in one transaction, send, then record every outcome in one transaction."""
        now = self.clock.now()
        plan = await self.db.transaction(lambda uow: self._plan(uow, now, limit))
        if plan.wake_in is not None:
            self._wake_later(plan.wake_in)
        stats = DispatchStats(deferred=plan.deferred, failed=len(plan.doomed))
        if not plan.groups:
            return stats, bool(plan.doomed)
        outcomes: list[_Outcome] = []
        slots = asyncio.Semaphore(CONCURRENT_CONVERSATIONS)

        async def send_group(items: list[tuple[Outbound, Delivery | None]]) -> None:
            async with slots:
                for index, (item, planned) in enumerate(items):
                    delivery = planned or self._into_new_mirror(item, plan.conversations)
                    outcome = await self._send(item, delivery, maybe_sent=item.id in plan.lapsed)
                    if outcome.status == "sent" and item.kind is OutboundKind.MIRROR_OPEN and outcome.external_id:
                        conv = plan.conversations.get(item.conversation_id or "")
                        if conv is not None:  # later staff items of this lane go into the thread just made
                            conv.staff_thread_id = outcome.external_id
                    outcomes.append(outcome)
                    await asyncio.sleep(0)  # let the other conversations' sends interleave with this one's
                    if outcome.status != "sent" and item.kind is not OutboundKind.REACTION:
                        # the rest of this lane waits for it (its claims are given back)
                        outcomes.extend(_Outcome(later, "release") for later, _ in items[index + 1 :])
                        return

        await asyncio.gather(*(send_group(group) for group in plan.groups.values()))
        await self.db.transaction(lambda uow: self._record(uow, outcomes, plan.conversations))
        for outcome in outcomes:
            if outcome.status == "sent":
                stats.sent += 1
            elif outcome.status == "failed":
                stats.failed += 1
            elif outcome.status == "retry":
                stats.retried += 1
            else:
                stats.deferred += 1
        # a mirror thread opened in this pass may unblock staff items planned before it existed
        mirrors_sent = any(o.status == "sent" and o.item.kind is OutboundKind.MIRROR_OPEN for o in outcomes)
        return stats, mirrors_sent and plan.deferred > 0

    def _plan(self, uow: UnitOfWork, now: datetime, limit: int) -> _Plan:
        plan = _Plan()
        due = uow.outbox.due(now, limit)
        if not due:
            return plan
        # lane -> (creation time of its oldest waiting item, the latest time one of them is retried)
        held: dict[tuple[str, str], tuple[datetime, datetime | None]] = {}
        for (conversation_id, audience), (at, retry) in uow.outbox.held(now).items():
            lane = (conversation_id, _lane(Audience(audience)))
            held[lane] = _hold(held.get(lane), at, retry)
        queued_on: dict[str, int] = {}  # pace key -> items of this pass already waiting for it
        plan.conversations = uow.conversations.get_many(sorted({i.conversation_id for i in due if i.conversation_id}))
        lanes: dict[str, list[tuple[Outbound, Delivery | None]]] = {}
        new_mirrors: set[str] = set()  # conversations whose mirror thread this pass opens
        clock = now.timestamp()  # the injected clock: Retry-After and budgets follow it, as next_attempt_at does
        for item in due:
            conv = plan.conversations.get(item.conversation_id or "")
            lane = (item.conversation_id or "", _lane(item.audience))
            hold = held.get(lane)
            if item.platform not in self.channels:
                plan.deferred += 1
                continue
            if hold is not None and item.created_at >= hold[0] and item.kind is not OutboundKind.REACTION:
                plan.deferred += 1
                if hold[1] is not None:  # it cannot go before the item it follows: out of the due window till then
                    self._postpone(uow, item, hold[1])
                continue
            delivery, problem = self._delivery(uow, item, conv)
            if problem is not None:
                self._fail(uow, item, problem)
                plan.doomed.append((item, problem))
                continue
            key = f"{lane[0]}:{lane[1]}" if item.conversation_id else f"item:{item.id}"
            opens_with_mirror = item.conversation_id in new_mirrors and item.kind is not OutboundKind.CARD_UPDATE
            wait = None if delivery is None and not opens_with_mirror else self._pace(item, delivery, clock, queued_on)
            if (delivery is None and not opens_with_mirror) or wait:
                # waits for its mirror thread or its card, or for the platform's budget
                plan.deferred += 1
                retry_at = None
                if wait:
                    plan.wake_in = min(plan.wake_in or wait, wait)
                    # out of the due window until its turn, so it never crowds out posts that may go now
                    retry_at = now + timedelta(seconds=wait)
                    self._postpone(uow, item, retry_at)
                if item.conversation_id and item.kind is not OutboundKind.REACTION:
                    held[lane] = _hold(held.get(lane), item.created_at, retry_at)
                continue
            if item.kind is OutboundKind.MIRROR_OPEN and item.conversation_id:
                new_mirrors.add(item.conversation_id)
            if item.claimed_by is not None:  # claimed before and never recorded: its sender may have posted it
                plan.lapsed.add(item.id)
            lanes.setdefault(key, []).append((item, delivery))  # None: into the mirror this pass opens
        claimed = uow.outbox.claim_many(
            [item.id for lane_items in lanes.values() for item, _ in lane_items], self.worker_id, now, self.lease
        )
        for key, lane_items in lanes.items():
            # another replica has an item of this lane: send nothing after it, or the order breaks
            mine = list(itertools.takewhile(lambda pair: pair[0].id in claimed, lane_items))
            plan.deferred += len(lane_items) - len(mine)
            rest = [item.id for item, _ in lane_items[len(mine) :] if item.id in claimed]
            self._release(uow, rest)
            if mine:
                plan.groups[key] = mine
        return plan

    def _pace(self, item: Outbound, delivery: Delivery | None, now: float, queued_on: dict[str, int]) -> float:
        """0 when ``item`` may go now, else the seconds until its turn on its platform budget
        (items of one pass waiting for the same budget get successive turns)."""
        pace = self.channels[item.platform].pace(item, delivery)
        if pace is None:
            return 0.0
        wait = self._pacer.take(pace, now)
        if wait:
            ahead = queued_on.get(pace.key, 0)
            queued_on[pace.key] = ahead + 1
            wait += ahead / pace.per_second if pace.per_second > 0 else 0.0
        return wait

    @staticmethod
    def _postpone(uow: UnitOfWork, item: Outbound, until: datetime) -> None:
        """Not due before ``until`` (no attempt counted, no error: it only waits its turn)."""
        if item.next_attempt_at is not None and item.next_attempt_at >= until:
            return
        item.next_attempt_at = until
        uow.outbox.save_delivery(item)

    def _wake_later(self, seconds: float) -> None:
        """Come back for paced items when their budget allows (sooner only when kicked)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._wake is not None and self._wake.when() <= loop.time() + seconds:
            return
        if self._wake is not None:
            self._wake.cancel()
        self._wake = loop.call_later(max(seconds, 0.01), self.kick)

    @staticmethod
    def _into_new_mirror(item: Outbound, conversations: dict[str, Conversation]) -> Delivery:
        """Where a staff item planned behind its conversation's new mirror goes, now the mirror is posted."""
        conv = conversations[item.conversation_id or ""]
        return Delivery(conv.workspace_id, None, conv.staff_thread_id)

    @staticmethod
    def _delivery(uow: UnitOfWork, item: Outbound, conv: Conversation | None) -> tuple[Delivery | None, str | None]:
        """Where ``item`` goes; (None, None) while a prerequisite is pending; (None, why) when it failed."""
        if item.audience is Audience.CUSTOMER:
            target = item.payload.get("reply_to")
            if conv is None and isinstance(target, dict):  # a reply to a message that opened no conversation
                return (
                    Delivery(
                        str(target.get("workspace_id") or ""),
                        target.get("channel_id"),
                        target.get("thread_id"),
                        target.get("message_external_id"),
                    ),
                    None,
                )
            if conv is None:
                return None, "its conversation does not exist"
            return Delivery(
                conv.workspace_id, conv.channel_id, conv.thread_id, item.payload.get("message_external_id")
            ), None
        if item.audience is Audience.MANAGERS or conv is None:
            return Delivery(conv.workspace_id if conv else "", None, None), None
        if item.kind is OutboundKind.MIRROR_OPEN:
            return Delivery(conv.workspace_id, None, None), None
        if conv.staff_thread_id is None:
            mirror = uow.outbox.find(f"mirror:{conv.id}")
            if mirror is not None and mirror.status is OutboxStatus.FAILED:
                return None, f"the conversation's mirror thread could not be posted: {mirror.last_error}"
            return None, None
        if item.kind is OutboundKind.CARD_UPDATE:
            key = item.payload.get("card_key")
            card = uow.outbox.find(str(key))
            if card is None or card.status is OutboxStatus.FAILED:
                return None, "the card it updates was never posted"
            if card.status is not OutboxStatus.SENT:
                return None, None
            if not card.external_id:
                return None, "the channel returned no id for the card it updates"
            return Delivery(conv.workspace_id, None, conv.staff_thread_id, edit_message_id=card.external_id), None
        return Delivery(conv.workspace_id, None, conv.staff_thread_id), None

    def _release(self, uow: UnitOfWork, outbound_ids: list[str]) -> None:
        """Give back claims, so the items go out in order right after what holds them up."""
        for outbound_id in outbound_ids:
            current = uow.outbox.get(outbound_id)
            if current is not None and current.status is OutboxStatus.PENDING and current.claimed_by == self.worker_id:
                current.claimed_by = current.claimed_until = None
                uow.outbox.save_delivery(current)

    async def _send(self, item: Outbound, delivery: Delivery, *, maybe_sent: bool = False) -> _Outcome:
        channel = self.channels[item.platform]
        pace = channel.pace(item, delivery)
        try:
            # A sender that died between posting and recording: look before posting again.
            earlier = await channel.already_sent(item, delivery) if maybe_sent else None
            external_id = earlier if earlier is not None else await channel.send(item, delivery)
        except RateLimited as exc:
            wait = max(exc.retry_after, 0.0)
            if pace is not None:  # every post of this budget waits, not only this one
                self._pacer.limited(pace.key, wait, self.clock.now().timestamp())
            outcome = _Outcome(item, "retry", error=str(exc), delay=timedelta(seconds=wait), cause="rate_limited")
        except DeliveryError as exc:
            if exc.permanent:
                outcome = _Outcome(item, "failed", error=str(exc), cause="permanent")
            else:
                outcome = _Outcome(item, "retry", error=str(exc), delay=_backoff(item.attempts), cause="transient")
        except Exception as exc:  # an adapter bug must not stop other deliveries
            log.exception("channel %s failed to send %s", item.platform, item.id)
            error = f"{type(exc).__name__}: {exc}"
            outcome = _Outcome(item, "retry", error=error, delay=_backoff(item.attempts), cause="adapter_error")
        else:
            outcome = _Outcome(item, "sent", external_id=external_id)
        if pace is not None and outcome.cause != "rate_limited":
            self._pacer.passed(pace.key)
        self.telemetry.delivered(item.platform, item.kind.value, outcome.status, outcome.cause)
        return outcome

    def _record(self, uow: UnitOfWork, outcomes: list[_Outcome], conversations: dict[str, Conversation]) -> None:
        now = self.clock.now()
        for outcome in outcomes:
            item = outcome.item
            if outcome.status == "sent":
                self._mark_sent(uow, item, outcome.external_id, conversations.get(item.conversation_id or ""), now)
            elif outcome.status == "retry":
                self._retry(uow, item, outcome.error, outcome.delay, now)
            elif outcome.status == "failed":
                self._fail(uow, item, outcome.error)
        self._release(uow, [o.item.id for o in outcomes if o.status == "release"])

    def _retry(self, uow: UnitOfWork, item: Outbound, error: str, delay: timedelta, now: datetime) -> None:
        item.attempts += 1
        item.last_error = error[:500]
        item.claimed_by = item.claimed_until = None  # next_attempt_at governs the retry
        trying_since = _trying_since(item)
        if now - trying_since >= self.give_up_after:
            item.status = OutboxStatus.FAILED
            item.last_error = f"gave up after {self.give_up_after} of retries: {error}"[:500]
            log.error("giving up on outbound %s after %s: %s", item.id, now - trying_since, error)
        else:
            item.next_attempt_at = now + delay
        uow.outbox.save_delivery(item)

    # ---------------------------------------------------------------- dead letters
    async def dead_letters(self, limit: int = 50) -> list[Outbound]:
        return await self.db.read(lambda uow: uow.outbox.failed(limit))

    async def requeue(self, outbound_ids: Sequence[str] | None = None) -> int:
        """Send failed items again (all when ``outbound_ids`` is None); they get a fresh give-up clock."""
        now = self.clock.now()

        def requeue(uow: UnitOfWork) -> int:
            items = uow.outbox.failed(10_000) if outbound_ids is None else [uow.outbox.get(i) for i in outbound_ids]
            count = 0
            for item in items:
                if item is None or item.status is not OutboxStatus.FAILED:
                    continue
                item.status, item.next_attempt_at = OutboxStatus.PENDING, None
                item.claimed_by = item.claimed_until = None
                item.payload = {**item.payload, "requeued_at": now.isoformat()}
                uow.outbox.save(item)
                count += 1
            return count

        count = await self.db.transaction(requeue)
        if count:
            self.kick()
        return count

    def _fail(self, uow: UnitOfWork, item: Outbound, error: str) -> None:
        item.attempts += 1
        item.status, item.last_error = OutboxStatus.FAILED, error[:500]
        item.claimed_by = item.claimed_until = None
        uow.outbox.save_delivery(item)
        log.error("outbound %s failed permanently: %s", item.id, error)

    def _mark_sent(
        self, uow: UnitOfWork, item: Outbound, external_id: str | None, conv: Conversation | None, now: datetime
    ) -> None:
        item.status, item.external_id, item.attempts = OutboxStatus.SENT, external_id, item.attempts + 1
        item.claimed_by = item.claimed_until = None
        uow.outbox.save_delivery(item)
        if conv is None:
            return
        mirror = item.kind is OutboundKind.MIRROR_OPEN and external_id is not None
        first_response = item.kind in (OutboundKind.ANSWER, OutboundKind.AGENT_REPLY) and conv.first_response_at is None
        if mirror or first_response:
            uow.conversations.note_delivery(
                conv.id,
                staff_thread_id=external_id if mirror else None,
                first_response_at=now if first_response else None,
            )
            if first_response:
                conv.first_response_at = now  # this pass's copy: a second answer is not the first
        if item.audience is Audience.CUSTOMER and item.kind is not OutboundKind.REACTION:
            kind = {OutboundKind.ANSWER: MessageKind.BOT_ANSWER, OutboundKind.AGENT_REPLY: MessageKind.AGENT_REPLY}.get(
                item.kind, MessageKind.SYSTEM
            )
            transcript = StoredMessage(
                id=new_id("msg"),
                platform=conv.platform,
                workspace_id=conv.workspace_id,
                channel_id=conv.channel_id,
                external_id=external_id or f"out:{item.id}",
                conversation_id=conv.id,
                author_id=item.payload.get("agent_id") or "supportbot",
                author_name=item.payload.get("agent_name") or "supportbot",
                role=Role.AGENT if kind is MessageKind.AGENT_REPLY else Role.BOT,
                kind=kind,
                text=item.text,
                created_at=now,
                thread_id=conv.thread_id,
                raw={
                    "outbound_id": item.id,
                    "citations": item.payload.get("citations", []),
                    **({"format": item.payload["format"]} if item.payload.get("format") else {}),
                },
            )
            try:
                with uow.savepoint():
                    uow.messages.add(transcript)
            except DuplicateDelivery:  # found again after a crash, and already in the transcript
                pass


def _hold(
    current: tuple[datetime, datetime | None] | None, at: datetime, retry: datetime | None
) -> tuple[datetime, datetime | None]:
    if current is None:
        return at, retry
    latest = current[1] if retry is None else retry if current[1] is None else max(current[1], retry)
    return min(current[0], at), latest


def _trying_since(item: Outbound) -> datetime:
    """Since when delivery has been tried: queued, or requeued by hand after it failed."""
    requeued = item.payload.get("requeued_at")
    if isinstance(requeued, str):
        with contextlib.suppress(ValueError):
            return max(item.created_at, datetime.fromisoformat(requeued))
    return item.created_at


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 300))


@dataclass
class _Outcome:
    item: Outbound
    status: str  # sent, retry, failed, release (not tried: held behind one that was not sent)
    external_id: str | None = None
    error: str = ""
    delay: timedelta = timedelta(0)
    cause: str | None = None  # why it was not sent: rate_limited, permanent, transient, adapter_error
