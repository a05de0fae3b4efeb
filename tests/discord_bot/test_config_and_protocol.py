"""Start-up validation, the gateway override, and the fake gateway's own protocol rules."""

from __future__ import annotations

import json
import zlib

import aiohttp
import pytest

from supportbot.adapters.bootstrap import bootstrap, build_services
from supportbot.adapters.discord_bot.config import load_discord_config
from supportbot.adapters.settings import load_settings
from supportbot.bot.errors import ConfigurationError
from tests.discord_bot.conftest import discord_settings, start_bot
from tests.discord_bot.fake_discord import GUILD_MESSAGES, GUILDS, MESSAGE_CONTENT, TOKEN, FakeDiscord
from tests.fakes.core import FakeClassifier
from tests.fakes.memory_uow import InMemoryUnitOfWorkFactory


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"discord_support_channels": ""}, "SUPPORTBOT_DISCORD_SUPPORT_CHANNELS"),
        ({"discord_support_channels": "123,general"}, "SUPPORTBOT_DISCORD_SUPPORT_CHANNELS"),
        ({"discord_triage_channel": None}, "SUPPORTBOT_DISCORD_TRIAGE_CHANNEL"),
        ({"discord_triage_channel": "#triage"}, "SUPPORTBOT_DISCORD_TRIAGE_CHANNEL"),
        ({"discord_agent_role": None}, "SUPPORTBOT_DISCORD_AGENT_ROLE"),
        ({"discord_manager_role": "managers"}, "SUPPORTBOT_DISCORD_MANAGER_ROLE"),
        ({"discord_gateway_url": "http://gateway"}, "SUPPORTBOT_DISCORD_GATEWAY_URL"),
        ({"discord_token": "Bot abc"}, "DISCORD_TOKEN"),
    ],
)
def test_bad_or_missing_setting_names_it(tmp_path, override, setting):
    fake = FakeDiscord()  # ids only; not started
    settings = discord_settings(fake, tmp_path, **override)
    with pytest.raises(ConfigurationError) as err:
        load_discord_config(settings)
    assert err.value.setting == setting


def test_triage_channel_may_not_be_a_support_channel(tmp_path):
    fake = FakeDiscord()
    settings = discord_settings(fake, tmp_path, discord_triage_channel=fake.text_id)
    with pytest.raises(ConfigurationError, match="customers") as err:
        load_discord_config(settings)
    assert err.value.setting == "SUPPORTBOT_DISCORD_TRIAGE_CHANNEL"


def test_bad_api_url_is_rejected_by_settings():
    with pytest.raises(ConfigurationError) as err:
        load_settings(discord_api_url="discord.com/api")
    assert err.value.setting == "SUPPORTBOT_DISCORD_API_URL"


def test_supportbot_run_builds_the_discord_service_only_with_a_token(tmp_path):
    fake = FakeDiscord()
    settings = discord_settings(fake, tmp_path)
    app = bootstrap(settings, uow=InMemoryUnitOfWorkFactory(), classifier=FakeClassifier())
    assert "discord" in build_services(app)
    broken = discord_settings(fake, tmp_path, discord_agent_role=None)
    with pytest.raises(ConfigurationError):
        build_services(bootstrap(broken, uow=InMemoryUnitOfWorkFactory(), classifier=FakeClassifier()))
    quiet = load_settings(database_url="sqlite://", discord_token=None)
    assert "discord" not in build_services(
        bootstrap(quiet, uow=InMemoryUnitOfWorkFactory(), classifier=FakeClassifier())
    )


async def test_explicit_gateway_url_skips_the_gateway_lookup(fake, tmp_path):
    bot = await start_bot(fake, tmp_path, discord_gateway_url=fake.gateway_url)
    try:
        assert not fake.find_requests("GET", "/gateway/bot")
        assert fake.connections[0]["identify"]["token"] == TOKEN
    finally:
        await bot.stop()


async def test_missing_privileged_intent_stops_start_up_with_advice(tmp_path):
    fake = await FakeDiscord(allow_privileged=False).start()
    try:
        with pytest.raises(ConfigurationError, match="Message Content intent"):
            await start_bot(fake, tmp_path)
    finally:
        await fake.close()


async def test_wrong_token_stops_start_up(fake, tmp_path):
    with pytest.raises(ConfigurationError) as err:
        await start_bot(fake, tmp_path, discord_token="not-the-token")
    assert err.value.setting == "DISCORD_TOKEN"


class RawGateway:
    """A bare websocket client, to check the fake gateway itself (compression, intents, heartbeats)."""

    def __init__(self, ws):
        self.ws, self.inflate, self.buffer = ws, zlib.decompressobj(), bytearray()

    async def frame(self) -> dict:
        while True:
            msg = await self.ws.receive(timeout=5)
            assert msg.type is aiohttp.WSMsgType.BINARY  # zlib-stream: every frame is binary
            self.buffer.extend(msg.data)
            if self.buffer[-4:] == b"\x00\x00\xff\xff":
                data, self.buffer = self.inflate.decompress(bytes(self.buffer)), bytearray()
                return json.loads(data)

    async def until(self, event: str) -> dict:
        while (frame := await self.frame()).get("t") != event:
            pass
        return frame


async def test_fake_gateway_strips_content_without_the_message_content_intent(fake):
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(fake.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws,
    ):
        raw = RawGateway(ws)
        hello = await raw.frame()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 41_250
        await ws.send_str(json.dumps({"op": 1, "d": None}))
        assert (await raw.frame())["op"] == 11
        await ws.send_str(
            json.dumps({"op": 2, "d": {"token": TOKEN, "intents": GUILDS | GUILD_MESSAGES, "properties": {}}})
        )
        ready = await raw.until("READY")
        assert ready["d"]["resume_gateway_url"] == fake.resume_url
        assert ready["d"]["guilds"] == [{"id": fake.guild_id, "unavailable": True}]
        guild = await raw.until("GUILD_CREATE")
        assert {c["type"] for c in guild["d"]["channels"]} >= {0, 15}
        await fake.customer_message(fake.text_id, "secret question text")
        message = await raw.until("MESSAGE_CREATE")
        assert message["d"]["content"] == "" and message["d"]["embeds"] == []
    assert MESSAGE_CONTENT == 1 << 15


async def test_a_second_client_with_another_rest_base_is_refused(fake, bot):
    from dataclasses import replace

    import discord

    from supportbot.adapters.discord_bot.client import SupportClient

    assert fake.api_url == discord.http.Route.BASE
    other = SupportClient(bot.app, replace(bot.service.config, api_url="http://127.0.0.1:9/api/v10"))
    try:
        with pytest.raises(ConfigurationError) as err:
            await other.login(TOKEN)
        assert err.value.setting == "SUPPORTBOT_DISCORD_API_URL"
    finally:
        await other.close()
    assert fake.api_url == discord.http.Route.BASE  # the running client is unaffected


async def test_route_base_is_restored_when_the_client_stops(fake, tmp_path):
    import discord

    bot = await start_bot(fake, tmp_path)
    await bot.stop()
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
