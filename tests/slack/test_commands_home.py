"""/support, App Home, settings validation and the manifest."""

from __future__ import annotations

import pytest
import yaml

from supportbot.adapters.slack.manifest import APP_TOKEN_METHODS, METHOD_SCOPES, bot_scopes, manifest_yaml
from supportbot.adapters.slack.service import SlackService, validate
from supportbot.bot.errors import ConfigurationError
from tests.slack.conftest import (
    AGENT,
    ALICE,
    BOB,
    MANAGER,
    SHARED_BIG,
    block_actions,
    build_app,
    slack_service,
    slack_settings,
)
from tests.slack.fake_slack import OUR_TEAM


async def test_support_command_customer_refused(slack):
    status, body = await slack.command(ALICE, "TSMALL", "queue")
    assert status == 200 and body == ""
    [reply] = slack.fake.responses
    assert reply["response_type"] == "ephemeral"
    assert "only available to the support team" in reply["text"]


async def test_support_command_agent_queue_and_no_stats(slack):
    await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    await slack.command(AGENT, OUR_TEAM, "queue")
    await slack.command(AGENT, OUR_TEAM, "stats")
    queue, stats = slack.fake.responses
    assert queue["response_type"] == "ephemeral" and "1 waiting" in queue["text"] and "draft_" in queue["text"]
    assert "for managers" in stats["text"]


async def test_support_command_manager_stats_and_threshold(slack):
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    await slack.command(MANAGER, OUR_TEAM, "stats 7d")
    await slack.command(MANAGER, OUR_TEAM, "threshold invoice 0.9")
    stats, threshold = slack.fake.responses
    assert "Conversations: 1" in stats["text"] and stats["response_type"] == "ephemeral"
    assert any(b["type"] == "header" for b in stats["blocks"])
    assert "0.9" in threshold["text"]


async def test_app_home_for_staff_and_customers(slack):
    await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    for user in (AGENT, BOB):
        event = {
            "type": "app_home_opened",
            "user": user,
            "channel": "D_HOME",
            "tab": "home",
            "event_ts": "1764147600.000001",
        }
        payload = {
            "token": "x",
            "team_id": OUR_TEAM,
            "api_app_id": "A_APP",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev_HOME_{user}",
            "event_time": 1764147600,
        }
        assert (await slack.event(payload))[0] == 200
    agent_view, customer_view = (c.params for c in slack.fake.of("views.publish"))
    assert agent_view["user_id"] == AGENT and agent_view["view"]["type"] == "home"
    text = str(agent_view["view"]["blocks"])
    assert "Conversations: 1" in text and "Work queue (1 waiting)" in text
    assert customer_view["user_id"] == BOB
    assert "support team" in str(customer_view["view"]["blocks"]) and "Work queue" not in str(customer_view)


def test_manifest_lists_scopes_events_command_and_urls():
    http = yaml.safe_load(manifest_yaml(socket_mode=False, url="https://bot.example.com"))
    assert http["settings"]["socket_mode_enabled"] is False
    assert http["settings"]["event_subscriptions"]["request_url"] == "https://bot.example.com/slack/events"
    assert http["settings"]["interactivity"]["request_url"] == "https://bot.example.com/slack/events"
    assert http["features"]["slash_commands"][0]["command"] == "/support"
    assert set(http["settings"]["event_subscriptions"]["bot_events"]) == {
        "message.channels",
        "message.groups",
        "app_home_opened",
        "reaction_added",
    }
    socket = yaml.safe_load(manifest_yaml(socket_mode=True))
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in socket["settings"]["event_subscriptions"]
    assert {
        "chat:write",
        "reactions:write",
        "reactions:read",
        "users:read",
        "users:read.email",
        "channels:history",
        "groups:history",
        "commands",
    } <= set(socket["oauth_config"]["scopes"]["bot"])
    with pytest.raises(ValueError):
        manifest_yaml(socket_mode=False)


