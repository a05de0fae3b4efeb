"""The core's satisfaction prompt, rendered as persistent buttons for the customer."""

from __future__ import annotations

from tests.discord_bot.helpers import card_in_thread, custom_ids, ephemeral, mirror_of


def _ratings(bot):
    with bot.app.uow() as uow:
        return uow.actions.list(action="csat")


async def test_resolution_asks_for_a_rating_with_buttons_and_only_the_customer_can_answer(fake, bot):
    post = await fake.forum_post("Outage", "Dashboard is down, none of our users can log in")
    staff_thread = await mirror_of(fake, bot)
    card = await card_in_thread(fake, staff_thread, "handoff_resolve")
    handoff_id = custom_ids(card)[1].split(":", 1)[1]
    pressed = await fake.press_button(card, f"handoff_resolve:{handoff_id}", user=fake.agent)
    await fake.wait_for_response(pressed)
    prompt = await card_in_thread(fake, post["id"], "csat")
    conv_id = custom_ids(prompt)[0].split(":")[1]
    assert custom_ids(prompt) == [f"csat:{conv_id}:{v}" for v in ("up", "down", "1", "2", "3", "4", "5")]
    assert "How did we do?" in prompt["content"]

    refused = await fake.press_button(prompt, f"csat:{conv_id}:down", user=fake.outsider)
    response = await fake.wait_for_response(refused)
    assert ephemeral(response) and "only the customer" in response["data"]["content"]
    assert _ratings(bot) == []

    rated = await fake.press_button(prompt, f"csat:{conv_id}:5", user=fake.customer)
    assert ephemeral(await fake.wait_for_response(rated))
    (rating,) = _ratings(bot)
    assert rating.detail["score"] == 5 and rating.detail["positive"] is True

    # rated once: a second click, even a different score, is refused and changes nothing
    again = await fake.press_button(prompt, f"csat:{conv_id}:1", user=fake.customer)
    response = await fake.wait_for_response(again)
    assert ephemeral(response) and "already rated" in response["data"]["content"]
    (rating,) = _ratings(bot)
    assert rating.detail["score"] == 5
