"""Small helpers shared by the Discord scenarios."""

from __future__ import annotations

from supportbot.bot.domain import Conversation
from tests.discord_bot.fake_discord import FakeDiscord


def conversation(bot) -> Conversation:
    with bot.app.uow() as uow:
        (conv,) = uow.conversations.list()
    return conv


def custom_ids(message: dict) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


async def card_in_thread(fake: FakeDiscord, thread_id: str, action: str, *, count: int = 1) -> dict:
    """The bot's message in ``thread_id`` carrying a button whose custom_id starts with ``action:``."""

    def find():
        cards = [m for m in fake.bot_messages(thread_id) if any(c.startswith(action + ":") for c in custom_ids(m))]
        return cards if len(cards) >= count else None

    return (await fake.wait_until(find, what=f"a card with {action} in {thread_id}"))[count - 1]


async def mirror_of(fake: FakeDiscord, bot) -> str:
    """Wait for the mirror thread in triage and return its id."""

    def staff_thread():
        with bot.app.uow() as uow:
            convs = uow.conversations.list()
        return convs[0].staff_thread_id if convs and convs[0].staff_thread_id else None

    return await fake.wait_until(staff_thread, what="the mirror thread")


def ephemeral(response: dict) -> bool:
    return response["type"] == 4 and bool(response["data"].get("flags", 0) & 64)


ACK_MARK = "A teammate will reply here"


def replies(fake: FakeDiscord, channel_id: str) -> list[str]:
    """What the bot posted in ``channel_id`` (a customer's thread) other than its acknowledgement."""
    posts = [r.json.get("content") or "" for r in fake.find_requests("POST", rf"/channels/{channel_id}/messages")]
    return [p for p in posts if ACK_MARK not in p]
