"""A real ``supportbot run`` process in Slack HTTP mode against the fake Slack, for crash tests and the soak bench.

The fake Slack runs in the caller's event loop; the bot is a child process that
can be killed with SIGKILL and started again on the same database. Events are
sent signed, as Slack sends them; an event whose request failed (the process
died before answering 200) is sent again with ``X-Slack-Retry-Num``, as Slack
retries it. Acknowledged events are never sent again: Slack does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.slack.fake_slack import FakeSlack

SECRET = "live-signing-secret"
SHARED, TRIAGE, TEAM = "C_SHARED", "C_TRIAGE", "TSMALL"
QUESTIONS = [
    "How do I download my invoice?",
    "Where can I download an invoice PDF?",
    "How do I reset my password?",
    "I forgot my password, how do I reset it?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def supportbot_command() -> list[str]:
    script = Path(sys.executable).with_name("supportbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "supportbot.adapters.cli"]


def fake_slack(users: int) -> FakeSlack:
    fake = FakeSlack()
    fake.add_channel(SHARED, "customer-support", shared=True)
    fake.add_channel(TRIAGE, "support-triage")
    for i in range(users):
        fake.add_user(f"U_C{i:04d}", TEAM, f"Customer {i}", f"c{i}@small.example")
    return fake


@dataclass
class BotProcess:
    """``supportbot run`` on ``database_url``, talking to ``api_url``; restartable."""

    workdir: Path
    api_url: str
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORTBOT_", "SLACK_", "DISCORD_"))}
        env.update(
            SLACK_BOT_TOKEN="xoxb-live",
            SLACK_SIGNING_SECRET=SECRET,
            SUPPORTBOT_SLACK_API_URL=self.api_url,
            SUPPORTBOT_SLACK_TRIAGE_CHANNEL=TRIAGE,
            SUPPORTBOT_HTTP_HOST="127.0.0.1",
            SUPPORTBOT_HTTP_PORT=str(self.port),
            SUPPORTBOT_DATABASE_URL=self.database_url,
            SUPPORTBOT_GROUPING_WINDOW_SECONDS="0",
            # the fake Slack has no rate limits of its own; tests that want 429s inject them
            SUPPORTBOT_SLACK_POST_PER_SECOND="200",
            SUPPORTBOT_SLACK_POST_BURST="200",
            SUPPORTBOT_LOG_LEVEL="WARNING",
        )
        env.update(self.env)
        return env

    async def start(self, timeout: float = 60.0) -> None:
        self.starts += 1
        log = open(self.workdir / f"bot-{self.starts}.log", "wb")  # noqa: SIM115 - the child writes to it
        self.proc = subprocess.Popen(
            [*supportbot_command(), "run"], cwd=self.workdir, env=self.environment(), stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"supportbot run exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                        if resp.status in (200, 503):
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"supportbot run did not listen within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.workdir.glob("bot-*.log")))


def event_body(i: int, *, users: int, text: str | None = None) -> tuple[str, str]:
    """(ts, body) of question ``i``: a message event_callback in the shared channel."""
    ts = f"{int(time.time())}.{i:06d}"
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T_OURS",
            "api_app_id": "A_APP",
            "type": "event_callback",
            "event_id": f"Ev{i:08d}",
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel": SHARED,
                "user": f"U_C{i % users:04d}",
                "text": text or QUESTIONS[i % len(QUESTIONS)],
                "ts": ts,
                "event_ts": ts,
                "channel_type": "channel",
                "user_team": TEAM,
            },
        }
    )
    return ts, body


def signed_headers(body: str, retry: int = 0) -> dict[str, str]:
    stamp = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={sig}"}
    if retry:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"})
    return headers


@dataclass
class Sender:
    """Sends questions like Slack: acknowledged ones never again, failed ones retried with a retry header."""

    users: int = 50
    bodies: dict[str, str] = field(default_factory=dict)  # ts -> body
    sent_at: dict[str, float] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    retries: Counter[str] = field(default_factory=Counter)

    def question(self, i: int) -> str:
        ts, body = event_body(i, users=self.users)
        self.bodies[ts] = body
        return ts

    async def send(self, url: str, stamps: list[str], *, concurrency: int = 32, rate: float | None = None) -> None:
        sem = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

            async def one(ts: str) -> None:
                body = self.bodies[ts]
                async with sem:
                    self.sent_at.setdefault(ts, time.time())
                    try:
                        async with session.post(
                            url, data=body.encode(), headers=signed_headers(body, self.retries[ts])
                        ) as resp:
                            await resp.read()
                            if resp.status == 200:
                                self.acked.add(ts)
                                return
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    self.retries[ts] += 1

            tasks = []
            begin = time.perf_counter()
            for n, ts in enumerate(stamps):
                if rate:
                    delay = begin + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(ts)))
            await asyncio.gather(*tasks)

    def unacknowledged(self) -> list[str]:
        return [ts for ts in self.bodies if ts not in self.acked]


@dataclass
class Tally:
    """What the fake Slack received, per question: replies by kind, and any outbound posted twice."""

    answers: Counter[str]  # question ts -> customer posts in its thread
    posted_twice: list[str]
    mirrors: int
    first_reply_at: dict[str, float]

    @classmethod
    def of(cls, fake: FakeSlack) -> Tally:
        answers: Counter[str] = Counter()
        per_outbound: Counter[str] = Counter()
        first: dict[str, float] = {}
        mirrors = 0
        for call in fake.of("chat.postMessage"):
            params = call.params
            payload = (params.get("metadata") or {}).get("event_payload") or {}
            if payload.get("outbound_id"):
                per_outbound[payload["outbound_id"]] += 1
            if params.get("channel") == SHARED and params.get("thread_ts"):
                answers[params["thread_ts"]] += 1
                first.setdefault(params["thread_ts"], call.at)
            if params.get("channel") == TRIAGE and payload.get("kind") == "mirror_open":
                mirrors += 1
        twice = [oid for oid, n in per_outbound.items() if n > 1]
        return cls(answers, twice, mirrors, first)

    def lost(self, questions: list[str]) -> list[str]:
        return [ts for ts in questions if self.answers[ts] == 0]

    def doubled(self, questions: list[str]) -> list[str]:
        return [ts for ts in questions if self.answers[ts] > 1]


async def wait_for_replies(fake: FakeSlack, questions: list[str], timeout: float) -> Tally:
    deadline = time.monotonic() + timeout
    while True:
        tally = Tally.of(fake)
        if not tally.lost(questions) or time.monotonic() > deadline:
            return tally
        await asyncio.sleep(0.1)
