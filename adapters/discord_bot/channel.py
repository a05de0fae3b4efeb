"""``Channel`` port for Discord: posts the core's Outbound items through discord.py's REST client.

Customer audience -> the conversation's thread (created from the question on
first use in a text channel; a forum post is its own thread). Staff audience ->
the triage channel: MIRROR_OPEN posts the context card there and starts a
thread on it (its id is the conversation's staff_thread_id); everything else
goes into that thread. Errors become ``RateLimited`` / ``DeliveryError`` so the
core's outbox retries them (also after a restart).
"""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord

from supportbot.adapters.discord_bot import render
from supportbot.adapters.discord_bot.config import DiscordConfig
from supportbot.adapters.markdown import discord_markdown, outbound_text
from supportbot.bot.cards import Card
from supportbot.bot.domain import Audience, Delivery, Outbound, OutboundKind
from supportbot.bot.errors import DeliveryError, RateLimited
from supportbot.bot.operations import report_chart
from supportbot.bot.ports import Channel

if TYPE_CHECKING:
    from supportbot.adapters.discord_bot.client import SupportClient

log = logging.getLogger(__name__)

THREAD_ALREADY_EXISTS = 160004  # "A thread has already been created for this message"
ARCHIVE_MINUTES: Literal[10080] = 10080  # a week: questions may take days


