"""Slack's wire shapes (as the Events API, interactivity and slash commands send them)
and pure functions that turn them into plain values the handlers act on.

The TypedDicts describe the fields we read; Slack sends more. Parsing never
raises on a malformed payload: it returns None and the handler ignores it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

# --------------------------------------------------------------------------- wire shapes


class MessageEvent(TypedDict):
    type: str
    channel: str
    user: str
    text: str
    ts: str
    thread_ts: NotRequired[str]
    subtype: NotRequired[str]
    bot_id: NotRequired[str]
    bot_profile: NotRequired[dict[str, Any]]
    user_team: NotRequired[str]
    team: NotRequired[str]


class EventCallback(TypedDict):
    type: str  # "event_callback"
    team_id: str
    event_id: str
    event: MessageEvent


class ActionElement(TypedDict):
    action_id: str
    value: NotRequired[str]


class BlockActions(TypedDict):
    type: str  # "block_actions"
    user: dict[str, Any]  # {"id", "team_id", ...}
    channel: NotRequired[dict[str, Any]]
    container: NotRequired[dict[str, Any]]
    message: NotRequired[dict[str, Any]]
    actions: list[ActionElement]
    trigger_id: NotRequired[str]


class ViewSubmission(TypedDict):
    type: str  # "view_submission"
    user: dict[str, Any]
    view: dict[str, Any]  # {"callback_id", "private_metadata", "state": {"values": ...}}


# --------------------------------------------------------------------------- parsed values

# Message subtypes that are a person writing; everything else (edits, deletions,
# joins, bot messages, ...) is ignored.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})


@dataclass(frozen=True)
class Message:
    channel: str
    user: str
    ts: str
    thread_ts: str | None  # the root when this is a reply in a thread (never the message itself)
    text: str  # Slack markup turned into plain text
    mentions_bot: bool
    team_id: str | None
    user_team: str | None

    @property
    def sent_at(self) -> datetime:
        try:
            return datetime.fromtimestamp(float(self.ts), UTC)
        except (TypeError, ValueError, OverflowError):
            return datetime.now(UTC)


def parse_message(body: dict[str, Any], bot_user_id: str | None) -> Message | None:
    """A person's message from an ``event_callback`` body, or None (bots, edits, joins, our own posts)."""
    event = body.get("event")
    if not isinstance(event, dict):
        return None
    if event.get("subtype") not in HUMAN_SUBTYPES or event.get("bot_id") or event.get("bot_profile"):
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not all(isinstance(v, str) and v for v in (user, channel, ts)) or user == bot_user_id:
        return None
    thread_ts = event.get("thread_ts")
    text, mentioned = to_plain(str(event.get("text") or ""), bot_user_id)
    return Message(
        channel=str(channel),
        user=str(user),
        ts=str(ts),
        thread_ts=str(thread_ts) if isinstance(thread_ts, str) and thread_ts != ts else None,
        text=text,
        mentions_bot=mentioned,
        team_id=_str(body.get("team_id")) or _str(event.get("team")),
        user_team=_str(event.get("user_team")),
    )


@dataclass(frozen=True)
class ButtonPress:
    action_id: str
    value: str
    user: str
    user_team: str | None
    channel: str | None
    message_ts: str | None
    thread_ts: str | None
    trigger_id: str


def parse_button(body: dict[str, Any]) -> ButtonPress | None:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return None
    user, container, message, channel = (_dict(body.get(k)) for k in ("user", "container", "message", "channel"))
    user_id = _str(user.get("id"))
    if not user_id:
        return None
    return ButtonPress(
        action_id=str(actions[0].get("action_id") or ""),
        value=str(actions[0].get("value") or ""),
        user=user_id,
        user_team=_str(user.get("team_id")),
        channel=_str(channel.get("id")) or _str(container.get("channel_id")),
        message_ts=_str(message.get("ts")) or _str(container.get("message_ts")),
        thread_ts=_str(message.get("thread_ts")) or _str(container.get("thread_ts")),
        trigger_id=str(body.get("trigger_id") or ""),
    )


@dataclass(frozen=True)
class FormSubmission:
    callback_id: str
    user: str
    user_team: str | None
    draft_id: str
    channel: str | None
    values: dict[str, str]  # block id -> typed value, or the selected option's value


def parse_submission(body: dict[str, Any]) -> FormSubmission | None:
    view, user = _dict(body.get("view")), _dict(body.get("user"))
    if not view or not _str(user.get("id")):
        return None
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    values: dict[str, str] = {}
    state = ((view.get("state") or {}).get("values")) or {}
    if isinstance(state, dict):
        for block_id, inputs in state.items():
            if not isinstance(inputs, dict):
                continue
            for element in inputs.values():
                if not isinstance(element, dict):
                    continue
                option = element.get("selected_option") or {}
                value = element.get("value") if element.get("value") is not None else option.get("value")
                if value is not None:
                    values[str(block_id)] = str(value)
    return FormSubmission(
        callback_id=str(view.get("callback_id") or ""),
        user=str(user["id"]),
        user_team=_str(user.get("team_id")),
        draft_id=str(meta.get("draft_id") or ""),
        channel=_str(meta.get("channel")),
        values=values,
    )


# --------------------------------------------------------------------------- markup

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9_]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")


def to_plain(text: str, bot_user_id: str | None = None) -> tuple[str, bool]:
    """Slack's markup as plain text, and whether it @mentions the bot.

    ``<@U1>`` → ``@U1`` (the bot's own mention is dropped), ``<#C1|general>`` →
    ``#general``, ``<!here>`` → ``@here``, ``<https://x|docs>`` → ``docs (https://x)``,
    and ``&amp; &lt; &gt;`` unescaped.
    """
    mentioned = False

    def user(match: re.Match[str]) -> str:
        nonlocal mentioned
        if bot_user_id and match.group(1) == bot_user_id:
            mentioned = True
            return ""
        return f"@{match.group(1)}"

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        url = url.removeprefix("mailto:") if url.startswith("mailto:") else url
        return f"{label} ({url})" if label and label != url else url

    text = _USER_MENTION.sub(user, text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = _SUBTEAM.sub(lambda m: m.group(1) or "@group", text)
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(link, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]{2,}", " ", text).strip(), mentioned


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ReactionAdded:
    """A ``reaction_added`` event on a message."""

    user: str
    reaction: str  # the emoji's name, e.g. "ticket" or "white_check_mark::skin-tone-2"
    channel: str
    ts: str  # the message reacted to
    team_id: str | None


def parse_reaction(body: dict[str, Any]) -> ReactionAdded | None:
    """The reaction from a ``reaction_added`` event_callback, or None (not on a message, missing fields)."""
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") != "reaction_added":
        return None
    item = event.get("item")
    if not isinstance(item, dict) or item.get("type") != "message":
        return None
    user, reaction, channel, ts = event.get("user"), event.get("reaction"), item.get("channel"), item.get("ts")
    if not all(isinstance(v, str) and v for v in (user, reaction, channel, ts)):
        return None
    return ReactionAdded(str(user), str(reaction), str(channel), str(ts), _str(body.get("team_id")))
