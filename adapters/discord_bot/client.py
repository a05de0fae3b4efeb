"""The discord.py client: inbound messages, staff buttons and modals, ``/support``.

Inbound: a forum post in a support forum, or a message in a support text
channel, starts a conversation; replies in its thread continue it. Messages in
a mirror thread of the triage channel are staff messages (relayed to the
customer unless they start with the note marker).

Buttons are persistent: their ``custom_id`` is ``<action>:<id>`` and a
``DynamicItem`` parses it, so a button keeps working after a restart. Modals
are not kept in memory either: their submissions are routed by ``custom_id``
in ``on_interaction``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import discord
import yarl
from discord import app_commands

from supportbot.adapters.discord_bot import render
from supportbot.adapters.discord_bot.config import DEFAULT_API_URL, DiscordConfig
from supportbot.adapters.discord_bot.wire import to_plain
from supportbot.bot.card_actions import DRAFT_EDIT, DRAFT_REJECT, STAFF_ACTIONS, Outcome
from supportbot.bot.commands import Actor, StaffMessage
from supportbot.bot.domain import OUT_OF_SCOPE, Author, ConversationStatus, InboundMessage, Role
from supportbot.bot.errors import ConfigurationError, Conflict, InvalidInput, NotAuthorized, NotFound
from supportbot.bot.reactions import Reaction

if TYPE_CHECKING:
    from supportbot.bot.core import SupportCore

log = logging.getLogger(__name__)

PLATFORM = "discord"
REFUSAL = "Only members with the support agent role can do that."  # what "support team" means on Discord
EDIT_MODAL, REJECT_MODAL = "draft_edit_modal", "draft_reject_modal"
MODAL_ACTIONS = {EDIT_MODAL: DRAFT_EDIT, REJECT_MODAL: DRAFT_REJECT}
THREAD_NAMES_KEPT = 5000  # bounded memo of thread names / thread parents

# --------------------------------------------------------------------------- REST base
# discord.py builds every URL from the class attribute ``discord.http.Route.BASE``
# (the webhook/interaction adapter uses the same class). It is process-wide, so
# clients pointing at different REST bases cannot run in one process; we count
# the clients using it and refuse a conflicting one instead of silently mixing.
_base_users = 0


def _acquire_api_base(url: str) -> None:
    global _base_users
    if _base_users and url != discord.http.Route.BASE:
        raise ConfigurationError(
            "SUPPORTBOT_DISCORD_API_URL",
            f"another Discord client in this process already uses {discord.http.Route.BASE}",
        )
    discord.http.Route.BASE = url
    _base_users += 1


@contextlib.contextmanager
def api_base(url: str) -> Iterator[None]:
    """Use ``url`` as the REST base while the block runs (a short-lived client, e.g. to sync commands)."""
    _acquire_api_base(url)
    try:
        yield
    finally:
        _release_api_base()


def _release_api_base() -> None:
    global _base_users
    _base_users = max(0, _base_users - 1)
    if _base_users == 0:
        discord.http.Route.BASE = DEFAULT_API_URL


# --------------------------------------------------------------------------- persistent buttons
class StaffButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"(?P<action>" + "|".join(STAFF_ACTIONS) + r"):(?P<target>[A-Za-z0-9_\-]{1,90})",
):
    """A card button; survives restarts because everything it needs is in its custom_id."""

    def __init__(self, action: str, target: str, *, label: str = "…", style: int = 2) -> None:
        super().__init__(
            discord.ui.Button(label=label, style=discord.ButtonStyle(style), custom_id=render.custom_id(action, target))
        )
        self.action, self.target = action, target

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: Any, /
    ) -> StaffButton:
        return cls(match["action"], match["target"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        assert isinstance(client, SupportClient)
        await client.on_staff_button(interaction, self.action, self.target)


class CsatButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"csat:(?P<conversation>[A-Za-z0-9_\-]{1,80}):(?P<value>up|down|[1-5])",
):
    """A satisfaction rating button under the core's CSAT prompt (customer-facing, persistent)."""

    def __init__(self, conversation_id: str, value: str, *, label: str = "…") -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.secondary, custom_id=f"csat:{conversation_id}:{value}"
            )
        )
        self.conversation_id, self.value = conversation_id, value

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: Any, /) -> CsatButton:
        return cls(match["conversation"], match["value"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        assert isinstance(client, SupportClient)
        await client.on_csat(interaction, self.conversation_id, self.value)


def csat_view(conversation_id: str, options: list[dict[str, Any]]) -> discord.ui.View | None:
    """The CSAT options as buttons: 👍/👎 on one row, 1-5 on the next."""
    if not options:
        return None
    view = discord.ui.View(timeout=None)
    for option in options[:25]:
        value = str(option.get("value", ""))
        if not re.fullmatch(r"up|down|[1-5]", value):
            continue
        item = CsatButton(conversation_id, value, label=str(option.get("label") or value))
        item.row = 0 if value in ("up", "down") else 1
        view.add_item(item)
    return view


def view_for(buttons: list[dict[str, Any]]) -> discord.ui.View | None:
    """A persistent view (timeout=None) from rendered button rows."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for row_index, row in enumerate(buttons):
        for button in row["components"]:
            action, _, target = button["custom_id"].partition(":")
            item = StaffButton(action, target, label=button["label"], style=button["style"])
            item.row = row_index
            view.add_item(item)
    return view


# --------------------------------------------------------------------------- the client
class SupportClient(discord.Client):
    def __init__(self, core: SupportCore, config: DiscordConfig, **options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # GUILD_CREATE (channels, roles, threads), THREAD_*
        intents.guild_messages = True  # MESSAGE_CREATE in guild channels and threads
        intents.guild_reactions = True  # MESSAGE_REACTION_ADD: agents' emoji workflows (🎫 👀 ✅)
        intents.message_content = True  # privileged: the text of customers' questions
        super().__init__(
            intents=intents, allowed_mentions=discord.AllowedMentions.none(), max_ratelimit_timeout=30.0, **options
        )
        self.core = core
        self.config = config
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(support_group())
        self.gateway_url: str | None = config.gateway_url
        self.thread_names: dict[int, str] = {}  # top-level message id -> name for its thread
        self._thread_parents: dict[int, int | None] = {}  # uncached channel id -> parent id (None: not a thread)
        self._tags_sent: dict[int, set[int]] = {}  # forum post -> tags last applied by us
        self._tasks: set[asyncio.Task] = set()
        self._base_acquired = False

    # ---------------------------------------------------------------- lifecycle
    async def login(self, token: str) -> None:
        if not self._base_acquired:
            _acquire_api_base(self.config.api_url)
            self._base_acquired = True
        await super().login(token)

    async def close(self) -> None:
        try:
            if self._tasks:  # let in-flight posts after a click finish while the HTTP session is open
                await asyncio.wait(list(self._tasks), timeout=5)
            await super().close()
        finally:
            if self._base_acquired:
                self._base_acquired = False
                _release_api_base()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(StaffButton, CsatButton)
        if self.gateway_url is None:
            # discord.py's Client connects to its built-in gateway; ask the REST API
            # (GET /gateway/bot) like Discord documents, so a custom REST base brings its gateway.
            _, url, _ = await self.http.get_bot_gateway()
            self.gateway_url = url
        default = str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        connect = self.http.ws_connect
        gateway = yarl.URL(self.gateway_url)

        async def ws_connect(url: str, *, compress: int = 0):
            if url.startswith(default):  # first connect, or after an invalidated session
                url = str(gateway.with_query(yarl.URL(url).query))
            return await connect(url, compress=compress)

        self.http.ws_connect = ws_connect  # type: ignore[method-assign]

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def idle(self, timeout: float = 5.0) -> None:
        """Wait until background work (dispatches after interactions) is done; for tests."""
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*list(self._tasks), return_exceptions=True), timeout)

    # ---------------------------------------------------------------- roles
    def role_of(self, user: discord.abc.User | discord.Member) -> Role:
        roles = {r.id for r in getattr(user, "roles", ())}
        if self.config.manager_role is not None and self.config.manager_role in roles:
            return Role.MANAGER
        if self.config.agent_role in roles:
            return Role.AGENT
        return Role.CUSTOMER

    def actor_of(self, user: discord.abc.User | discord.Member) -> Actor:
        return Actor(str(user.id), self.role_of(user), user.display_name)

    # ---------------------------------------------------------------- messages
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        channel_id = message.channel.id
        parent_id = await self._parent_of(message.channel)
        if parent_id is not None:  # a thread
            if parent_id in self.config.support_channels:
                # Forum post starter (id == thread id) or a reply: both map to the thread's root.
                await self._customer_message(message, channel_id=parent_id, thread_id=channel_id)
            elif parent_id == self.config.triage_channel:
                await self._staff_message(message, channel_id)
        elif channel_id in self.config.support_channels:
            self.thread_names[message.id] = render.thread_name(
                message.content, f"Question from {message.author.display_name}"
            )
            while len(self.thread_names) > THREAD_NAMES_KEPT:
                self.thread_names.pop(next(iter(self.thread_names)))
            await self._customer_message(message, channel_id=channel_id, thread_id=None)

    # ---------------------------------------------------------------- agents' emoji workflows
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """🎫 / 👀 / ✅ by an agent on a customer's message; the core checks the role and what it means."""
        if payload.guild_id is None or payload.member is None or payload.member.bot:
            return
        if self.user is not None and payload.user_id == self.user.id:
            return
        channel = self.get_channel(payload.channel_id) or self.get_partial_messageable(payload.channel_id)
        parent_id = await self._parent_of(channel)
        support_channel = parent_id if parent_id is not None else payload.channel_id
        if support_channel not in self.config.support_channels:
            return
        reaction = Reaction(
            platform=PLATFORM,
            workspace_id=str(payload.guild_id),
            channel_id=str(support_channel),
            message_id=str(payload.message_id),
            emoji=render.emoji_name(str(payload.emoji.name or "")),
            actor=self.actor_of(payload.member),
        )
        result = await self.core.reactions.react(reaction)
        if result is not None:
            log.info("reaction %s by %s: %s", reaction.emoji, reaction.actor.user_id, result.message)
            if result.ok and result.conversation_id:
                await self.core.dispatcher.drain()
                await self.sync_forum_tags(result.conversation_id)

    async def _parent_of(self, channel: Any) -> int | None:
        """The parent channel id when ``channel`` is a thread, else None.

        Threads missing from the cache (archived before we connected, so absent from
        GUILD_CREATE) are looked up once over REST and remembered.
        """
        if isinstance(channel, discord.Thread):
            return channel.parent_id
        if not isinstance(channel, discord.PartialMessageable):
            return None
        if channel.id not in self._thread_parents:
            try:
                fetched = await self.fetch_channel(channel.id)
            except discord.HTTPException as exc:
                log.warning("cannot look up channel %s: %s", channel.id, exc)
                return None
            self._thread_parents[channel.id] = fetched.parent_id if isinstance(fetched, discord.Thread) else None
            while len(self._thread_parents) > THREAD_NAMES_KEPT:
                self._thread_parents.pop(next(iter(self._thread_parents)))
        return self._thread_parents[channel.id]

    def _text_of(self, message: discord.Message) -> tuple[str, bool]:
        """The message as plain text (mentions by name, attachments listed), and whether it mentions us."""
        me = self.user.id if self.user else None
        text, mentioned = to_plain(
            message.content,
            bot_id=me,
            users={u.id: u.display_name for u in message.mentions},
            roles={r.id: r.name for r in message.role_mentions},
            channels={c.id: getattr(c, "name", str(c.id)) for c in message.channel_mentions},
        )
        parts = [text, *(f"[attachment: {a.filename} {a.url}]" for a in message.attachments)]
        return "\n".join(p for p in parts if p), mentioned

    async def _customer_message(self, message: discord.Message, *, channel_id: int, thread_id: int | None) -> None:
        assert message.guild is not None
        text, mentioned = self._text_of(message)
        inbound = InboundMessage(
            platform=PLATFORM,
            workspace_id=str(message.guild.id),
            channel_id=str(channel_id),
            message_id=str(message.id),
            author=Author(str(message.author.id), message.author.display_name, self.role_of(message.author)),
            text=text,
            sent_at=message.created_at,
            thread_id=str(thread_id) if thread_id is not None else None,
            raw={
                "guild_id": str(message.guild.id),
                "channel_id": str(message.channel.id),
                "message_id": str(message.id),
            },
            mentions_bot=mentioned,
        )
        processed = await self.core.intake.submit(inbound)  # stored now; processed in the background

        async def tag_when_processed() -> None:
            result = await processed
            if result.status in ("processed", "relayed") and result.conversation_id:
                await self.sync_forum_tags(result.conversation_id)

        self.spawn(tag_when_processed())

    async def _staff_message(self, message: discord.Message, thread_id: int) -> None:
        actor = self.actor_of(message.author)
        if not actor.role.is_staff:
            log.info("ignoring a message from a non-agent in triage thread %s", thread_id)
            return
        text, _ = self._text_of(message)
        command = StaffMessage(PLATFORM, str(thread_id), actor, text, str(message.id))
        try:
            await self.core.commands.execute(command, dispatch=False)
        except NotFound:
            return  # a thread in triage that mirrors no conversation: staff chatting
        except (NotAuthorized, InvalidInput, Conflict) as exc:
            log.info("staff message in %s not relayed: %s", thread_id, exc)

    # ---------------------------------------------------------------- forum tags
    async def sync_forum_tags(self, conversation_id: str) -> None:
        """Apply the forum tags named like the conversation's intent and status, if the forum has them."""
        try:

            def read(uow: Any) -> tuple[Any, bool]:
                conv = uow.conversations.get(conversation_id)
                return conv, conv is not None and self.core.intake.modes.mode(uow, conv.channel_id).posts

            conv, posts = await self.core.db.read(read)
            if conv is None or conv.platform != PLATFORM or not posts:  # shadow or off: nothing customers see
                return
            forum = self.get_channel(int(conv.channel_id))
            if not isinstance(forum, discord.ForumChannel):
                return
            thread = forum.get_thread(int(conv.thread_id))
            if thread is None:
                return
            managed = {
                render.tag_key(x)
                for x in (*self.core.classifier.labels(), OUT_OF_SCOPE, *(s.value for s in ConversationStatus))
            }
            by_key = {render.tag_key(t.name): t for t in forum.available_tags}
            wanted = [
                by_key[k] for k in (render.tag_key(conv.intent or ""), render.tag_key(conv.status.value)) if k in by_key
            ]
            keep = [t.id for t in thread.applied_tags if render.tag_key(t.name) not in managed]
            new = (keep + [t.id for t in wanted if t.id not in keep])[:5]
            if set(new) != {t.id for t in thread.applied_tags} and self._tags_sent.get(thread.id) != set(new):
                # noted before the request: a second sync of the same change (after processing, after a post)
                # that runs while this one awaits sends nothing; until THREAD_UPDATE refreshes the cache
                previous = self._tags_sent.get(thread.id)
                self._tags_sent[thread.id] = set(new)
                while len(self._tags_sent) > THREAD_NAMES_KEPT:
                    self._tags_sent.pop(next(iter(self._tags_sent)))
                try:
                    await self.http.edit_channel(thread.id, applied_tags=[str(i) for i in new])
                except discord.HTTPException:
                    if previous is None:
                        self._tags_sent.pop(thread.id, None)
                    else:
                        self._tags_sent[thread.id] = previous
                    raise
        except (discord.HTTPException, ValueError) as exc:
            log.warning("could not update forum tags of %s: %s", conversation_id, exc)

    # ---------------------------------------------------------------- buttons and modals
    async def on_staff_button(self, interaction: discord.Interaction, action: str, target: str) -> None:
        outcome = await self.core.actions.press(action, target, self.actor_of(interaction.user))
        if outcome.form is not None:
            form = outcome.form
            modal = edit_modal(target, form.draft_text) if action == DRAFT_EDIT else reject_modal(target, form.intents)
            modal.stop()  # not kept in memory: the submission is routed by custom_id in on_interaction
            await interaction.response.send_modal(modal)
            return
        await self.answer(interaction, outcome)

    async def on_csat(self, interaction: discord.Interaction, conversation_id: str, value: str) -> None:
        outcome = await self.core.actions.rate(conversation_id, value, str(interaction.user.id))
        await interaction.response.send_message(
            render.content(outcome.message if not outcome.ok else "Thanks for your feedback!"), ephemeral=True
        )

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
        kind, _, target = str(data.get("custom_id", "")).partition(":")
        if kind not in MODAL_ACTIONS or not target:
            return
        values = modal_values(data.get("components", []))
        outcome = await self.core.actions.submit(MODAL_ACTIONS[kind], target, self.actor_of(interaction.user), values)
        await self.answer(interaction, outcome)

    async def answer(self, interaction: discord.Interaction, outcome: Outcome) -> None:
        """Tell the clicker within Discord's 3 s (ephemeral), then keep forum tags in step."""
        message = REFUSAL if isinstance(outcome.error, NotAuthorized) else outcome.message or "Done."
        await interaction.response.send_message(render.content(message), ephemeral=True)
        if outcome.ok and outcome.conversation_id:
            conversation_id = outcome.conversation_id

            async def after() -> None:
                await self.core.dispatcher.drain()
                await self.sync_forum_tags(conversation_id)

            self.spawn(after())

    # ---------------------------------------------------------------- /support
    async def run_support(self, interaction: discord.Interaction, text: str) -> None:
        reply = await self.core.support.run(self.actor_of(interaction.user), text)
        embeds = [discord.Embed.from_dict(render.embed_dict(card)) for card in reply.cards[:10]]
        await interaction.response.send_message(render.content(reply.text), embeds=embeds, ephemeral=True)


def edit_modal(draft_id: str, text: str) -> discord.ui.Modal:
    modal = discord.ui.Modal(title="Edit draft before sending", custom_id=f"{EDIT_MODAL}:{draft_id}", timeout=None)
    modal.add_item(
        discord.ui.TextInput(
            label="Reply to send to the customer",
            custom_id="text",
            style=discord.TextStyle.paragraph,
            default=text[:4000],
            max_length=4000,
        )
    )
    return modal


def reject_modal(draft_id: str, intents: tuple[str, ...]) -> discord.ui.Modal:
    modal = discord.ui.Modal(title="Reject draft", custom_id=f"{REJECT_MODAL}:{draft_id}", timeout=None)
    modal.add_item(
        discord.ui.TextInput(
            label="Why is this draft wrong?", custom_id="reason", style=discord.TextStyle.paragraph, max_length=1000
        )
    )
    modal.add_item(
        discord.ui.TextInput(
            label="Right intent (optional)",
            custom_id="intent",
            required=False,
            placeholder=render.clip(", ".join(intents), 100),
            max_length=100,
        )
    )
    return modal


def modal_values(components: list[dict[str, Any]]) -> dict[str, str]:
    """custom_id -> value from a MODAL_SUBMIT (action rows of text inputs, or labels wrapping one)."""
    values: dict[str, str] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "custom_id" in item and "value" in item:
                values[item["custom_id"]] = str(item["value"])
            walk(item.get("components", []))
            if isinstance(item.get("component"), dict):
                walk([item["component"]])

    walk(components)
    return values


async def _run_support(interaction: discord.Interaction, text: str) -> None:
    client = interaction.client
    assert isinstance(client, SupportClient)
    await client.run_support(interaction, text)


def support_group() -> app_commands.Group:
    """The ``/support`` group; its callbacks run on the client that received the interaction."""
    group = app_commands.Group(name="support", description="Support team commands", guild_only=True)

    @group.command(name="help", description="What /support can do")
    async def help_(interaction: discord.Interaction) -> None:
        await _run_support(interaction, "help")

    @group.command(name="queue", description="Open hand-offs and drafts awaiting approval (agents)")
    async def queue(interaction: discord.Interaction) -> None:
        await _run_support(interaction, "queue")

    @group.command(name="sla", description="Conversations at risk of missing their SLA (agents)")
    async def sla(interaction: discord.Interaction) -> None:
        await _run_support(interaction, "sla")

    @group.command(name="stats", description="Volume, automation rate, first response (managers)")
    @app_commands.describe(period="How far back, e.g. 24h, 7d or 4w (default 7d)")
    async def stats(interaction: discord.Interaction, period: str | None = None) -> None:
        await _run_support(interaction, f"stats {period}" if period else "stats")

    @group.command(name="threshold", description="Show or set automation thresholds (managers)")
    @app_commands.describe(intent="Intent to show or change", value="New threshold between 0 and 1")
    async def threshold(
        interaction: discord.Interaction,
        intent: str | None = None,
        value: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        parts = ["threshold", *([intent] if intent else []), *([f"{value:g}"] if value is not None else [])]
        await _run_support(interaction, " ".join(parts))

    @group.command(name="failed", description="Replies and cards the bot gave up delivering (agents)")
    async def failed(interaction: discord.Interaction) -> None:
        await _run_support(interaction, "failed")

    @group.command(name="retry", description="Send failed items again (managers)")
    @app_commands.describe(items="Outbound ids from /support failed, separated by spaces, or all")
    async def retry(interaction: discord.Interaction, items: str) -> None:
        await _run_support(interaction, f"retry {items}")

    @group.command(name="mode", description="Channels' modes; set one: auto, draft-only, shadow or off (managers)")
    @app_commands.describe(channel="The support channel (#mention or id)", mode="What the bot may do there")
    async def mode(
        interaction: discord.Interaction,
        channel: str | None = None,
        mode: Literal["auto", "draft-only", "shadow", "off"] | None = None,
    ) -> None:
        await _run_support(interaction, " ".join(["mode", *([channel] if channel else []), *([mode] if mode else [])]))

    model = app_commands.Group(name="model", description="Model versions (managers)", parent=group)

    @model.command(name="list", description="Registered model versions and the current one")
    async def model_list(interaction: discord.Interaction) -> None:
        await _run_support(interaction, "model")

    @model.command(name="promote", description="Make a candidate model the current one")
    @app_commands.describe(version="Version as /support model list shows it", force="Skip the precision guard")
    async def model_promote(interaction: discord.Interaction, version: str, force: bool = False) -> None:
        await _run_support(interaction, f"model promote {version}" + (" force" if force else ""))

    @model.command(name="rollback", description="Return to the model that was current before")
    async def model_rollback(interaction: discord.Interaction) -> None:
        await _run_support(interaction, "model rollback")

    return group