class DiscordChannel(Channel):
    platform = "discord"

    def __init__(self, config: DiscordConfig) -> None:
        self.config = config
        self.client: SupportClient | None = None
        self._mirror_posts: dict[str, int] = {}  # outbound id -> triage message already posted (retry safety)

    async def send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        if self.client is None or self.client.is_closed():
            raise DeliveryError("the Discord client is not running")
        try:
            external_id = await self._send(outbound, delivery)
        except discord.RateLimited as exc:  # discord.py gave up waiting (retry_after > max_ratelimit_timeout)
            raise RateLimited(exc.retry_after) from None
        except discord.HTTPException as exc:
            raise _delivery_error(exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"network error talking to Discord: {type(exc).__name__}") from None
        # The conversation's status may have changed (answered, resolved by anyone): keep forum tags in step.
        if (
            outbound.audience is Audience.CUSTOMER
            and outbound.conversation_id
            and delivery.channel_id
            and isinstance(self.client.get_channel(int(delivery.channel_id)), discord.ForumChannel)
        ):
            await self.client.sync_forum_tags(outbound.conversation_id)
        return external_id

    async def _send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        assert self.client is not None
        if outbound.kind is OutboundKind.REACTION:
            await self._react(outbound, delivery)
            return None
        if outbound.audience is Audience.CUSTOMER:
            return await self._to_customer(outbound, delivery)
        if outbound.kind is OutboundKind.MIRROR_OPEN:
            return await self._open_mirror(outbound)
        if outbound.kind is OutboundKind.CARD_UPDATE:
            return await self._update_card(outbound, delivery)
        # Staff and managers: the triage channel or a mirror thread in it, never a customer channel.
        target = int(delivery.thread_id) if outbound.audience is Audience.STAFF and delivery.thread_id else None
        if target is not None:
            self._check_staff_thread(target)
        return await self._post(target or self.config.triage_channel, outbound)

    # ------------------------------------------------------------------ customer side
    async def _to_customer(self, outbound: Outbound, delivery: Delivery) -> str:
        if delivery.channel_id is None:
            raise DeliveryError("customer delivery without a channel", permanent=True)
        channel_id = int(delivery.channel_id)
        if channel_id not in self.config.support_channels:
            raise DeliveryError(f"channel {channel_id} is not a configured support channel", permanent=True)
        target = channel_id
        if delivery.thread_id:
            target = int(delivery.thread_id)
            await self._ensure_thread(channel_id, target)
        kwargs: dict[str, Any] = {
            "content": render.content(outbound_text(outbound, discord_markdown, str)),
            "allowed_mentions": discord.AllowedMentions.none(),
            "suppress_embeds": True,  # the cited link is in the text; no preview card under the answer
            "nonce": _nonce(outbound),
        }
        if outbound.payload.get("csat") and outbound.payload.get("conversation_id"):
            from supportbot.adapters.discord_bot.client import csat_view

            view = csat_view(str(outbound.payload["conversation_id"]), outbound.payload.get("options") or [])
            if view is not None:
                kwargs["view"] = view
        message = await self._partial(target).send(**kwargs)
        return str(message.id)

    async def _ensure_thread(self, channel_id: int, root_id: int) -> None:
        """A question in a text channel gets a public thread (id == the question's id) on first reply."""
        assert self.client is not None
        parent = self.client.get_channel(channel_id)
        if isinstance(parent, discord.ForumChannel) or self.client.get_channel(root_id) is not None:
            return  # forum posts are threads already; a known thread exists
        name = self.client.thread_names.get(root_id) or "Support question"
        try:
            await self.client.http.start_thread_with_message(
                channel_id, root_id, name=name, auto_archive_duration=ARCHIVE_MINUTES
            )
        except discord.HTTPException as exc:
            if exc.code != THREAD_ALREADY_EXISTS:
                raise

    async def _react(self, outbound: Outbound, delivery: Delivery) -> None:
        assert self.client is not None
        message_id = delivery.reply_to_message_id or outbound.payload.get("message_external_id")
        if not message_id or delivery.channel_id is None:
            return
        channel_id = int(delivery.channel_id)
        parent = self.client.get_channel(channel_id)
        # The root of a forum post lives in the post's thread; a text-channel question in the channel;
        # any later message in the thread.
        if delivery.thread_id and (isinstance(parent, discord.ForumChannel) or message_id != delivery.thread_id):
            channel_id = int(delivery.thread_id)
        await self.client.http.add_reaction(
            channel_id, int(message_id), render.emoji_for(outbound.payload.get("emoji") or outbound.text)
        )

    # ------------------------------------------------------------------ staff side
    async def _open_mirror(self, outbound: Outbound) -> str:
        assert self.client is not None
        triage = self.config.triage_channel
        message_id = self._mirror_posts.get(outbound.id)
        if message_id is None:
            message = await self._post_message(triage, outbound)
            message_id = self._mirror_posts[outbound.id] = message.id
        card = _card(outbound)
        name = render.thread_name(card.title if card else outbound.text, "Conversation")
        try:
            thread = await self.client.http.start_thread_with_message(
                triage, message_id, name=name, auto_archive_duration=ARCHIVE_MINUTES
            )
            thread_id = thread["id"]
        except discord.HTTPException as exc:
            if exc.code != THREAD_ALREADY_EXISTS:
                raise
            thread_id = message_id  # a thread started from a message has the message's id
        self._mirror_posts.pop(outbound.id, None)
        return str(thread_id)

    async def _update_card(self, outbound: Outbound, delivery: Delivery) -> str:
        """A settled card: the outcome in its footer, only the buttons still left (often none)."""
        assert self.client is not None
        if not delivery.thread_id or not delivery.edit_message_id:
            raise DeliveryError("no card to update", permanent=True)
        thread_id = int(delivery.thread_id)
        self._check_staff_thread(thread_id)
        card = Card.from_dict(outbound.payload["card"])
        outcome = outbound.payload.get("outcome") or {}
        footer = f"✅ {outcome.get('text')} by {outcome.get('by_name') or 'supportbot'}"
        card = replace(card, footer=f"{footer} · {card.footer}" if card.footer else footer)
        from supportbot.adapters.discord_bot.client import view_for

        view = view_for(render.components(card))
        # The card is the thread's starter message, which lives in the triage channel (same id as the thread).
        channel_id = self.config.triage_channel if delivery.edit_message_id == delivery.thread_id else thread_id
        message = self._partial(channel_id).get_partial_message(int(delivery.edit_message_id))
        await message.edit(embed=discord.Embed.from_dict(render.embed_dict(card)), view=view)
        return delivery.edit_message_id

    def _check_staff_thread(self, thread_id: int) -> None:
        assert self.client is not None
        thread = self.client.get_channel(thread_id)
        if isinstance(thread, discord.Thread) and thread.parent_id != self.config.triage_channel:
            raise DeliveryError(f"refusing to post staff content in {thread_id}: not a triage thread", permanent=True)

    async def _post(self, channel_id: int, outbound: Outbound) -> str:
        return str((await self._post_message(channel_id, outbound)).id)

    async def _post_message(self, channel_id: int, outbound: Outbound) -> discord.Message:
        card = _card(outbound)
        if card is not None and card.link is None:
            card = replace(card, link=await self._conversation_link(outbound))
        kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none(), "nonce": _nonce(outbound)}
        if card is None:
            kwargs["content"] = render.content(outbound_text(outbound, discord_markdown, str))
            # SLA escalations name who must act; ping exactly them and nobody else.
            mentioned = [int(m) for m in outbound.payload.get("mentions") or () if str(m).isdigit()]
            if mentioned and outbound.audience is not Audience.CUSTOMER:
                pings = " ".join(f"<@{m}>" for m in mentioned)
                kwargs["content"] = render.content(f"{pings} {outbound_text(outbound, discord_markdown, str)}")
                kwargs["allowed_mentions"] = discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(id=m) for m in mentioned]
                )
            chart = report_chart(outbound)
            if chart is not None:  # the weekly report: the chart as an attachment (multipart/form-data)
                kwargs["file"] = discord.File(
                    io.BytesIO(chart[1]), filename=chart[0], description="Weekly support chart"
                )
        else:
            from supportbot.adapters.discord_bot.client import view_for

            kwargs["embed"] = discord.Embed.from_dict(render.embed_dict(card))
            view = view_for(render.components(card))
            if view is not None:
                kwargs["view"] = view
        return await self._partial(channel_id).send(**kwargs)

    async def _conversation_link(self, outbound: Outbound) -> str | None:
        """Jump link to the customer's thread, so the card's title opens the conversation."""
        assert self.client is not None
        if not outbound.conversation_id:
            return None
        conversation_id = outbound.conversation_id
        conv = await self.client.core.db.read(lambda uow: uow.conversations.get(conversation_id))
        if conv is None or conv.platform != self.platform:
            return None
        return f"https://discord.com/channels/{conv.workspace_id}/{conv.thread_id}"

    def _partial(self, channel_id: int) -> discord.PartialMessageable:
        assert self.client is not None
        guild_id = self.client.guilds[0].id if len(self.client.guilds) == 1 else None
        return self.client.get_partial_messageable(channel_id, guild_id=guild_id)


def _nonce(outbound: Outbound) -> str:
    """The outbound id as the message nonce: discord.py sends it with enforce_nonce, so a re-send
    after a crash (within Discord's few minutes) returns the first message instead of a second."""
    return outbound.id[-25:]


def _card(outbound: Outbound) -> Card | None:
    data = outbound.payload.get("card")
    return Card.from_dict(data) if isinstance(data, dict) else None


def _delivery_error(exc: discord.HTTPException) -> DeliveryError:
    status = exc.status
    if status == 429:  # discord.py gave up after its own retries
        retry_after = _retry_after(exc)
        return RateLimited(retry_after)
    detail = f"Discord {status} ({exc.code}): {exc.text}"[:300]
    if status >= 500:
        return DeliveryError(detail)
    # 403 Missing Access / 404 Unknown Channel and other 4xx: retrying the same request cannot help.
    return DeliveryError(detail, permanent=True)


def _retry_after(exc: discord.HTTPException) -> float:
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(header) if header else 1.0
    except ValueError:
        return 1.0
