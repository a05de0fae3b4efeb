"""Inbound messages: store, group, triage, record — nothing lost, nothing twice.

1. ``receive`` stores the message (one short transaction). A duplicate
   delivery stops here. Adapters that acknowledge a platform (Slack's 3 s)
   call ``submit``, which acknowledges only once the message is stored and
   processes it in the background.
2. ``process`` reads what it needs in one read-only unit of work (the
   conversation the message belongs to, its history, pending drafts, the
   cached account), asks the CRM when the cache is stale, runs triage off the
   event loop, then records the verdict — conversation, classification,
   decision, state changes and everything to post — in ONE transaction.
3. Messages stored but never processed (a crash) are found by ``recover``,
   which ``supportbot run`` calls at start-up and periodically.

Messages of one thread, and top-level messages of one person in a channel, are
processed in order (a question and its quick follow-up must not race); the
rest in parallel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from supportbot.bot import presenter
from supportbot.bot.accounts import AccountFetch, Accounts
from supportbot.bot.answers import (
    MARKDOWN,
    ComposedReply,
    ExtractiveComposer,
    ReplyComposer,
    compose_extractive,
    reply_payload,
)
from supportbot.bot.context import build_packet
from supportbot.bot.csat import parse_rating
from supportbot.bot.dispatch import Dispatcher
from supportbot.bot.domain import (
    OUT_OF_SCOPE,
    Account,
    AccountLookup,
    Action,
    Audience,
    Author,
    Citation,
    Classification,
    ClassificationRecord,
    Conversation,
    ConversationStatus,
    Decision,
    DecisionRecord,
    Draft,
    DraftStatus,
    HandoffStatus,
    InboundMessage,
    MessageKind,
    MessageState,
    OutboundKind,
    Role,
    StoredMessage,
    new_id,
)
from supportbot.bot.effects import EventBus
from supportbot.bot.errors import Conflict, DuplicateDelivery, InvalidInput
from supportbot.bot.events import Drafted, Event, Triaged
from supportbot.bot.feedback import Feedback, hand_off_failed_answer
from supportbot.bot.modes import ChannelModes, Mode
from supportbot.bot.noise import is_greeting
from supportbot.bot.outbox import OutboxWriter
from supportbot.bot.ports import Clock, Database, Telemetry, UnitOfWork
from supportbot.bot.presenter import ContextPacket
from supportbot.bot.shadow import compare_shadow, record_shadow
from supportbot.bot.text import clean_text, for_model, strip_control
from supportbot.bot.triage import DECIDE, IGNORE, Snapshot, Triage, Verdict, with_reply

log = logging.getLogger(__name__)

THRESHOLD_PREFIX = "threshold."
# Messages triaged at the same time (model inference in worker threads). Only triage takes a
# slot: a slow CRM lookup or platform call never holds one that other channels wait for.
TRIAGE_SLOTS = 4


@dataclass(frozen=True)
class IntakeConfig:
    grouping_window: timedelta = timedelta(seconds=120)
    max_message_chars: int = 40_000
    greeting_prompt: str = ""  # the reply to a greeting alone (it opens no conversation); "" for none


@dataclass
class InboundResult:
    """What happened to one inbound message; ``supportbot ask`` prints this."""

    status: str  # processed, duplicate, ignored, rejected, relayed, failed
    detail: str = ""
    conversation_id: str | None = None
    message_id: str | None = None
    classification: Classification | None = None
    decision: Decision | None = None
    account: Account | None = None
    reply: str | None = None  # answer sent, or draft text awaiting approval
    citations: tuple[Citation, ...] = ()
    draft_id: str | None = None
    handoff_id: str | None = None
    articles: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    composer: str | None = None  # extractive | llm; None when nothing was composed (hand-offs)

    def to_dict(self) -> dict[str, Any]:
        c, d, a = self.classification, self.decision, self.account
        return {
            "status": self.status,
            "detail": self.detail,
            "conversation_id": self.conversation_id,
            "intent": c.intent if c else None,
            "confidence": round(c.confidence, 4) if c else None,
            "out_of_scope": c.out_of_scope if c else None,
            "top_intents": [{"intent": s.intent, "probability": round(s.probability, 4)} for s in c.top_intents]
            if c
            else [],
            "urgency": c.urgency.value if c else None,
            "urgency_reasons": list(c.urgency_reasons) if c else [],
            "sentiment": c.sentiment.value if c else None,
            "frustration": round(c.frustration, 3) if c else None,
            "account": {"id": a.id, "name": a.name, "tier": a.tier, "arr": a.arr} if a else None,
            "action": d.action.value if d else None,
            "rule": d.rule if d else None,
            "reason": d.reason if d else self.detail,
            "scores": dict(d.scores) if d else {},
            "reply": self.reply,
            "citations": [
                {"title": x.title, "url": x.url, "article_id": x.article_id, "section": x.section}
                for x in self.citations
            ],
            "composer": self.composer,
            "articles_considered": list(self.articles),
            "draft_id": self.draft_id,
            "handoff_id": self.handoff_id,
            "model_version": c.model_version if c else None,
        }


@dataclass(frozen=True)
class _Read(Snapshot):
    """The triage snapshot plus what only the intake needs."""

    cached_account: tuple[Account, datetime] | None = None
    typed_rating: bool = False  # the text answers a CSAT prompt of this (resolved) conversation


def find_conversation(
    uow: UnitOfWork, msg: InboundMessage, received_at: datetime, window: timedelta
) -> Conversation | None:
    """The conversation ``msg`` continues, or None for a new one.

    A reply in a thread continues that thread's conversation. A new top-level message joins the
    author's previous conversation only as a quick follow-up: received within ``window`` of the
    author's last message there and before anyone (bot or agent) replied to it. A message that
    @mentions the bot is always a request of its own.
    """
    if msg.thread_id:
        return uow.conversations.find_by_thread(msg.platform, msg.workspace_id, msg.channel_id, msg.thread_id)
    if window <= timedelta(0) or msg.mentions_bot or msg.ticket_by:
        return None
    since = received_at - window
    conv = uow.conversations.latest_for_customer(
        msg.platform, msg.workspace_id, msg.channel_id, msg.author.user_id, since
    )
    if conv is None or (conv.last_customer_message_at or conv.created_at) < since:
        return None
    return None if replied_before(uow, conv, received_at) else conv


def replied_before(uow: UnitOfWork, conv: Conversation, when: datetime) -> bool:
    """Someone (bot or agent) replied to ``conv`` where the customer reads, before ``when``.

    A reaction is no reply; an answer, an acknowledgement, a hand-off notice or an agent's reply is.
    """
    if conv.first_response_at is not None and conv.first_response_at < when:
        return True
    return any(
        o.audience is Audience.CUSTOMER and o.kind is not OutboundKind.REACTION and o.created_at < when
        for o in uow.outbox.list(conversation_id=conv.id)
    )


def received_at(stored: StoredMessage, default: datetime) -> datetime:
    """When the message reached us (our clock), recorded by ``Intake.receive``."""
    value = ((stored.raw or {}).get("_origin") or {}).get("received_at")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else default
    except ValueError:
        return default


class Intake:
    def __init__(
        self,
        *,
        db: Database,
        triage: Triage,
        accounts: Accounts,
        bus: EventBus,
        outbox: OutboxWriter,
        feedback: Feedback,
        dispatcher: Dispatcher,
        clock: Clock,
        config: IntakeConfig,
        telemetry: Telemetry | None = None,
        composer: ReplyComposer | None = None,
        modes: ChannelModes | None = None,
    ) -> None:
        self.telemetry = telemetry or Telemetry()
        self.composer = composer or ExtractiveComposer()
        self.modes = modes or ChannelModes()
        self.db = db
        self.triage = triage
        self.accounts = accounts
        self.bus = bus
        self.outbox = outbox
        self.feedback = feedback
        self.dispatcher = dispatcher
        self.clock = clock
        self.config = config
        self._lanes: dict[str, deque[tuple[Callable[[], Awaitable[InboundResult]], asyncio.Future[InboundResult]]]] = {}
        self._triage_slots = asyncio.Semaphore(TRIAGE_SLOTS)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()  # stored message ids queued or being processed here
        self._lane_of: dict[str, str] = {}  # platform/workspace/channel/message id of those -> their lane

    # ---------------------------------------------------------------- entry points
    async def receive(self, msg: InboundMessage) -> tuple[StoredMessage | None, InboundResult | None]:
        """Store ``msg``: (stored, None), or (None, result) for a duplicate or unreadable message."""
        try:
            text = clean_text(msg.text, max_chars=self.config.max_message_chars)
        except InvalidInput as exc:
            return None, await self._reject(msg, str(exc))
        msg = replace(msg, text=text)
        stored = self._stored(msg, text, MessageState.RECEIVED)
        try:
            await self.db.transaction(lambda uow: uow.messages.add(stored))
        except DuplicateDelivery:
            self.telemetry.inbound(msg.platform, "duplicate")
            return None, InboundResult("duplicate", "this message was already received")
        self.telemetry.inbound(msg.platform, "stored")
        return stored, None

    def _stored(
        self, msg: InboundMessage, text: str, state: MessageState, error: str | None = None, *, raw: bool = True
    ) -> StoredMessage:
        received = self.clock.now().isoformat()
        return StoredMessage(
            id=new_id("msg"),
            platform=msg.platform,
            workspace_id=msg.workspace_id,
            channel_id=msg.channel_id,
            external_id=msg.message_id,
            conversation_id=None,
            author_id=msg.author.user_id,
            author_name=msg.author.display_name,
            role=msg.author.role,
            kind=MessageKind.CUSTOMER,
            text=text,
            created_at=msg.sent_at or self.clock.now(),
            state=state,
            thread_id=msg.thread_id,
            error=error,
            raw=_raw_with_origin(msg, received) if raw else {"_origin": _raw_with_origin(msg, received)["_origin"]},
        )

    async def _reject(self, msg: InboundMessage, reason: str) -> InboundResult:
        """Store an unreadable or over-long message as rejected, and tell its author in the thread.

        Its text is kept only up to the limit (what was received is on record, not a megabyte);
        a platform's retry of it is a duplicate like any other, so the author is told once.
        """
        limit = self.config.max_message_chars
        readable = isinstance(msg.text, str)
        kept = strip_control(msg.text[:limit]) if isinstance(msg.text, str) else ""
        stored = self._stored(msg, kept, MessageState.REJECTED, error=reason, raw=False)
        # too long or not text: the author is told; an empty message (a bare attachment) needs no reply
        tell = not readable or len(msg.text) > limit
        notice = presenter.rejected_message(reason, self.config.max_message_chars)

        def record(uow: UnitOfWork) -> None:
            uow.messages.add(stored)
            if tell:
                self.outbox.queue(
                    uow,
                    None,
                    Audience.CUSTOMER,
                    OutboundKind.SYSTEM,
                    notice,
                    f"rejected:{stored.id}",
                    {"reply_to": _reply_target(msg), "rejected_message_id": stored.id},
                    platform=msg.platform,
                )

        try:
            await self.db.transaction(record)
        except DuplicateDelivery:
            self.telemetry.inbound(msg.platform, "duplicate")
            return InboundResult("duplicate", "this message was already received")
        self.telemetry.inbound(msg.platform, "rejected")
        log.info(
            "message %s rejected: %s",
            stored.id,
            reason,
            extra={"event": "message", "message_id": stored.id, "platform": msg.platform, "status": "rejected"},
        )
        if tell:
            self.dispatcher.kick()
        return InboundResult("rejected", reason, message_id=stored.id)

    async def handle(self, msg: InboundMessage, *, dispatch: bool = True) -> InboundResult:
        """Store and process one message now; with ``dispatch``, also post what it queued."""
        stored, early = await self.receive(msg)
        if stored is None:
            assert early is not None
            if dispatch and early.status == "rejected":
                await self.dispatcher.dispatch()  # the author is told why
            return early
        result = await self._in_lane(stored, replace(msg, text=stored.text))
        if dispatch:
            await self.dispatcher.dispatch()
        return result

    async def submit(self, msg: InboundMessage) -> asyncio.Future[InboundResult]:
        """Store ``msg`` and return at once; it is processed in the background, its replies posted after.

        The returned future resolves to the result (adapters that react to it, e.g. forum tags, await it).
        """
        stored, early = await self.receive(msg)
        if stored is None:
            assert early is not None
            done: asyncio.Future[InboundResult] = asyncio.get_running_loop().create_future()
            done.set_result(early)
            return done
        return self._enqueue(stored, replace(msg, text=stored.text), kick=True)

    async def open_ticket(self, stored: StoredMessage, agent_id: str) -> InboundResult:
        """An agent's 🎫 on a customer message the bot skipped: process it as a request of its own."""
        msg = replace(_inbound_of(stored), ticket_by=agent_id)
        result = await self._enqueue(stored, msg, kick=True)
        return result

    async def recover(self, *, older_than: timedelta = timedelta(0)) -> int:
        """Process messages stored but never processed (a crash, here or on another replica)."""
        cutoff = self.clock.now() - older_than
        pending = await self.db.read(lambda uow: uow.messages.in_state(MessageState.RECEIVED, limit=500))
        waiting = [m for m in pending if m.id not in self._in_flight and m.created_at <= cutoff]
        futures = [self._enqueue(stored, _inbound_of(stored), kick=True) for stored in waiting]
        if futures:
            await asyncio.gather(*futures)
            log.info("recovered %d unprocessed messages", len(futures))
        return len(futures)

    @property
    def busy(self) -> bool:
        """Messages are queued or being processed here."""
        return bool(self._in_flight)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every queued message was processed (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"{len(self._in_flight)} inbound messages still being processed")
            await asyncio.wait(set(self._tasks), timeout=left)

    # ---------------------------------------------------------------- ordering
    async def _in_lane(self, stored: StoredMessage, msg: InboundMessage) -> InboundResult:
        return await self._enqueue(stored, msg, kick=False)

    def _enqueue(self, stored: StoredMessage, msg: InboundMessage, *, kick: bool) -> asyncio.Future[InboundResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[InboundResult] = loop.create_future()
        # In order per thread, and per person at the top level (a question and its quick follow-up
        # must not race); a reply in the thread of a message still queued here joins that message's
        # lane (it must find the conversation its root opens); everything else in parallel.
        where = f"{msg.platform}/{msg.workspace_id}/{msg.channel_id}"
        root_lane = self._lane_of.get(f"{where}/{msg.thread_id}") if msg.thread_id else None
        key = root_lane or f"{where}/{msg.thread_id or msg.author.user_id}"
        lane = self._lanes.setdefault(key, deque())
        origin = f"{where}/{msg.message_id}"

        async def job() -> InboundResult:
            try:
                return await self.process(stored, msg)
            finally:
                self._in_flight.discard(stored.id)
                self._lane_of.pop(origin, None)
                if kick:
                    self.dispatcher.kick()

        self._in_flight.add(stored.id)
        self._lane_of[origin] = key
        lane.append((job, future))
        if len(lane) == 1:
            task = loop.create_task(self._run_lane(key, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return future

    async def _run_lane(self, key: str, lane: deque[Any]) -> None:
        while lane:
            job, future = lane[0]
            try:
                result = await job()
            except BaseException as exc:  # process() catches everything else; cancellation ends the lane
                if not future.done():
                    future.set_exception(exc)
                raise
            if not future.done():
                future.set_result(result)
            lane.popleft()
        self._lanes.pop(key, None)

    # ---------------------------------------------------------------- processing
    async def process(self, stored: StoredMessage, msg: InboundMessage) -> InboundResult:
        """Process one stored message exactly once; never raises (the process must live)."""
        started = time.perf_counter()
        result = await self._process_safely(stored, msg)
        seconds = time.perf_counter() - started
        d, c = result.decision, result.classification
        self.telemetry.observe("process", seconds)
        self.telemetry.decided(msg.platform, d.action.value if d else result.status, d.rule if d else result.status)
        # one line per message for the logs: ids, outcome and timing, never the text
        log.info(
            "message %s %s%s",
            stored.id,
            result.status,
            f" ({d.action.value}, {d.rule})" if d else "",
            extra={
                "event": "message",
                "message_id": stored.id,
                "conversation_id": result.conversation_id,
                "platform": msg.platform,
                "status": result.status,
                "intent": c.intent if c else None,
                "confidence": round(c.confidence, 3) if c else None,
                "action": d.action.value if d else None,
                "rule": d.rule if d else None,
                "latency_ms": round(seconds * 1000, 1),
            },
        )
        return result

    async def _process_safely(self, stored: StoredMessage, msg: InboundMessage) -> InboundResult:
        try:
            try:
                return await self._process(stored, msg)
            except Conflict:
                # Another message of the same thread created the conversation between
                # our read and our write: process again, joining it.
                return await self._process(stored, msg)
        except Exception as exc:
            log.exception("processing message %s failed", stored.id)
            error = f"{type(exc).__name__}: {exc}"[:500]
            try:
                await self.db.transaction(lambda uow: _set_state(uow, stored.id, MessageState.FAILED, None, error))
            except Exception:
                log.exception("could not mark message %s as failed", stored.id)
            return InboundResult("failed", f"internal error while processing: {type(exc).__name__}")

    async def _process(self, stored: StoredMessage, msg: InboundMessage) -> InboundResult:
        if msg.author.role is Role.UNKNOWN:
            msg = await self._identify(stored, msg)
        now = self.clock.now()
        read = await self.db.read(lambda uow: self._read(uow, stored, msg, now))
        if read.mode == Mode.OFF:
            await self.db.transaction(lambda uow: _set_state(uow, stored.id, MessageState.IGNORED, None))
            return InboundResult("ignored", "the bot is off in this channel", message_id=stored.id)
        if msg.author.role is not Role.CUSTOMER:
            intent = await self._shadow_reply_intent(read)
            return await self.db.transaction(lambda uow: self._staff_in_customer_thread(uow, stored, msg, read, intent))
        conv = read.conversation
        if read.typed_rating and conv is not None:
            return await self.db.transaction(lambda uow: self._typed_rating(uow, stored, msg, conv))
        fetch = await self.accounts.fetch(_lookup(msg), read.cached_account)
        async with self._triage_slots:
            started = time.perf_counter()
            verdict = await asyncio.to_thread(self.triage.assess, read, fetch.account)
            self.telemetry.observe("triage", time.perf_counter() - started)
        if verdict.needs_reply:  # outside the triage slots: a model server may take seconds
            verdict = with_reply(verdict, await self._compose(read, verdict))
        return await self.db.transaction(lambda uow: self._record(uow, stored, msg, read, verdict, fetch))

    async def _compose(self, read: _Read, verdict: Verdict) -> ComposedReply | None:
        """The reply from the verdict's passages; the extractive reply if the composer fails."""
        started = time.perf_counter()
        try:
            return await self.composer.compose(read.msg.text, verdict.source, context=read.customer_context()[-2:])
        except Exception:
            log.exception("the %s composer failed; using the extractive reply", self.composer.name)
            fallback = compose_extractive(verdict.source)
            return replace(fallback, fallback_reason="the composer failed") if fallback else None
        finally:
            self.telemetry.observe("compose", time.perf_counter() - started)

    async def _identify(self, stored: StoredMessage, msg: InboundMessage) -> InboundMessage:
        """Ask the platform who wrote a message stored before its author was known; record the answer."""
        channel = self.dispatcher.channels.get(msg.platform)
        author = await channel.identify(msg.author) if channel is not None else msg.author
        if author.role is Role.UNKNOWN:  # fail closed
            author = replace(author, role=Role.CUSTOMER)
        msg = replace(msg, author=author)

        def record(uow: UnitOfWork) -> None:
            current = uow.messages.get(stored.id)
            if current is not None:
                current.role, current.author_name = author.role, author.display_name or current.author_name
                current.raw = _raw_with_origin(msg, ((current.raw or {}).get("_origin") or {}).get("received_at"))
                uow.messages.save(current)

        await self.db.transaction(record)
        return msg

    def _read(self, uow: UnitOfWork, stored: StoredMessage, msg: InboundMessage, now: datetime) -> _Read:
        mode = self.modes.mode(uow, msg.channel_id)
        conv = find_conversation(uow, msg, received_at(stored, now), self.config.grouping_window)
        cached = Accounts.read_cache(uow, _lookup(msg))
        if conv is None:
            return _Read(stored, msg, None, overrides=threshold_overrides(uow), mode=mode, cached_account=cached)
        earlier = tuple(m for m in uow.messages.for_conversation(conv.id) if m.id != stored.id)
        typed = (
            conv.status is ConversationStatus.RESOLVED
            and msg.author.user_id == conv.customer_id
            and parse_rating(msg.text) is not None
            and Feedback.awaits_rating(uow, conv)
        )
        return _Read(
            stored,
            msg,
            conv,
            earlier=earlier,
            pending_drafts=tuple(uow.drafts.list(status=DraftStatus.PENDING, conversation_id=conv.id)),
            open_handoffs=tuple(
                uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id)
            ),
            overrides=threshold_overrides(uow),
            mode=mode,
            cached_account=cached,
            typed_rating=typed,
        )

    @staticmethod
    def _current_conversation(uow: UnitOfWork, read: _Read) -> Conversation | None:
        """The conversation as it is now (another message may have changed it since it was read).

        A new one is inserted last: a concurrent message of the same thread makes that insert a
        Conflict, and ``process`` runs again, joining it (top-level messages of one person are
        processed in order here, so they never race within a process).
        """
        if read.conversation is not None:
            return uow.conversations.get(read.conversation.id) or read.conversation
        return None

    def _record(
        self,
        uow: UnitOfWork,
        stored: StoredMessage,
        msg: InboundMessage,
        read: _Read,
        verdict: Verdict,
        fetch: AccountFetch,
    ) -> InboundResult:
        now = self.clock.now()
        account = fetch.account
        Accounts.store(uow, fetch)
        if verdict.kind == IGNORE:
            _set_state(uow, stored.id, MessageState.IGNORED, None)
            if self.config.greeting_prompt and read.mode != Mode.SHADOW and is_greeting(msg.text):
                self.outbox.queue(
                    uow,
                    None,
                    Audience.CUSTOMER,
                    OutboundKind.SYSTEM,
                    self.config.greeting_prompt,
                    f"greeting:{stored.id}",
                    {"reply_to": _reply_target(msg), "greeting_message_id": stored.id},
                    platform=msg.platform,
                )
                return InboundResult("ignored", verdict.reason, message_id=stored.id, reply=self.config.greeting_prompt)
            return InboundResult("ignored", verdict.reason, message_id=stored.id)
        conv = self._current_conversation(uow, read)
        is_new = conv is None
        if conv is None:
            conv = Conversation(
                id=new_id("conv"),
                platform=msg.platform,
                workspace_id=msg.workspace_id,
                channel_id=msg.channel_id,
                thread_id=msg.thread_id or msg.message_id,
                customer_id=msg.author.user_id,
                account_id=account.id if account else None,
                created_at=now,
                updated_at=now,
                last_customer_message_at=now,
            )
        events: list[Event] = []
        if not is_new and verdict.noise:  # "thanks 👍" neither reopens nor ends the wait
            conv.updated_at = conv.last_customer_message_at = now
        elif not is_new:
            events += conv.customer_wrote(now)
        if account and not conv.account_id:
            conv.account_id = account.id
        _set_state(uow, stored.id, MessageState.IGNORED if verdict.noise else MessageState.PROCESSED, conv.id)
        if not is_new:
            self.outbox.queue(
                uow,
                conv,
                Audience.STAFF,
                OutboundKind.RELAY,
                f"{msg.author.display_name or 'Customer'}: {msg.text}",
                f"relay:{stored.id}",
                {"author": msg.author.display_name, "message_id": stored.id},
            )
        if verdict.kind != DECIDE:
            self.bus.publish(uow, conv, events)
            uow.conversations.save(conv)
            return InboundResult(
                "relayed",
                f"relayed to staff: {verdict.reason}",
                conversation_id=conv.id,
                message_id=stored.id,
                account=account,
            )
        decision = verdict.decision
        assert decision is not None
        if verdict.failed_answer is not None:
            self.bus.publish(uow, conv, events)
            handoff_id = hand_off_failed_answer(uow, self.bus, conv, verdict.failed_answer, stored.id, now, stored.id)
            return InboundResult(
                "processed",
                decision.reason,
                conversation_id=conv.id,
                message_id=stored.id,
                decision=decision,
                account=account,
                handoff_id=handoff_id,
                reply=presenter.HANDOFF_ACK,
            )
        if read.mode == Mode.SHADOW:
            return record_shadow(
                self, uow, stored, msg, conv, is_new, events, verdict, decision, account, fetch.crm_unavailable
            )
        return self._decided(
            uow, stored, msg, conv, is_new, events, verdict, decision, account, crm_unavailable=fetch.crm_unavailable
        )

    def _decided(
        self,
        uow: UnitOfWork,
        stored: StoredMessage,
        msg: InboundMessage,
        conv: Conversation,
        is_new: bool,
        events: list[Event],
        verdict: Verdict,
        decision: Decision,
        account: Account | None,
        *,
        crm_unavailable: bool = False,
    ) -> InboundResult:
        now = self.clock.now()
        classification = verdict.classification
        assert classification is not None
        result = InboundResult(
            "processed",
            conversation_id=conv.id,
            message_id=stored.id,
            classification=classification,
            decision=decision,
            account=account,
            articles=verdict.articles(),
        )
        record = self.record_decision(uow, stored, conv, is_new, events, classification, decision, account)
        packet = self.packet_for(uow, stored, msg, conv, is_new, verdict, decision, account, crm_unavailable)
        if is_new:
            self.outbox.queue(
                uow,
                conv,
                Audience.CUSTOMER,
                OutboundKind.REACTION,
                "eyes",
                f"eyes:{conv.id}",
                {"emoji": "eyes", "message_external_id": msg.message_id},
            )
            self.open_mirror(uow, conv, packet)
        reply = verdict.reply
        if decision.action is Action.ANSWER and reply is not None:
            payload = reply_payload(reply)
            self.outbox.queue(
                uow,
                conv,
                Audience.CUSTOMER,
                OutboundKind.ANSWER,
                reply.text,
                f"answer:{stored.id}",
                {**payload, "decision_id": record.id},
            )
            self.outbox.queue(
                uow,
                conv,
                Audience.STAFF,
                OutboundKind.NOTICE,
                f"Answered automatically:\n\n{reply.text}",
                f"answer-notice:{stored.id}",
                {"format": MARKDOWN},
            )
            conv.wait_on_customer(now)
            result.reply, result.citations, result.composer = reply.text, reply.citations, reply.composer
        elif decision.action is Action.DRAFT and reply is not None:
            draft = Draft(new_id("draft"), conv.id, record.id, reply.text, reply.citations, now)
            uow.drafts.save(draft)
            card = presenter.draft_card(draft, packet)
            self.outbox.queue(
                uow,
                conv,
                Audience.STAFF,
                OutboundKind.DRAFT_REVIEW,
                card.title,
                f"draft:{draft.id}",
                {"card": card.to_dict(), "draft_id": draft.id, "draft_text": draft.text, "format": MARKDOWN},
            )
            self.bus.publish(uow, conv, [Drafted(conv.id, draft.id)])  # the customer's acknowledgement
            conv.status = ConversationStatus.OPEN
            result.reply, result.citations, result.draft_id = draft.text, draft.citations, draft.id
            result.composer = reply.composer
        else:
            pending = list(uow.drafts.list(status=DraftStatus.PENDING, conversation_id=conv.id))
            open_handoffs = uow.handoffs.list(
                statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED], conversation_id=conv.id
            )
            handoff, handoff_events = conv.hand_off(
                decision.reason, now, key=stored.id, open_handoffs=open_handoffs, pending_drafts=pending
            )
            uow.handoffs.save(handoff)
            for draft in pending:
                uow.drafts.save(draft)
            self.bus.publish(uow, conv, handoff_events, packet=packet)
            result.handoff_id, result.reply = handoff.id, presenter.HANDOFF_ACK
        uow.conversations.save(conv)
        return result

    def record_decision(
        self,
        uow: UnitOfWork,
        stored: StoredMessage,
        conv: Conversation,
        is_new: bool,
        events: list[Event],
        classification: Classification,
        decision: Decision,
        account: Account | None,
        *,
        shadow: bool = False,
    ) -> DecisionRecord:
        """Store the classification and the decision, update the conversation, start its SLA clocks."""
        now = self.clock.now()
        if classification.intent != OUT_OF_SCOPE or conv.intent is None:
            conv.intent = classification.intent
        if classification.urgency.rank > conv.urgency.rank or is_new:
            conv.urgency = classification.urgency
        tier = account.tier if account else None
        uow.classifications.add(ClassificationRecord(new_id("cls"), conv.id, stored.id, classification, now))
        record = DecisionRecord(new_id("dec"), conv.id, stored.id, decision, tier, now, shadow=shadow)
        uow.decisions.add(record)
        # SLA clocks first: the cards show when the first response is due.
        self.bus.publish(uow, conv, [*events, Triaged(conv.id, is_new, tier)])
        return record

    def packet_for(
        self,
        uow: UnitOfWork,
        stored: StoredMessage,
        msg: InboundMessage,
        conv: Conversation,
        is_new: bool,
        verdict: Verdict,
        decision: Decision,
        account: Account | None,
        crm_unavailable: bool,
    ) -> ContextPacket:
        """The context packet the staff cards of this decision show."""
        return build_packet(
            uow,
            conv,
            account=account,
            classification=verdict.classification,
            decision=decision,
            customer_name=msg.author.display_name,
            # a new conversation's transcript is this message: no need to read it back
            transcript=[replace(stored, conversation_id=conv.id, state=MessageState.PROCESSED)] if is_new else None,
            crm_unavailable=crm_unavailable,
            agent_notes=self._agent_notes(verdict),
        )

    def open_mirror(self, uow: UnitOfWork, conv: Conversation, packet: ContextPacket) -> None:
        """The conversation's card in the triage channel (its thread is where staff follow it)."""
        card = presenter.mirror_card(packet)
        self.outbox.queue(
            uow,
            conv,
            Audience.STAFF,
            OutboundKind.MIRROR_OPEN,
            card.title,
            f"mirror:{conv.id}",
            {"card": card.to_dict()},
        )

    def _agent_notes(self, verdict: Verdict) -> list[str]:
        """The internal notes of the article the reply is built from (or the best hit of a hand-off)."""
        hit = verdict.source[0] if verdict.source else (verdict.hits[0] if verdict.hits else None)
        return [p.text for p in self.triage.kb.internal_notes(hit.article.id)] if hit else []

    async def _shadow_reply_intent(self, read: _Read) -> str | None:
        """The intent of an agent's reply in a shadow-mode conversation (compared with the bot's decision)."""
        if read.mode != Mode.SHADOW or read.conversation is None or not read.msg.author.role.is_staff:
            return None
        classification = await asyncio.to_thread(self.triage.classifier.classify, for_model(read.msg.text))
        return classification.intent

    def _staff_in_customer_thread(
        self, uow: UnitOfWork, stored: StoredMessage, msg: InboundMessage, read: _Read, intent: str | None = None
    ) -> InboundResult:
        """An agent answered right in the customer's thread: a human reply, not a question."""
        conv = uow.conversations.get(read.conversation.id) if read.conversation else None
        if conv is None or not msg.author.role.is_staff:
            _set_state(uow, stored.id, MessageState.IGNORED, None)
            return InboundResult("ignored", "not a customer message and not in a conversation")
        now = self.clock.now()
        current = uow.messages.get(stored.id) or stored
        current.kind, current.state, current.conversation_id = MessageKind.AGENT_REPLY, MessageState.PROCESSED, conv.id
        uow.messages.save(current)
        if read.mode == Mode.SHADOW:
            compare_shadow(uow, conv, msg.text, intent)
        conv.assign(msg.author.user_id, now)
        conv.first_response_at = conv.first_response_at or now
        conv.wait_on_customer(now)
        uow.conversations.save(conv)
        self.outbox.queue(
            uow,
            conv,
            Audience.STAFF,
            OutboundKind.NOTICE,
            f"{msg.author.display_name or msg.author.user_id} replied in the customer's thread: {msg.text}",
            f"staff-in-thread:{stored.id}",
        )
        return InboundResult(
            "relayed",
            "a staff member replied in the customer's thread",
            conversation_id=conv.id,
            message_id=stored.id,
        )

    def _typed_rating(
        self, uow: UnitOfWork, stored: StoredMessage, msg: InboundMessage, conv: Conversation
    ) -> InboundResult:
        rating = parse_rating(msg.text)
        assert rating is not None
        try:
            rated = self.feedback.rate_in(
                uow, conv.id, msg.author.user_id, rating.positive, rating.score, "typed reply"
            )
        except Conflict:  # rated a moment ago (a button): this reply changes nothing
            _set_state(uow, stored.id, MessageState.IGNORED, conv.id)
            return InboundResult("ignored", "already rated", conversation_id=conv.id, message_id=stored.id)
        _set_state(uow, stored.id, MessageState.PROCESSED, conv.id)
        return InboundResult(
            "processed", rated.message, conversation_id=conv.id, message_id=stored.id, handoff_id=rated.handoff_id
        )


def threshold_overrides(uow: UnitOfWork) -> dict[str, float]:
    """Managers' per-intent automation thresholds (``/support threshold``)."""
    return {k[len(THRESHOLD_PREFIX) :]: float(v) for k, v in uow.settings.items(THRESHOLD_PREFIX).items()}


def _set_state(
    uow: UnitOfWork, message_id: str, state: MessageState, conversation_id: str | None, error: str | None = None
) -> None:
    uow.messages.set_state(message_id, state, conversation_id=conversation_id, error=error)


def _lookup(msg: InboundMessage) -> AccountLookup:
    return AccountLookup(
        account_id=msg.account_id,
        platform=msg.platform,
        email=msg.author.email,
        slack_team_id=msg.author.team_id if msg.platform == "slack" else None,
        discord_guild_id=msg.workspace_id if msg.platform == "discord" else None,
    )


def _raw_with_origin(msg: InboundMessage, received: str | None = None) -> dict[str, Any]:
    """The platform payload plus what recovery needs to rebuild the message (and when it reached us)."""
    origin: dict[str, Any] = {"account_id": msg.account_id, "team_id": msg.author.team_id, "email": msg.author.email}
    if received:
        origin["received_at"] = received
    if msg.mentions_bot:
        origin["mentions_bot"] = True
    return {**(msg.raw or {}), "_origin": origin}


def _reply_target(msg: InboundMessage) -> dict[str, Any]:
    """Where a reply to ``msg`` goes when it opened no conversation: its thread (or a thread on it)."""
    return {
        "workspace_id": msg.workspace_id,
        "channel_id": msg.channel_id,
        "thread_id": msg.thread_id or msg.message_id,
        "message_external_id": msg.message_id,
    }


def _inbound_of(stored: StoredMessage) -> InboundMessage:
    origin = (stored.raw or {}).get("_origin") or {}
    return InboundMessage(
        platform=stored.platform,
        workspace_id=stored.workspace_id,
        channel_id=stored.channel_id,
        message_id=stored.external_id,
        author=Author(
            user_id=stored.author_id,
            display_name=stored.author_name,
            role=stored.role,
            team_id=origin.get("team_id"),
            email=origin.get("email"),
        ),
        text=stored.text,
        sent_at=stored.created_at,
        thread_id=stored.thread_id,
        account_id=origin.get("account_id"),
        raw=stored.raw,
        mentions_bot=bool(origin.get("mentions_bot")),
    )
