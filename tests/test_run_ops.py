"""The quick start (`supportbot run` with no chat credentials: the playground) has the ops server too,
and its heartbeat lives with its data (`supportbot health` reads it there). A real process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CLI = [sys.executable, "-m", "supportbot.adapters.cli"]


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _address(log: Path, pattern: str) -> str | None:
    match = re.search(pattern, log.read_text())
    return match.group(1) if match else None


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_playground_only_run_serves_healthz_and_metrics_and_a_heartbeat_beside_its_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "SUPPORTBOT_"))}
    env.update(
        SUPPORTBOT_CONFIG=str(tmp_path / "absent.toml"),
        SUPPORTBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'bot.db'}",
        SUPPORTBOT_HTTP_HOST="127.0.0.1",
        SUPPORTBOT_HTTP_PORT="0",
        SUPPORTBOT_PLAYGROUND_PORT="0",
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "work").mkdir()
    log = tmp_path / "stderr.log"
    run = subprocess.Popen(CLI + ["run"], env=env, cwd=tmp_path / "work", stderr=log.open("w"))
    try:
        ops = _until(lambda: run.poll() is None and _address(log, r"ops endpoints on (\S+)"), 60, "the ops server")
        playground = _until(lambda: _address(log, r"playground listening on (\S+)/"), 60, "the playground")
        status, text = _get(ops + "/healthz")
        body = json.loads(text)
        assert status == 200 and body["status"] == "ok", body
        assert body["checks"]["playground"]["ok"] is True and body["checks"]["database"]["ok"] is True
        status, text = _get(ops + "/metrics")
        assert status == 200 and "supportbot_outbox_pending 0.0" in text and "supportbot_database_up 1.0" in text
        assert json.loads(_get(playground + "/healthz")[1]) == {"ok": True}  # the playground keeps its own
        heartbeat = tmp_path / "data" / "bot.heartbeat"
        _until(heartbeat.exists, 10, "the heartbeat beside the database")
        health = subprocess.run(CLI + ["health"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert health.returncode == 0 and "healthy" in health.stdout
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert "Traceback" not in log.read_text()
    assert not (tmp_path / "work" / "supportbot.heartbeat").exists()
