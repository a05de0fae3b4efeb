"""``/support model`` on Discord: managers list, promote (with the precision guard) and roll back."""

from __future__ import annotations

from datetime import UTC, datetime

from supportbot.bot.domain import ModelStatus, ModelVersion
from tests.discord_bot.helpers import ephemeral

T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def _run(fake, subcommand, options=None, *, user):
    interaction = await fake.slash_command(subcommand, options, user=user)
    response = await fake.wait_for_response(interaction)
    assert ephemeral(response), response
    return response["data"]["content"]


def _versions(bot) -> dict[str, ModelStatus]:
    with bot.app.uow() as uow:
        return {v.id: v.status for v in uow.model_versions.list()}


async def test_a_manager_promotes_and_rolls_back_on_discord(fake, bot):
    with bot.app.uow() as uow:
        uow.model_versions.add(
            ModelVersion("intent-a", "intent", "/m/a", "h", T0, {"precision_at_target": 0.99}, ModelStatus.CURRENT, T0)
        )
        uow.model_versions.add(ModelVersion("intent-b", "intent", "/m/b", "h", T0, {"precision_at_target": 0.97}))
        uow.commit()
    assert "for managers" in await _run(fake, "model promote", {"version": "intent-b"}, user=fake.agent)
    listed = await _run(fake, "model list", user=fake.manager)
    assert "Current model: intent-a" in listed and "intent-b [candidate]" in listed
    refused = await _run(fake, "model promote", {"version": "intent-b"}, user=fake.manager)
    assert "refusing to promote intent-b" in refused and "0.9700" in refused
    assert _versions(bot)["intent-a"] is ModelStatus.CURRENT
    forced = await _run(fake, "model promote", {"version": "intent-b", "force": True}, user=fake.manager)
    assert "intent-b is now the current model (was intent-a)" in forced
    assert _versions(bot) == {"intent-a": ModelStatus.RETIRED, "intent-b": ModelStatus.CURRENT}
    assert "intent-a is now the current model" in await _run(fake, "model rollback", user=fake.manager)
    assert _versions(bot)["intent-a"] is ModelStatus.CURRENT
