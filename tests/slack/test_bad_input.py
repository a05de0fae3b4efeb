"""Bad requests to /slack/events get a 4xx with a short reason, never a 500, and never reach the logs.

Real signed HTTP requests against the running SlackService (HTTP mode) on loopback.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from tests.slack.conftest import ALICE, SHARED, message_event, sign

MARKER = "MARKER-7f3a-customer-secret-text"

JSON, FORM = "application/json", "application/x-www-form-urlencoded"


def _form_payload(payload: object) -> str:
    return urlencode({"payload": json.dumps(payload)})


SIGNED_BUT_MALFORMED = [
    ("not JSON", "{this is not json", JSON),
    ("a JSON list", "[1, 2, 3]", JSON),
    ("JSON without a type", json.dumps({"team_id": "T1"}), JSON),
    ("an event_callback without its event", json.dumps({"type": "event_callback", "team_id": "T1"}), JSON),
    ("an event that is a string", json.dumps({"type": "event_callback", "event": "message"}), JSON),
    ("a form payload that is not JSON", "payload=%7Bnot-json", FORM),
    ("block_actions without actions", _form_payload({"type": "block_actions", "user": {"id": ALICE}}), FORM),
    (
        "block_actions with an action without action_id",
        _form_payload({"type": "block_actions", "user": {"id": ALICE}, "actions": [{}]}),
        FORM,
    ),
    ("a view_submission without its view", _form_payload({"type": "view_submission", "user": {"id": ALICE}}), FORM),
    ("a slash command without a user", urlencode({"command": "/support", "channel_id": SHARED}), FORM),
    ("an empty form", "", FORM),
]


@pytest.mark.parametrize(
    ("body", "content_type"), [c[1:] for c in SIGNED_BUT_MALFORMED], ids=[c[0] for c in SIGNED_BUT_MALFORMED]
)
async def test_signed_but_malformed_body_is_400(slack, body, content_type):
    status, text = await slack.post(body, content_type)
    assert status == 400, text
    assert json.loads(text)["ok"] is False and json.loads(text)["error"]


async def test_bad_headers_are_4xx_and_the_process_lives(slack):
    body = json.dumps(message_event(ALICE, "How do I download my invoice?", user_team="TSMALL"))
    cases = [
        ({"X-Slack-Request-Timestamp": "not-a-number"}, 400),
        ({"X-Slack-Signature": ""}, 401),
        ({"X-Slack-Request-Timestamp": ""}, 401),
        ({"X-Slack-Signature": "v0=" + "0" * 64}, 401),
    ]
    for headers, expected in cases:
        status, text = await slack.post(body, JSON, headers)
        assert (status, bool(json.loads(text)["error"])) == (expected, True), headers
    async with slack.session.post(slack.url, data=body.encode(), headers={"Content-Type": JSON}) as resp:
        assert resp.status == 401  # no Slack headers at all
    async with slack.session.post(slack.url, data=b"\xff\xfe{}", headers={"Content-Type": JSON, **sign("x")}) as resp:
        assert resp.status == 400  # not UTF-8
    with slack.app.core.uow() as uow:
        assert uow.messages.list() == []  # none of it was stored
    await slack.says(ALICE, "How do I download my invoice?", user_team="TSMALL")  # and the service still answers
    assert len(slack.fake.posts(SHARED)) == 1


async def test_forged_request_body_never_reaches_the_logs(slack, caplog):
    caplog.set_level(logging.INFO)
    body = json.dumps(message_event(ALICE, MARKER, user_team="TSMALL"))
    forged = sign(body, secret="not-the-signing-secret")
    status, _ = await slack.post(body, JSON, forged)
    assert status == 401
    stale = sign(body, timestamp=1_600_000_000)
    status, _ = await slack.post(body, JSON, stale)
    assert status == 401
    # bolt itself, given a forged request (its own verification, its own logger): the body is dropped
    assert slack.service.bolt is not None
    response = await slack.service.bolt.async_dispatch(
        AsyncBoltRequest(body=body, headers={"content-type": JSON, **forged})
    )
    assert response.status == 401
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("Invalid request signature detected" in line for line in lines)  # the line is kept...
    assert not [line for line in lines if MARKER in line]  # ...without the body


async def test_unhandled_request_is_logged_without_its_body(slack, caplog):
    caplog.set_level(logging.INFO)
    # bolt's "Unhandled request" line quotes a legacy dialog's submission: what a person typed
    payload = {
        "type": "dialog_submission",
        "callback_id": "not_ours",
        "user": {"id": ALICE},
        "submission": {"a": MARKER},
    }
    status, _ = await slack.interactive(payload)
    assert status == 404  # bolt: no listener for it
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("Unhandled request" in line for line in lines) and not [line for line in lines if MARKER in line]
