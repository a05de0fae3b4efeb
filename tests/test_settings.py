"""Settings: environment, supportbot.toml, and errors that name the setting."""

from __future__ import annotations

import pytest

from supportbot.adapters.settings import load_settings
from supportbot.bot.errors import ConfigurationError


def test_defaults_run_on_the_embedded_example(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url == "sqlite:///supportbot.db"
    assert settings.kb_dir.is_dir() and settings.model_dir.name == "model"
    assert settings.serve_playground and not settings.slack_enabled


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SUPPORTBOT_HTTP_PORT", "abc", "SUPPORTBOT_HTTP_PORT"),
        ("SUPPORTBOT_DATABASE_URL", "mysql://x", "SUPPORTBOT_DATABASE_URL"),
        ("SUPPORTBOT_POLICY__DEFAULT_THRESHOLD", "3", "SUPPORTBOT_POLICY__DEFAULT_THRESHOLD"),
        ("SUPPORTBOT_SLACK_API_URL", "ftp://proxy", "SUPPORTBOT_SLACK_API_URL"),
    ],
)
def test_a_bad_setting_names_itself(monkeypatch, tmp_path, variable, value, named):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert error.value.setting == named
    assert named in str(error.value)


def test_toml_file_and_environment_precedence(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "supportbot.toml").write_text(
        'grouping_window_seconds = 3\nslack_managers = ["U1", "U2"]\n\n[policy]\ndraft_tiers = ["enterprise", "pro"]\n'
    )
    monkeypatch.setenv("SUPPORTBOT_GROUPING_WINDOW_SECONDS", "7")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    settings = load_settings()
    assert settings.grouping_window_seconds == 7  # the environment wins
    assert settings.slack_managers == ["U1", "U2"]
    assert settings.policy.draft_tiers == ["enterprise", "pro"]
    assert settings.slack_enabled and not settings.serve_playground


def test_comma_separated_lists_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORTBOT_SLACK_MANAGERS", "U1, U2,")
    monkeypatch.setenv("SUPPORTBOT_DISCORD_SUPPORT_CHANNELS", "111,222")
    settings = load_settings()
    assert settings.slack_managers == ["U1", "U2"]
    assert settings.discord_support_channels == ["111", "222"]


def test_malformed_toml_is_reported(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "supportbot.toml").write_text("this is = = not toml")
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert "supportbot.toml" in str(error.value)


def test_the_ops_server_listens_on_every_interface_only_for_slacks_events_api():
    load = load_settings
    assert load().ops_host == "127.0.0.1"  # the quick start: nothing reachable from the network
    assert load(slack_bot_token="xoxb-t", slack_signing_secret="s").ops_host == "0.0.0.0"  # Slack must reach it
    assert load(slack_bot_token="xoxb-t", slack_app_token="xapp-t").ops_host == "127.0.0.1"  # Socket Mode
    assert load(http_host="10.0.0.5").ops_host == "10.0.0.5"
