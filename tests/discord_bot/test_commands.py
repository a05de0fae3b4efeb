"""/support over application commands, command registration and the invite URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from click.testing import CliRunner

from supportbot.adapters.cli import main
from supportbot.adapters.discord_bot.commands import client_id_from_token, invite_url, sync_commands
from supportbot.adapters.discord_bot.config import load_discord_config
from tests.discord_bot.helpers import ephemeral


async def _run(fake, bot, subcommand, options=None, *, user):
    interaction = await fake.slash_command(subcommand, options, user=user)
    response = await fake.wait_for_response(interaction)
    assert ephemeral(response), response
    return response["data"]


async def test_support_help_and_queue_for_agents(fake, bot):
    help_ = await _run(fake, bot, "help", user=fake.agent)
    assert "/support queue" in help_["content"]
    queue = await _run(fake, bot, "queue", user=fake.agent)
    assert queue["content"]


async def test_support_refuses_customers_and_manager_commands_for_agents(fake, bot):
    assert "only available to the support team" in (await _run(fake, bot, "help", user=fake.outsider))["content"]
    assert "for managers" in (await _run(fake, bot, "stats", {"period": "24h"}, user=fake.agent))["content"]
    assert (
        "for managers"
        in (await _run(fake, bot, "threshold", {"intent": "invoice", "value": 0.9}, user=fake.agent))["content"]
    )
    with bot.app.uow() as uow:
        assert uow.settings.get("threshold.invoice") is None


async def test_manager_sets_a_threshold_and_reads_stats(fake, bot):
    await _run(fake, bot, "threshold", {"intent": "invoice", "value": 0.9}, user=fake.manager)
    with bot.app.uow() as uow:
        assert uow.settings.get("threshold.invoice") == 0.9
    shown = await _run(fake, bot, "threshold", {"intent": "invoice"}, user=fake.manager)
    assert "invoice: 0.90" in shown["content"]
    stats = await _run(fake, bot, "stats", {"period": "24h"}, user=fake.manager)
    assert stats["content"] or stats.get("embeds")


async def test_sync_commands_registers_the_support_group(fake, bot):
    config = load_discord_config(bot.app.settings)
    await sync_commands(config, int(fake.guild_id))
    put = await fake.wait_for_request("PUT", rf"/applications/{fake.app_id}/guilds/{fake.guild_id}/commands")
    (support,) = put.json
    assert support["name"] == "support"
    options = {o["name"]: o for o in support["options"]}
    assert set(options) == {"help", "queue", "sla", "stats", "threshold", "failed", "retry", "model", "mode"}
    assert all(o["type"] == 1 for name, o in options.items() if name != "model")  # subcommands
    assert options["model"]["type"] == 2  # a subcommand group: /support model promote VERSION
    model = {o["name"]: o for o in options["model"]["options"]}
    assert set(model) == {"list", "promote", "rollback"}
    assert [(o["name"], o["type"]) for o in model["promote"]["options"]] == [("version", 3), ("force", 5)]
    assert [(o["name"], o["type"]) for o in options["stats"]["options"]] == [("period", 3)]
    threshold = {o["name"]: o for o in options["threshold"]["options"]}
    assert threshold["intent"]["type"] == 3 and threshold["value"]["type"] == 10
    assert (threshold["value"]["min_value"], threshold["value"]["max_value"]) == (0, 1)
    await sync_commands(config)
    await fake.wait_for_request("PUT", rf"/applications/{fake.app_id}/commands")


def test_invite_url_has_exactly_the_needed_scopes_and_permissions():
    url = urlsplit(invite_url("1234567890123456789"))
    query = parse_qs(url.query)
    assert url.netloc == "discord.com" and url.path == "/oauth2/authorize"
    assert query["scope"] == ["bot applications.commands"]
    expected = (1 << 10) | (1 << 11) | (1 << 38) | (1 << 35) | (1 << 34) | (1 << 16) | (1 << 6) | (1 << 14) | (1 << 15)
    assert query["permissions"] == [str(expected)]
    assert query["client_id"] == ["1234567890123456789"]


def test_invite_url_command_reads_the_client_id_from_the_token(monkeypatch):
    # the first segment of a bot token is base64 of the application id
    monkeypatch.setenv("DISCORD_TOKEN", "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.notarealsecret")
    result = CliRunner().invoke(main, ["discord", "invite-url"])
    assert result.exit_code == 0, result.output
    assert "client_id=1234567890123456789" in result.output
    assert client_id_from_token("MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.x.y") == "1234567890123456789"


def test_sync_commands_cli_against_a_fake_in_another_process(tmp_path):
    import json
    import os
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.discord_bot.fake_discord"], stdout=subprocess.PIPE, text=True, cwd=repo
    )
    try:
        info = json.loads(fake.stdout.readline())
        env = {
            **os.environ,
            "DISCORD_TOKEN": info["token"],
            "SUPPORTBOT_DISCORD_API_URL": info["api_url"],
            "SUPPORTBOT_DISCORD_SUPPORT_CHANNELS": info["forum_id"],
            "SUPPORTBOT_DISCORD_TRIAGE_CHANNEL": info["triage_id"],
            "SUPPORTBOT_DISCORD_AGENT_ROLE": info["agent_role"],
            "SUPPORTBOT_CONFIG": str(tmp_path / "none.toml"),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from adapters.cli import main; main()",
                "discord",
                "sync-commands",
                "--guild",
                info["guild_id"],
            ],
            env=env,
            capture_output=True,
            cwd=repo,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        listed = "help, queue, sla, stats, threshold, failed, retry, mode, model"
        assert f"/support ({listed}) registered for server {info['guild_id']}" in done.stdout
        control = info["api_url"].rsplit("/api/", 1)[0] + "/_fake/commands"
        with urllib.request.urlopen(control, timeout=10) as response:
            registered = json.load(response)
        assert [c["name"] for c in registered[info["guild_id"]]] == ["support"]
    finally:
        fake.terminate()
        fake.wait(timeout=10)
