"""Bolt listeners: parse Slack's payloads (``wire``), hand them to the core, render the outcome.

* A customer's message is stored by the core before the listener returns, so
  Slack's 200 means the message is safe; processing and replies follow in the
  background.
* Messages by agents in a mirror thread of the triage channel are staff
  messages (``StaffMessage``).
* Buttons, modals and CSAT go to the core's ``CardActions`` (which checks roles
  and state); ``/support`` and the App Home to ``SupportCommands``.
* Interactions are acknowledged at once and handled in a tracked background task.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from supportbot.adapters.slack import blocks as bk
from supportbot.adapters.slack import wire
from supportbot.adapters.slack.directory import Directory, slack_error
from supportbot.bot.card_actions import DRAFT_EDIT, DRAFT_REJECT, STAFF_ACTIONS, Form
from supportbot.bot.commands import Actor, StaffMessage
from supportbot.bot.core import SupportCore
from supportbot.bot.domain import Author, InboundMessage, Role
from supportbot.bot.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from supportbot.bot.reactions import Reaction

log = logging.getLogger(__name__)

CSAT_THANKS = "Thanks for rating!"


class SlackHandlers:
    def __init__(self, core: SupportCore, directory: Directory, client: AsyncWebClient, triage_channel: str) -> None:
        self.core = core
        self.directory = directory
        self.client = client
        self.triage_channel = triage_channel
        self.tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ background work
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handling a Slack request failed")

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every background task, and the messages they handed to the core, are done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.tasks:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{len(self.tasks)} Slack tasks still running")
            await asyncio.wait(set(self.tasks), timeout=left)
        await self.core.intake.drain(max(0.1, deadline - loop.time()))
        await self.core.dispatcher.drain(max(0.1, deadline - loop.time()))

    # ------------------------------------------------------------ registration
    def register(self, bolt: AsyncApp) -> None:
        @bolt.event("message")
        async def on_message(body: dict[str, Any]) -> None:
            await self.on_message(body)  # stores the message before bolt answers 200

        @bolt.event("reaction_added")
        async def on_reaction(body: dict[str, Any]) -> None:
            self.spawn(self.on_reaction(body))

        @bolt.event("app_home_opened")
        async def on_home(body: dict[str, Any]) -> None:
            self.spawn(self.on_home(body.get("event") or {}))

        for action_id in STAFF_ACTIONS:
            bolt.action(action_id)(self._button_listener())

        @bolt.action(re.compile(rf"^{bk.CSAT_ACTION}_"))
        async def on_csat(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            self.spawn(self.on_csat(body))

        @bolt.view(bk.EDIT_CALLBACK)
        async def on_edit(ack: Any, body: dict[str, Any]) -> None:
            form = wire.parse_submission(body)
            if form is None or not form.values.get(bk.EDIT_BLOCK, "").strip():
                await ack(response_action="errors", errors={bk.EDIT_BLOCK: "The reply cannot be empty."})
                return
            await ack()
            self.spawn(self.on_form(form, DRAFT_EDIT, {"text": form.values[bk.EDIT_BLOCK]}))

        @bolt.view(bk.REJECT_CALLBACK)
        async def on_reject(ack: Any, body: dict[str, Any]) -> None:
            form = wire.parse_submission(body)
            if form is None or not form.values.get(bk.REASON_BLOCK, "").strip():
                await ack(response_action="errors", errors={bk.REASON_BLOCK: "Say why, so the bot can learn."})
                return
            await ack()
            values = {"reason": form.values[bk.REASON_BLOCK], "intent": form.values.get(bk.INTENT_BLOCK, "")}
            self.spawn(self.on_form(form, DRAFT_REJECT, values))

        @bolt.command("/support")
        async def on_support(ack: Any, body: dict[str, Any], respond: Any) -> None:
            await ack()
            self.spawn(self.on_support(body, respond))

    def _button_listener(self) -> Any:
        async def listener(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            press = wire.parse_button(body)
            if press is not None:
                self.spawn(self.on_button(press))

        return listener

    async def actor(self, user_id: str, *team_hints: str | None) -> Actor:
        role, user = await self.directory.role_of(user_id, *team_hints)
        return Actor(user_id, role, user.name if user else "")

    # ------------------------------------------------------------ messages
    async def on_message(self, body: dict[str, Any]) -> None:
        me = self.directory.me
        message = wire.parse_message(body, me.user_id if me else None)
        if message is None:
            return
        if message.channel == self.triage_channel:
            if message.thread_ts is None:
                return  # top-level chatter in triage
            role, user = await self.directory.role_of(message.user, message.user_team)
            if not role.is_staff:
                return  # a non-member in triage: not a staff reply
            # stored (and relayed) before Slack gets its 200, like a customer's message
            await self.on_staff_message(message, Actor(message.user, role, user.name if user else ""))
            return
        # Store first, identify later: a users.info call must not delay Slack's 200. A user we know
        # already is identified now; anyone else is identified by the channel before processing.
        role, user = self.directory.cached_role(message.user, message.user_team) or (Role.UNKNOWN, None)
        if role is Role.BOT:
            return
        # Customers' messages open or continue conversations; an agent writing in a customer's thread
        # is a human reply the core records (first response, ownership) and never a question.
        inbound = InboundMessage(
            platform="slack",
            workspace_id=message.team_id or self.directory.team_id,
            channel_id=message.channel,
            message_id=message.ts,
            author=Author(
                message.user,
                user.name if user else "",
                role,
                team_id=message.user_team or (user.team_id if user else None),
                email=user.email if user else None,
            ),
            text=message.text,
            sent_at=message.sent_at,
            thread_id=message.thread_ts,
            raw={"event_id": body.get("event_id"), "event": body.get("event")},
            mentions_bot=message.mentions_bot,
        )
        await self.core.intake.submit(inbound)

    async def on_reaction(self, body: dict[str, Any]) -> None:
        """An emoji on a message in a customer channel: the core runs agents' workflows (🎫 👀 ✅)."""
        added = wire.parse_reaction(body)
        me = self.directory.me
        if added is None or added.channel == self.triage_channel or (me is not None and added.user == me.user_id):
            return  # our own 👀 / ✅ come back as events too
        role, user = await self.directory.role_of(added.user)
        reaction = Reaction(
            platform="slack",
            workspace_id=added.team_id or self.directory.team_id,
            channel_id=added.channel,
            message_id=added.ts,
            emoji=added.reaction,
            actor=Actor(added.user, role, user.name if user else ""),
        )
        result = await self.core.reactions.react(reaction)
        if result is not None:
            log.info("reaction %s by %s: %s", added.reaction, added.user, result.message)
            if result.ok:
                self.core.dispatcher.kick()

    async def on_staff_message(self, message: wire.Message, actor: Actor) -> None:
        assert message.thread_ts is not None
        try:
            await self.core.commands.execute(
                StaffMessage("slack", message.thread_ts, actor, message.text, message.ts), dispatch=False
            )
        except NotFound:
            return  # a thread that is not a conversation's mirror
        except (NotAuthorized, InvalidInput, Conflict) as exc:
            log.info("staff message not accepted: %s", exc)

    # ------------------------------------------------------------ buttons and forms
    async def on_button(self, press: wire.ButtonPress) -> None:
        actor = await self.actor(press.user, press.user_team)
        if press.channel != self.triage_channel:  # cards live in triage only; anything else is forged
            actor = Actor(actor.user_id, Role.CUSTOMER, actor.display_name)
        outcome = await self.core.actions.press(press.action_id, press.value, actor)
        if outcome.form is not None:
            await self.open_modal(outcome.form, press)
        elif not outcome.ok:
            await self.ephemeral(press.channel, press.user, outcome.message)

    async def open_modal(self, form: Form, press: wire.ButtonPress) -> None:
        where = {"channel": press.channel, "message_ts": press.message_ts}
        if form.action_id == DRAFT_EDIT:
            view = bk.edit_modal(form.draft_id, form.draft_text, where)
        else:
            view = bk.reject_modal(form.draft_id, form.intents, where)
        try:
            await self.client.views_open(trigger_id=press.trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("views.open failed: %s", slack_error(exc))
            await self.ephemeral(press.channel, press.user, "Could not open the form; please click again.")

    async def on_form(self, form: wire.FormSubmission, action_id: str, values: dict[str, str]) -> None:
        actor = await self.actor(form.user, form.user_team)
        outcome = await self.core.actions.submit(action_id, form.draft_id, actor, values)
        if not outcome.ok:
            await self.ephemeral(form.channel or self.triage_channel, form.user, outcome.message)

    async def on_csat(self, body: dict[str, Any]) -> None:
        """A CSAT button under the prompt in the customer's thread: the core lets its customer rate once."""
        press = wire.parse_button(body)
        if press is None:
            return
        conversation_id, _, value = press.value.rpartition(":")
        outcome = await self.core.actions.rate(conversation_id, value, press.user)
        if not outcome.ok:  # someone else's conversation, or rated before
            await self.ephemeral(press.channel, press.user, outcome.message, thread_ts=press.thread_ts)
            return
        if press.channel and press.message_ts:
            message = body.get("message") or {}
            blocks = bk.replace_actions(list(message.get("blocks") or []), f":white_check_mark: {CSAT_THANKS}")
            try:
                await self.client.chat_update(
                    channel=press.channel, ts=press.message_ts, text=CSAT_THANKS, blocks=blocks
                )
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
    async def on_support(self, body: dict[str, Any], respond: Any) -> None:
        actor = await self.actor(str(body.get("user_id") or ""), body.get("team_id"))
        reply = await self.core.support.run(actor, str(body.get("text") or ""))
        await respond(text=reply.text, blocks=bk.reply_blocks(reply), response_type="ephemeral", replace_original=False)

    async def on_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        actor = await self.actor(str(event["user"]))
        reply = await self.core.support.home(actor)
        if reply.ok:
            view = bk.home_view([(card.title, card.body) for card in reply.cards])
        else:
            view = bk.home_view([("Support team only", reply.text)])
        await self.client.views_publish(user_id=actor.user_id, view=view)
