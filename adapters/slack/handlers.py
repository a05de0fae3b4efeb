"""Bolt listeners: every Slack request is acknowledged first, then handled in a
background task the service keeps track of (and awaits on stop).

Messages by customers (users of another team) in channels the bot is in open or
continue conversations; messages by agents in a mirror thread of the triage
channel go to the core as StaffMessage; buttons, modals, ``/support`` and the
App Home check the clicker's role here, at the edge, and the core checks again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from supportbot.adapters.bootstrap import App
from supportbot.adapters.slack import blocks as bk
from supportbot.adapters.slack.directory import Directory, slack_error
from supportbot.bot import csat
from supportbot.bot.commands import (
    Actor,
    ApproveDraft,
    ClaimHandoff,
    EditDraft,
    RejectDraft,
    ResolveHandoff,
    StaffMessage,
)
from supportbot.bot.domain import Author, DraftStatus, InboundMessage, Role
from supportbot.bot.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from supportbot.bot.metrics import compute_stats, work_queue

log = logging.getLogger(__name__)

# Message subtypes that are a person writing; everything else (edits, deletions,
# joins, bot messages, ...) is ignored.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
REFUSAL = "Only the support team can do that."
HOME_REFUSAL = "This app is for the support team. Ask your question in your shared support channel."
DRAFT_BUTTONS = ("draft_approve", "draft_edit", "draft_reject")
HANDOFF_BUTTONS = ("handoff_claim", "handoff_resolve")
CSAT_THANKS = "Thanks for rating!"


def unescape(text: str) -> str:
    """Slack delivers &, <, > escaped; the core stores plain text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def ts_to_datetime(ts: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


class SlackHandlers:
    def __init__(
        self, app: App, directory: Directory, client: AsyncWebClient, triage_channel: str, *, workers: int = 2
    ) -> None:
        self.app = app
        self.directory = directory
        self.client = client
        self.triage_channel = triage_channel
        self.tasks: set[asyncio.Task] = set()
        self.loop = asyncio.get_running_loop()  # the main loop, where the core runs
        self._handover = threading.Lock()
        self._pending = 0  # spawned from the HTTP receiver's thread, not started yet
        self._dispatch_wanted = False
        self._pump: asyncio.Task | None = None
        # Messages go through the core a few at a time: the core's storage calls are synchronous, so
        # unbounded concurrency would starve the event loop and delay the acks Slack waits for (3 s).
        self._message_slots = asyncio.Semaphore(workers)
        # ...and in order within a channel: a question and its quick follow-up must not race each other
        # (the core looks the conversation up before its CRM call yields; the loser would fail).
        # channel id -> [lock, number of messages using it]
        self._channel_locks: dict[str, list[Any]] = {}
        # Cards whose edit/reject modal is open (message ts -> message), so the card can be updated on submit.
        self._open_cards: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------ background work
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` on the main loop in the background; callable from any thread."""
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self.loop:
            self._start(coro)
            return
        with self._handover:
            self._pending += 1
        self.loop.call_soon_threadsafe(self._start_handed_over, coro)

    def _start_handed_over(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            self._start(coro)
        finally:
            with self._handover:
                self._pending -= 1

    def _start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = self.loop.create_task(self._guard(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handling a Slack request failed")

    async def _in_order(self, channel: str, coro: Coroutine[Any, Any, Any]) -> None:
        entry = self._channel_locks.setdefault(channel, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0], self._message_slots:
                await coro
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._channel_locks.pop(channel, None)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every background task (including ones they start) has finished."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.tasks or self._pending:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"{len(self.tasks)} Slack tasks still running")
            if self.tasks:
                await asyncio.wait(set(self.tasks), timeout=left)
            else:  # a hand-over from the receiver thread is queued on this loop: let it run
                await asyncio.sleep(0)

    # ------------------------------------------------------------ registration
    def register(self, bolt: AsyncApp) -> None:
        @bolt.event("message")
        async def on_message(body: dict[str, Any]) -> None:
            self.spawn(self._in_order(str((body.get("event") or {}).get("channel")), self.on_message(body)))

        @bolt.event("app_home_opened")
        async def on_home(body: dict[str, Any]) -> None:
            self.spawn(self.on_home(body["event"]))

        for action_id in (*DRAFT_BUTTONS, *HANDOFF_BUTTONS):
            bolt.action(action_id)(self._button_listener(action_id))

        @bolt.action(re.compile(rf"^{bk.CSAT_ACTION}_"))
        async def on_csat(ack, body: dict[str, Any]) -> None:
            await ack()
            self.spawn(self.on_csat(body))

        @bolt.view(bk.EDIT_CALLBACK)
        async def on_edit(ack, body: dict[str, Any]) -> None:
            text = _value(body, bk.EDIT_BLOCK, bk.EDIT_INPUT)
            if not text.strip():
                await ack(response_action="errors", errors={bk.EDIT_BLOCK: "The reply cannot be empty."})
                return
            await ack()
            self.spawn(self.on_modal(body, "edit"))

        @bolt.view(bk.REJECT_CALLBACK)
        async def on_reject(ack, body: dict[str, Any]) -> None:
            if not _value(body, bk.REASON_BLOCK, bk.REASON_INPUT).strip():
                await ack(response_action="errors", errors={bk.REASON_BLOCK: "Say why, so the bot can learn."})
                return
            await ack()
            self.spawn(self.on_modal(body, "reject"))

        @bolt.command("/support")
        async def on_support(ack, body: dict[str, Any], respond) -> None:
            await ack()
            self.spawn(self.on_support(body, respond))

    def _button_listener(self, action_id: str):
        async def listener(ack, body: dict[str, Any]) -> None:
            await ack()
            self.spawn(self.on_button(action_id, body))

        listener.__name__ = f"on_{action_id}"
        return listener

    # ------------------------------------------------------------ messages
    async def on_message(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        if event.get("subtype") not in HUMAN_SUBTYPES or event.get("bot_id") or event.get("bot_profile"):
            return
        user_id, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        me = self.directory.me
        if not user_id or not channel or not ts or (me and user_id == me.user_id):
            return
        thread_ts = event.get("thread_ts")
        reply_to = thread_ts if thread_ts and thread_ts != ts else None
        role, user = await self.directory.role_of(user_id, event.get("user_team"))
        text = unescape(event.get("text") or "")
        if channel == self.triage_channel:
            if reply_to is None or not role.is_staff:
                return  # top-level chatter in triage, or a non-member: not a staff reply
            actor = Actor(user_id, role, user.name if user else "")
            try:
                await self.app.commands.execute(StaffMessage("slack", reply_to, actor, text, ts))
            except NotFound:
                return  # a thread that is not a conversation's mirror
            except (NotAuthorized, InvalidInput, Conflict) as exc:
                log.info("staff message not accepted: %s", exc)
            return
        if role is Role.BOT:
            return
        # Customers' messages open or continue conversations; an agent writing in a customer's thread
        # is a human reply the core records (first response, ownership) and never a question.
        msg = InboundMessage(
            platform="slack",
            workspace_id=body.get("team_id") or event.get("team") or self.directory.team_id,
            channel_id=channel,
            message_id=ts,
            author=Author(
                user_id,
                user.name if user else "",
                role,
                team_id=event.get("user_team") or (user.team_id if user else None),
                email=user.email if user else None,
            ),
            text=text,
            sent_at=ts_to_datetime(ts),
            thread_id=reply_to,
            raw={"event_id": body.get("event_id"), "event": event},
        )
        await self.app.core.handle_inbound(msg, dispatch=False)
        self.kick_dispatch()

    def kick_dispatch(self) -> None:
        """Post what the core queued. One pump serves every message: under load, one outbox pass sends
        the replies of many messages instead of each message scanning the outbox itself."""
        self._dispatch_wanted = True
        if self._pump is None or self._pump.done():
            self._pump = self._start(self._pump_outbox())

    async def _pump_outbox(self) -> None:
        limit = 100
        while True:
            self._dispatch_wanted = False
            stats = await self.app.core.dispatch_outbox(limit)
            if not self._dispatch_wanted and stats.sent + stats.retried + stats.failed < limit:
                return

    # ------------------------------------------------------------ buttons
    async def on_button(self, action_id: str, body: dict[str, Any]) -> None:
        user = body.get("user") or {}
        user_id = user.get("id", "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        action = (body.get("actions") or [{}])[0]
        target = action.get("value") or ""
        role, slack_user = await self.directory.role_of(user_id, user.get("team_id"))
        actor = Actor(user_id, role, slack_user.name if slack_user else "")
        if not role.is_staff or channel != self.triage_channel:
            await self.ephemeral(channel, user_id, REFUSAL)
            return
        message = body.get("message") or {}
        where = {"channel": channel, "message_ts": message.get("ts") or (body.get("container") or {}).get("message_ts")}
        if action_id in ("draft_edit", "draft_reject"):
            if where["message_ts"] and message:
                self._open_cards[where["message_ts"]] = message
                while len(self._open_cards) > 500:
                    self._open_cards.pop(next(iter(self._open_cards)))
            await self.open_modal(action_id, target, body.get("trigger_id", ""), where, user_id)
            return
        command = {"draft_approve": ApproveDraft, "handoff_claim": ClaimHandoff, "handoff_resolve": ResolveHandoff}[
            action_id
        ](target, actor)
        try:
            result = await self.app.commands.execute(command)
        except (NotAuthorized, NotFound, Conflict, InvalidInput) as exc:
            await self.ephemeral(channel, user_id, str(exc))
            return
        outcome = {"draft_approve": "Approved and sent", "handoff_claim": "Claimed", "handoff_resolve": "Resolved"}[
            action_id
        ]
        keep = ("handoff_resolve",) if action_id == "handoff_claim" else ()
        await self.update_card(where, message, f":white_check_mark: {outcome} by <@{user_id}>", keep)
        log.info("%s by %s: %s", action_id, user_id, result.message)

    async def on_csat(self, body: dict[str, Any]) -> None:
        """A CSAT button under the prompt in the customer's thread: only that conversation's customer may rate."""
        user_id = (body.get("user") or {}).get("id", "")
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        message = body.get("message") or {}
        ts = message.get("ts") or container.get("message_ts")
        thread_ts = message.get("thread_ts") or container.get("thread_ts")
        conversation_id, _, value = str((body.get("actions") or [{}])[0].get("value") or "").rpartition(":")
        option = next((o for o in csat.OPTIONS if o["value"] == value), None)
        if option is None or not conversation_id:
            await self.ephemeral(channel, user_id, "Unknown rating.", thread_ts=thread_ts)
            return
        with self.app.core.uow() as uow:
            conv = uow.conversations.get(conversation_id)
            already = conv is not None and conv.customer_id == user_id and csat.has_rating(uow, conversation_id)
        if not already:
            try:
                result = await self.app.core.record_feedback(
                    conversation_id,
                    positive=bool(option["positive"]),
                    score=option.get("score"),
                    user_id=user_id,
                    comment="button",
                    dispatch=False,
                )
            except InvalidInput as exc:
                await self.ephemeral(channel, user_id, str(exc), thread_ts=thread_ts)
                return
            if result.handoff_id:  # a thumbs-down on a bot answer hands the conversation to a person
                self.kick_dispatch()
        if channel and ts:
            blocks = bk.replace_actions(list(message.get("blocks") or []), f":white_check_mark: {CSAT_THANKS}")
            try:
                await self.client.chat_update(channel=channel, ts=ts, text=CSAT_THANKS, blocks=blocks)
            except SlackApiError as exc:
                log.info("chat.update failed: %s", slack_error(exc))

    async def open_modal(
        self, action_id: str, draft_id: str, trigger_id: str, where: dict[str, Any], user_id: str
    ) -> None:
        with self.app.core.uow() as uow:
            draft = uow.drafts.get(draft_id)
        if draft is None or draft.status is not DraftStatus.PENDING:
            state = "gone" if draft is None else f"already {draft.status.value}"
            await self.ephemeral(where["channel"], user_id, f"This draft is {state}.")
            return
        if action_id == "draft_edit":
            view = bk.edit_modal(draft.id, draft.text, where)
        else:
            view = bk.reject_modal(draft.id, self.app.core.classifier.labels(), where)
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("views.open failed: %s", slack_error(exc))
            await self.ephemeral(where["channel"], user_id, "Could not open the form; please click again.")

    async def on_modal(self, body: dict[str, Any], kind: str) -> None:
        user = body.get("user") or {}
        user_id = user.get("id", "")
        view = body.get("view") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        channel = meta.get("channel") or self.triage_channel
        role, slack_user = await self.directory.role_of(user_id, user.get("team_id"))
        actor = Actor(user_id, role, slack_user.name if slack_user else "")
        if not role.is_staff:
            await self.ephemeral(channel, user_id, REFUSAL)
            return
        draft_id = meta.get("draft_id", "")
        if kind == "edit":
            command: EditDraft | RejectDraft = EditDraft(draft_id, actor, _value(body, bk.EDIT_BLOCK, bk.EDIT_INPUT))
            outcome = "Edited and sent"
        else:
            intent = _selected(body, bk.INTENT_BLOCK, bk.INTENT_INPUT)
            command = RejectDraft(draft_id, actor, _value(body, bk.REASON_BLOCK, bk.REASON_INPUT), intent)
            outcome = "Rejected" + (f" (intent: {intent})" if intent else "")
        try:
            await self.app.commands.execute(command)
        except (NotAuthorized, NotFound, Conflict, InvalidInput) as exc:
            await self.ephemeral(channel, user_id, str(exc))
            return
        message = self._open_cards.pop(meta.get("message_ts") or "", None)
        if message is not None:  # else the NOTICE the core posts in the thread says it
            await self.update_card(meta, message, f":white_check_mark: {outcome} by <@{user_id}>", ())

    async def update_card(
        self, where: dict[str, Any], message: dict[str, Any], outcome: str, keep: tuple[str, ...]
    ) -> None:
        """Show who did what on the card and remove the buttons that no longer apply."""
        channel, ts = where.get("channel"), where.get("message_ts")
        if not channel or not ts or not message.get("blocks"):
            return
        blocks = bk.replace_actions(list(message["blocks"]), outcome)
        for block in message["blocks"]:
            if keep and block.get("type") == "actions":
                kept = [e for e in block.get("elements", []) if e.get("action_id") in keep]
                if kept:
                    blocks.append({**block, "elements": kept})
        text = message.get("text") or outcome
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            log.info("chat.update failed: %s", slack_error(exc))

    async def ephemeral(self, channel: str | None, user_id: str, text: str, *, thread_ts: str | None = None) -> None:
        if not channel:
            return
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user_id, text=bk.escape(text), thread_ts=thread_ts
            )
        except SlackApiError as exc:
            log.info("chat.postEphemeral failed: %s", slack_error(exc))

    # ------------------------------------------------------------ /support and App Home
    async def on_support(self, body: dict[str, Any], respond) -> None:
        user_id = body.get("user_id", "")
        role, user = await self.directory.role_of(user_id, body.get("team_id"))
        actor = Actor(user_id, role, user.name if user else "")
        reply = self.app.support.run(actor, body.get("text") or "")
        await respond(text=reply.text, blocks=bk.reply_blocks(reply), response_type="ephemeral", replace_original=False)

    async def on_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        user_id = event["user"]
        role, _ = await self.directory.role_of(user_id)
        if not role.is_staff:
            view = bk.home_view([("Support team only", HOME_REFUSAL)])
        else:
            view = bk.home_view(self.home_sections(role))
        await self.client.views_publish(user_id=user_id, view=view)

    def home_sections(self, role: Role) -> list[tuple[str, str]]:
        core = self.app.core
        now = core.clock.now()
        with core.uow() as uow:
            stats = compute_stats(uow, now - timedelta(days=7), now)
            queue = work_queue(uow)

        def pct(value: float | None) -> str:
            return "—" if value is None else f"{value:.0%}"

        def secs(value: float | None) -> str:
            return "—" if value is None else (f"{value:.0f}s" if value < 90 else f"{value / 60:.0f}m")

        figures = "\n".join(
            [
                f"Conversations: {stats.volume}",
                f"Automated resolution: {pct(stats.automated_resolution_rate)} ({stats.automated_resolutions})",
                f"First response p50 / p90: {secs(stats.first_response_p50_s)} / {secs(stats.first_response_p90_s)}",
                f"Hand-offs: {stats.handoffs} ({pct(stats.handoff_rate)})",
                f"Drafts approved / edited / rejected / pending: {stats.drafts_approved} / {stats.drafts_edited} / "
                f"{stats.drafts_rejected} / {stats.drafts_pending}",
            ]
        )
        lines = [
            f"• {i.kind} {i.id}: {i.summary}" + (f" (claimed by {i.owner})" if i.owner else "") for i in queue[:15]
        ]
        waiting = "\n".join(lines) if lines else "Nothing waiting."
        sections = [("Last 7 days", figures), (f"Work queue ({len(queue)} waiting)", waiting)]
        if role is Role.MANAGER:
            sections.append(("Manager commands", "/support stats [7d|24h|30d] · /support threshold [intent] [value]"))
        return sections


def _value(body: dict[str, Any], block: str, action: str) -> str:
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return str(((values.get(block) or {}).get(action) or {}).get("value") or "")


def _selected(body: dict[str, Any], block: str, action: str) -> str | None:
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    option = ((values.get(block) or {}).get(action) or {}).get("selected_option") or {}
    return option.get("value") or None