async def test_every_called_method_is_covered_by_a_manifest_scope(slack):
    """Drive every feature, then check each recorded Web API call against the method->scope table."""
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")
    await slack.says(BOB, "Where is my invoice?", channel=SHARED_BIG, user_team="TBIG")
    card = slack.card("draft_approve")
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "draft_edit", card["value"], message=card))
    await slack.interactive(block_actions(AGENT, OUR_TEAM, "draft_approve", card["value"], message=card))
    await slack.interactive(block_actions(BOB, "TBIG", "draft_approve", card["value"], message=card))
    event = {"type": "app_home_opened", "user": AGENT, "channel": "D1", "tab": "home", "event_ts": "1.2"}
    await slack.event(
        {
            "team_id": OUR_TEAM,
            "api_app_id": "A",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev_SCOPE",
            "event_time": 1,
        }
    )
    called = {c.method for c in slack.fake.calls}
    assert {
        "auth.test",
        "users.info",
        "conversations.info",
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.getPermalink",
        "reactions.add",
        "views.open",
        "views.publish",
    } <= called
    manifest = yaml.safe_load(manifest_yaml(socket_mode=True))
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    for method in called:
        assert method in METHOD_SCOPES, f"{method} is called but missing from METHOD_SCOPES"
        assert set(METHOD_SCOPES[method]) <= granted, f"{method} needs {METHOD_SCOPES[method]}"
    assert set(bot_scopes()) == granted
    assert "apps.connections.open" in APP_TOKEN_METHODS


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"slack_signing_secret": None}, "SLACK_SIGNING_SECRET"),
        ({"slack_triage_channel": None}, "SUPPORTBOT_SLACK_TRIAGE_CHANNEL"),
        ({"slack_triage_channel": "general"}, "SUPPORTBOT_SLACK_TRIAGE_CHANNEL"),
        ({"slack_bot_token": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
        ({"slack_app_token": "xoxb-wrong"}, "SLACK_APP_TOKEN"),
        ({"slack_managers": "alice@example.com"}, "SUPPORTBOT_SLACK_MANAGERS"),
    ],
)
def test_bad_settings_stop_startup_naming_the_setting(tmp_path, fake_slack, overrides, setting):
    with pytest.raises(ConfigurationError) as info:
        validate(slack_settings(tmp_path, fake_slack, **overrides))
    assert info.value.setting == setting


async def test_shared_or_unknown_triage_channel_stops_startup(tmp_path, fake_slack, clock):
    for channel, problem in (("C_SHARED", "shared with another organization"), ("C_NOPE", "not found")):
        service = slack_service(
            build_app(slack_settings(tmp_path, fake_slack, slack_triage_channel=channel), clock), port=0
        )
        with pytest.raises(ConfigurationError, match=problem):
            await service.start()


async def test_the_composition_root_builds_the_slack_service_when_configured(tmp_path, fake_slack, clock):
    from supportbot.adapters.bootstrap import build_services

    app = build_app(slack_settings(tmp_path, fake_slack), clock)
    services = build_services(app)
    assert isinstance(services.get("slack"), SlackService)
    assert app.core.channels["slack"] is services["slack"].channel  # registered by the root, not by itself
    off = build_app(slack_settings(tmp_path, fake_slack, slack_bot_token=None), clock)
    assert "slack" not in build_services(off)


def test_cli_prints_manifest():
    from click.testing import CliRunner

    from supportbot.adapters.cli import main

    result = CliRunner().invoke(main, ["slack", "manifest", "--http", "--url", "https://bot.example.com"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert CliRunner().invoke(main, ["slack", "manifest", "--http"]).exit_code == 2
    socket = CliRunner().invoke(main, ["slack", "manifest"])
    assert yaml.safe_load(socket.output)["settings"]["socket_mode_enabled"] is True


async def test_app_home_for_manager_mentions_manager_commands(slack):
    event = {"type": "app_home_opened", "user": MANAGER, "channel": "D_HOME", "tab": "home", "event_ts": "1.1"}
    await slack.event(
        {
            "token": "x",
            "team_id": OUR_TEAM,
            "api_app_id": "A_APP",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev_HOME_M",
            "event_time": 1,
        }
    )
    [publish] = slack.fake.of("views.publish")
    assert "/support stats" in str(publish.params["view"]) and "Work queue (0 waiting)" in str(publish.params["view"])
    # The messages tab is not ours to draw.
    event = {**event, "tab": "messages"}
    await slack.event(
        {
            "token": "x",
            "team_id": OUR_TEAM,
            "api_app_id": "A_APP",
            "event": event,
            "type": "event_callback",
            "event_id": "Ev_HOME_M2",
            "event_time": 1,
        }
    )
    assert len(slack.fake.of("views.publish")) == 1
