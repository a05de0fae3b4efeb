"""`supportbot run` with DISCORD_TOKEN set starts the Discord client (separate processes, real model),
serves /healthz and /metrics on the ops port and, with SUPPORTBOT_LOG_FORMAT=json, logs JSON lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _ops_url(path: Path) -> str | None:
    for entry in _json_lines(path):
        if entry["message"].startswith("ops endpoints on "):
            return entry["message"].split()[3]
    return None


def test_supportbot_run_connects_and_answers(tmp_path):
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.discord_bot.fake_discord"], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    run = None
    try:
        info = json.loads(fake.stdout.readline())
        control = info["api_url"].rsplit("/api/", 1)[0] + "/_fake/"
        env = {
            **os.environ,
            "DISCORD_TOKEN": info["token"],
            "SUPPORTBOT_DISCORD_API_URL": info["api_url"],
            "SUPPORTBOT_DISCORD_SUPPORT_CHANNELS": f"{info['forum_id']},{info['text_id']}",
            "SUPPORTBOT_DISCORD_TRIAGE_CHANNEL": info["triage_id"],
            "SUPPORTBOT_DISCORD_AGENT_ROLE": info["agent_role"],
            "SUPPORTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
            "SUPPORTBOT_CONFIG": str(tmp_path / "none.toml"),
            "SUPPORTBOT_PLAYGROUND_ENABLED": "false",
            "SUPPORTBOT_HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
            "SUPPORTBOT_HTTP_HOST": "127.0.0.1",
            "SUPPORTBOT_HTTP_PORT": "0",
            "SUPPORTBOT_LOG_FORMAT": "json",
        }
        log_path = tmp_path / "stderr.log"
        run = subprocess.Popen(
            [sys.executable, "-c", "from adapters.cli import main; main()", "run"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log_path.open("w"),
            text=True,
        )
        _until(lambda: run.poll() is not None or _get(control + "state")["identified"], 60, "IDENTIFY")
        assert run.poll() is None, log_path.read_text()
        (question,) = _post(
            control + "customer_messages", {"contents": ["How do I reset my password?"], "channel_id": info["text_id"]}
        )["ids"]
        _until(lambda: question in _get(control + "latencies"), 30, "a reply in the question's thread")
        ops = _until(lambda: _ops_url(log_path), 10, "the ops server's address")
        health = _until(lambda: (h := _get(ops + "/healthz"))["checks"]["discord"]["ok"] and h, 10, "the gateway up")
        assert health["ok"] is True and health["checks"]["database"]["ok"] is True
        with urllib.request.urlopen(ops + "/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'supportbot_inbound_messages_total{outcome="stored",platform="discord"} 1.0' in metrics
        assert 'supportbot_platform_up{platform="discord"} 1.0' in metrics
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0
        lines = _json_lines(log_path)  # every line is one JSON object (json.loads would fail otherwise)
        [message] = [e for e in lines if e.get("event") == "message" and e["status"] == "processed"]
        assert message["platform"] == "discord" and message["action"] and message["intent"]
        assert "reset my password" not in log_path.read_text()
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        fake.terminate()
        fake.wait(timeout=10)
