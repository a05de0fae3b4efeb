"""The `supportbot` command line on the embedded defaults (bundled KB, CRM and model)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from supportbot.adapters.cli import main

REQUIRED_KEYS = {"intent", "confidence", "action", "reply", "citations", "reason"}


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "DISCORD_TOKEN", "SUPPORTBOT_DATABASE_URL", "SUPPORTBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def ask(runner, *args):
    result = runner.invoke(main, ["ask", *args, "--json"])
    return result, json.loads(result.stdout.strip().splitlines()[-1])


def test_invoice_question_is_answered_with_a_citation(runner):
    result, data = ask(runner, "how do I download my invoices?")
    assert result.exit_code == 0, result.output
    assert data.keys() >= REQUIRED_KEYS
    assert data["intent"] == "invoice"
    assert data["action"] == "answer", data["reason"]
    assert data["citations"][0]["url"].startswith("https://docs.nimbusmetrics.example/")
    assert data["citations"][0]["title"] in data["reply"]


def test_sso_error_is_drafted_or_handed_off_with_its_reason(runner):
    result, data = ask(runner, "I can't log in with SSO, it says SAML response invalid")
    assert result.exit_code == 0, result.output
    assert data["intent"] == "sso_saml"
    assert data["action"] in ("draft", "handoff")
    assert data["reason"] and data["rule"]


def test_an_enterprise_account_gets_a_draft(runner):
    result, data = ask(runner, "how do I download my invoices?", "--account", "acc_globex")
    assert data["action"] == "draft" and data["rule"] == "tier_requires_review"
    assert data["account"]["tier"] == "enterprise"


def test_outage_in_mild_words_is_handed_off(runner):
    _, data = ask(runner, "Quick question: none of our users can log in since 9am")
    assert data["action"] == "handoff"
    assert data["urgency"] == "critical"


@pytest.mark.parametrize("text", ["", "   \x00\x07  ", "x" * 40_001])
def test_bad_input_is_a_clear_error_not_a_crash(runner, text):
    result, data = ask(runner, text)
    assert result.exit_code == 1
    assert data["status"] == "rejected" and data["detail"]


def test_human_readable_output(runner):
    result = runner.invoke(main, ["ask", "how do I download my invoices?"])
    assert result.exit_code == 0
    assert "action:     answer" in result.output and "Source:" in result.output


def test_unknown_account_is_refused(runner):
    result = runner.invoke(main, ["ask", "hello there, my invoice?", "--account", "acc_nope"])
    assert result.exit_code != 0 and "unknown account" in result.output


def test_bad_setting_stops_with_its_name(runner, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_GROUPING_WINDOW_SECONDS", "-5")
    result = runner.invoke(main, ["ask", "how do I download my invoices?"])
    assert result.exit_code != 0
    assert "SUPPORTBOT_GROUPING_WINDOW_SECONDS" in result.output


def test_db_upgrade_and_kb_index(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and "database at revision" in upgraded.output
    first = runner.invoke(main, ["kb", "index"])
    assert first.exit_code == 0 and " added" in first.output
    second = runner.invoke(main, ["kb", "index"])
    assert "0 added, 0 updated, 0 removed" in second.output


def test_chat_is_a_terminal_channel_over_the_same_core(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'chat.db'}")
    result = runner.invoke(
        main,
        ["chat", "--account", "acc_demo"],
        input="how do I download my invoices?\nthanks!\n/support queue\n/quit\n",
    )
    assert result.exit_code == 0, result.output
    assert "bot> " in result.output and "Source: [Downloading invoices and receipts" in result.output
    assert "[staff]" in result.output and "The queue is empty" in result.output


def test_outbox_failed_lists_dead_letters_and_retry_requeues_them(runner, tmp_path, monkeypatch):
    from datetime import UTC, datetime

    from supportbot.bot.domain import Audience, Outbound, OutboundKind, OutboxStatus
    from supportbot.storage import SqlUnitOfWorkFactory, upgrade

    url = f"sqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", url)
    assert runner.invoke(main, ["outbox", "failed"]).output.strip() == "nothing failed"
    upgrade(url)
    factory = SqlUnitOfWorkFactory(url)
    with factory() as uow:
        item = Outbound(
            id="out_dead",
            platform="slack",
            audience=Audience.CUSTOMER,
            kind=OutboundKind.ANSWER,
            text="Settings → Billing",
            dedupe_key="answer:x",
            created_at=datetime.now(UTC),
            conversation_id=None,
        )
        uow.outbox.add(item)
        item.status, item.attempts, item.last_error = OutboxStatus.FAILED, 12, "gave up after 1 day: HTTP 503"
        uow.outbox.save_delivery(item)
        uow.commit()
    listed = runner.invoke(main, ["outbox", "failed"])
    assert listed.exit_code == 0 and "out_dead answer" in listed.output and "HTTP 503" in listed.output
    (line,) = runner.invoke(main, ["outbox", "failed", "--json"]).output.strip().splitlines()
    assert json.loads(line)["id"] == "out_dead" and json.loads(line)["attempts"] == 12
    assert runner.invoke(main, ["outbox", "retry"]).exit_code == 2  # names nothing: a usage error
    missing = runner.invoke(main, ["outbox", "retry", "out_nope"])
    assert missing.exit_code == 1 and "no failed item" in missing.output
    done = runner.invoke(main, ["outbox", "retry", "out_dead"])
    assert done.exit_code == 0 and "requeued 1 item" in done.output
    with factory() as uow:
        again = uow.outbox.get("out_dead")
    assert again.status is OutboxStatus.PENDING and "requeued_at" in again.payload
    factory.dispose()
