"""Log output: JSON lines with the core's structured fields, no message text, no secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from supportbot.adapters.logs import JsonFormatter, RedactSecrets, configure
from supportbot.adapters.settings import load_settings, secret_values

QUESTION = "How do I download my invoice? my email is alice@small.example"


@pytest.fixture
def json_lines():
    """A JSON handler on the root logger, as `SUPPORTBOT_LOG_FORMAT=json` installs it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_one_json_line_per_processed_message_with_ids_and_decision_but_no_text(app, alice, json_lines):
    result = await alice.says(QUESTION)
    assert result.decision is not None
    [line] = [entry for entry in json_lines() if entry.get("event") == "message"]
    assert line["level"] == "INFO" and line["logger"] == "supportbot.bot.intake" and line["time"].endswith("+00:00")
    assert line["message_id"] and line["conversation_id"] == result.conversation_id and line["platform"] == "test"
    assert (line["status"], line["action"], line["rule"]) == (
        "processed",
        result.decision.action.value,
        result.decision.rule,
    )
    assert line["intent"] and isinstance(line["confidence"], float) and line["latency_ms"] >= 0
    everything = json.dumps(json_lines())
    assert "invoice?" not in everything and "alice@small.example" not in everything


def test_exceptions_go_in_one_line_too(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("supportbot.test").exception("it failed", extra={"event": "job", "job": "outbox"})
    [line] = json_lines()
    assert line["message"] == "it failed" and line["event"] == "job" and line["job"] == "outbox"
    assert "ValueError: boom" in line["exc"]


def test_every_configured_secret_is_redacted_whoever_logs_it(tmp_path, capsys):
    settings = load_settings(
        database_url="postgresql://bot:pg-pass-1234@db.internal/supportbot",
        slack_bot_token="xoxb-123-456-abcdef",
        slack_signing_secret="8f742231b10e8888abcd",
        discord_token="MTIz.discord.token",
        crm_token="crm-token-value",
        playground_token="playground-secret",
    )
    secrets = secret_values(settings)
    assert {"xoxb-123-456-abcdef", "8f742231b10e8888abcd", "MTIz.discord.token", "pg-pass-1234"} <= set(secrets)
    assert {"crm-token-value", "playground-secret"} <= set(secrets)
    root = logging.getLogger()
    before = list(root.handlers), root.level
    configure("INFO", "json", secrets)
    try:
        log = logging.getLogger("some.library")
        log.info("sending Authorization: Bearer %s to %s", "xoxb-123-456-abcdef", "slack")
        log.warning("connect failed for postgresql://bot:pg-pass-1234@db.internal", extra={"token": "crm-token-value"})
        try:
            raise RuntimeError("bad signature with 8f742231b10e8888abcd")
        except RuntimeError:
            log.exception("verification failed")
    finally:
        for handler in list(root.handlers):
            if handler not in before[0]:
                root.removeHandler(handler)
        root.setLevel(before[1])
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert [entry["logger"] for entry in lines] == ["some.library"] * 3
    assert "Bearer *** to slack" in lines[0]["message"] and lines[1]["token"] == "***"
    for secret in secrets:
        assert secret not in err


def test_redaction_leaves_ordinary_lines_alone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message %s %s", ("msg_1", 3), None)
    assert RedactSecrets(["longsecretvalue", "", None, "short"]).filter(record)
    assert record.getMessage() == "message msg_1 3" and record.args == ("msg_1", 3)
