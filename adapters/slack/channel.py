"""SlackChannel: posts the core's outbox to Slack.

Customer-facing kinds go to the customer's thread; staff kinds go to the triage
channel only (never to a customer channel: drafts and notes stay internal).
A 429 raises RateLimited(Retry-After) and other failures DeliveryError, so the
core's persisted outbox retries them (also after a restart).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from supportbot.adapters.markdown import outbound_text, slack_mrkdwn
from supportbot.adapters.slack.blocks import card_blocks, csat_blocks, cut, escape
from supportbot.adapters.slack.directory import Directory, slack_error
from supportbot.bot.cards import Card
from supportbot.bot.domain import Audience, Author, Delivery, Outbound, OutboundKind, Role
from supportbot.bot.errors import DeliveryError, RateLimited
from supportbot.bot.operations import report_chart
from supportbot.bot.ports import Channel, Database, Pace

log = logging.getLogger(__name__)

CUSTOMER_KINDS = frozenset({OutboundKind.ANSWER, OutboundKind.AGENT_REPLY, OutboundKind.SYSTEM, OutboundKind.REACTION})
# Errors retrying cannot fix: the outbox marks the item failed at once.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "not_authed",
        "missing_scope",
        "restricted_action",
        "message_not_found",
        "thread_not_found",
        "invalid_name",
        "too_many_reactions",
        "cannot_reply_to_message",
        "team_access_not_granted",
        "ekm_access_denied",
        "channel_is_archived",
        "invalid_arguments",
    }
)
TEXT_MAX = 39_000  # chat.postMessage truncates text beyond 40,000 characters


class SlackChannel(Channel):
    platform = "slack"

    def __init__(
        self,
        triage_channel: str,
        *,
        client: AsyncWebClient | None = None,
        directory: Directory | None = None,
        db: Database | None = None,
        post_per_second: float = 1.0,
        post_burst: int = 10,
    ) -> None:
        # Slack's documented limits: chat.postMessage about 1 message per second per channel (short
        # bursts allowed); chat.update and reactions.add are Tier 3 (50+ per minute).
        self.post_pace = (post_per_second, post_burst)
        self.client = client  # no rate-limit retry handler: a 429 goes back to the outbox
        self.triage_channel = triage_channel
        self.directory = directory
        self.db = db  # read-only: the customer's location for the mirror card's permalink
        self._report_posts: dict[str, str] = {}  # outbound id -> summary ts already posted (retry safety)

    def pace(self, outbound: Outbound, delivery: Delivery | None) -> Pace | None:
        if outbound.kind is OutboundKind.REACTION:
            return Pace("slack:reactions.add", 50 / 60, 20)
        if outbound.kind is OutboundKind.CARD_UPDATE:
            return Pace("slack:chat.update", 50 / 60, 20)
        customer = outbound.audience is Audience.CUSTOMER
        channel = (delivery and delivery.channel_id) if customer else self.triage_channel
        per_second, burst = self.post_pace
        return Pace(f"slack:chat.postMessage:{channel}", per_second, burst)

    async def already_sent(self, outbound: Outbound, delivery: Delivery) -> str | None:
        """A post carries its outbound id as message metadata; look for it where it would be."""
        if outbound.kind in (OutboundKind.REACTION, OutboundKind.CARD_UPDATE):
            return None  # adding a reaction or updating a card twice changes nothing
        customer = outbound.audience is Audience.CUSTOMER
        channel = delivery.channel_id if customer else self.triage_channel
        thread = delivery.thread_id if customer or outbound.kind is not OutboundKind.MIRROR_OPEN else None
        oldest = f"{outbound.created_at.timestamp() - 5:.6f}"
        try:
            if thread:
                resp = await self._api.conversations_replies(
                    channel=str(channel), ts=thread, oldest=oldest, include_all_metadata=True, limit=200
                )
            else:
                resp = await self._api.conversations_history(
                    channel=str(channel), oldest=oldest, include_all_metadata=True, limit=200
                )
        except SlackApiError as exc:
            raise _delivery_error(exc) from None
        for message in resp.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (metadata.get("event_payload") or {}).get("outbound_id") == outbound.id:
                return str(message.get("ts"))
        return None

    def connect(self, client: AsyncWebClient, directory: Directory | None = None) -> None:
        self.client, self.directory = client, directory

    @property
    def _api(self) -> AsyncWebClient:
        if self.client is None:
            raise DeliveryError("Slack is not connected yet")
        return self.client

    async def identify(self, author: Author) -> Author:
        """Who wrote a message stored before users.info answered (see the handlers)."""
        if self.directory is None:
            return replace(author, role=Role.CUSTOMER)
        role, user = await self.directory.role_of(author.user_id, author.team_id)
        return Author(
            author.user_id,
            (user.name if user else "") or author.display_name,
            role,
            team_id=author.team_id or (user.team_id if user else None),
            email=user.email if user else author.email,
        )

    async def send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        try:
            return await self._send(outbound, delivery)
        except SlackApiError as exc:
            raise _delivery_error(exc) from None
        except SlackRequestError as exc:  # e.g. the file upload POST of files_upload_v2 was not accepted
            raise DeliveryError(f"Slack request failed: {str(exc)[:200]}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}") from None

    async def _send(self, outbound: Outbound, delivery: Delivery) -> str | None:
        if outbound.audience is Audience.CUSTOMER:
            if outbound.kind not in CUSTOMER_KINDS:  # defence in depth: staff material never reaches customers
                raise DeliveryError(f"refusing to post {outbound.kind.value} to a customer", permanent=True)
            if not delivery.channel_id or delivery.channel_id == self.triage_channel:
                raise DeliveryError("no customer channel for this conversation", permanent=True)
            if outbound.kind is OutboundKind.REACTION:
                return await self._react(outbound, delivery)
            customer: dict[str, Any] = {
                "channel": delivery.channel_id,
                "thread_ts": delivery.thread_id,
                "text": cut(outbound_text(outbound, slack_mrkdwn, escape), TEXT_MAX),
                "unfurl_links": False,
                "unfurl_media": False,
                "metadata": _metadata(outbound),
            }
            if outbound.payload.get("csat") and outbound.payload.get("conversation_id"):
                customer["blocks"] = csat_blocks(
                    outbound.text, str(outbound.payload["conversation_id"]), list(outbound.payload.get("options") or [])
                )
            resp = await self._api.chat_postMessage(**customer)
            return resp["ts"]
        # STAFF and MANAGERS: the triage channel, whatever the delivery says.
        if outbound.kind is OutboundKind.CARD_UPDATE:
            return await self._update_card(outbound, delivery)
        kwargs: dict[str, Any] = {
            "channel": self.triage_channel,
            "text": cut(_mentions(outbound), TEXT_MAX),
            "unfurl_links": False,
            "unfurl_media": False,
            "metadata": _metadata(outbound),
        }
        if outbound.kind is not OutboundKind.MIRROR_OPEN and delivery.thread_id:
            kwargs["thread_ts"] = delivery.thread_id
        card = outbound.payload.get("card")
        if card:
            permalink, where = (
                (await self._origin(outbound)) if outbound.kind is OutboundKind.MIRROR_OPEN else (None, None)
            )
            kwargs["blocks"] = card_blocks(Card.from_dict(card), permalink=permalink, where=where)
        chart = report_chart(outbound)
        if chart is None:
            resp = await self._api.chat_postMessage(**kwargs)
            return resp["ts"]
        # A report with a chart: the summary, then the chart uploaded into its thread (files upload v2).
        # The summary's ts is kept until the upload succeeds, so a retried upload does not repost it.
        ts = self._report_posts.get(outbound.id)
        if ts is None:
            ts = self._report_posts[outbound.id] = (await self._api.chat_postMessage(**kwargs))["ts"]
        filename, data = chart
        await self._api.files_upload_v2(
            channel=self.triage_channel,
            thread_ts=ts,
            filename=filename,
            file=data,
            title=filename,
            alt_txt="Weekly support chart",
        )
        self._report_posts.pop(outbound.id, None)
        return ts

    async def _update_card(self, outbound: Outbound, delivery: Delivery) -> str | None:
        """A settled card: its blocks again, with who did what above the buttons still left."""
        if not delivery.edit_message_id:
            raise DeliveryError("no card to update", permanent=True)
        card = Card.from_dict(outbound.payload["card"])
        outcome = outbound.payload.get("outcome") or {}
        by_id = str(outcome.get("by_id") or "")
        by = f"<@{by_id}>" if _USER_ID.fullmatch(by_id) else escape(str(outcome.get("by_name") or "supportbot"))
        line = {
            "type": "context",
            "elements": [_mrkdwn_text(f":white_check_mark: {escape(str(outcome.get('text')))} by {by}")],
        }
        blocks = card_blocks(card)
        blocks.insert(len(blocks) - 1 if card.buttons else len(blocks), line)
        await self._api.chat_update(
            channel=self.triage_channel,
            ts=delivery.edit_message_id,
            text=cut(escape(card.title), TEXT_MAX),
            blocks=blocks,
        )
        return delivery.edit_message_id

    async def _react(self, outbound: Outbound, delivery: Delivery) -> str | None:
        name = str(outbound.payload.get("emoji") or outbound.text).strip(":")
        ts = delivery.reply_to_message_id or delivery.thread_id
        try:
            await self._api.reactions_add(channel=str(delivery.channel_id), timestamp=str(ts), name=name)
        except SlackApiError as exc:
            if slack_error(exc) != "already_reacted":
                raise
        return None

    async def _origin(self, outbound: Outbound) -> tuple[str | None, str | None]:
        """Permalink to the customer's message and the channel's name, best effort."""
        if self.db is None or not outbound.conversation_id:
            return None, None
        conversation_id = outbound.conversation_id
        conv = await self.db.read(lambda uow: uow.conversations.get(conversation_id))
        if conv is None:
            return None, None
        link = where = None
        try:
            resp = await self._api.chat_getPermalink(channel=conv.channel_id, message_ts=conv.thread_id)
            link = resp.get("permalink")
        except SlackApiError as exc:
            log.info("chat.getPermalink failed: %s", slack_error(exc))
        if self.directory is not None:
            info = await self.directory.channel(conv.channel_id)
            if info and info.get("name"):
                where = f"#{info['name']}"
        return link, where


def _metadata(outbound: Outbound) -> dict[str, Any]:
    """Message metadata naming the outbound, so a re-send after a crash can find the first post."""
    return {
        "event_type": "supportbot_outbound",
        "event_payload": {"outbound_id": outbound.id, "kind": outbound.kind.value},
    }


def _mrkdwn_text(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _mentions(outbound: Outbound) -> str:
    """Escaped text where the core's "@U123" for payload["mentions"] becomes a real mention <@U123>."""
    text = outbound_text(outbound, slack_mrkdwn, escape)
    for user_id in outbound.payload.get("mentions") or ():
        if _USER_ID.fullmatch(str(user_id)):
            text = text.replace(f"@{user_id}", f"<@{user_id}>")
    return text


_USER_ID = re.compile(r"[UW][A-Z0-9_]{2,}")


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = getattr(response, "status_code", 0) or 0
    error = slack_error(exc)
    if status == 429 or error == "ratelimited":
        headers = getattr(response, "headers", {}) or {}
        retry_after = headers.get("Retry-After") or headers.get("retry-after") or "1"
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = 1.0
        return RateLimited(seconds)
    if error in PERMANENT_ERRORS:
        return DeliveryError(f"Slack error {error}", permanent=True)
    return DeliveryError(f"Slack error {error}")
