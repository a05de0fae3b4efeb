"""`supportbot` fails with one line naming the setting and a non-zero exit; `--debug` shows the traceback.

Real processes (`python -m supportbot.adapters.cli`), a socket held open, unreachable databases.
The cases of one test run side by side to keep the suite quick.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLI = [sys.executable, "-m", "supportbot.adapters.cli"]


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "SUPPORTBOT_"))}
    env.update(
        SUPPORTBOT_CONFIG=str(tmp_path / "absent.toml"),
        SUPPORTBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        SUPPORTBOT_HTTP_HOST="127.0.0.1",
        SUPPORTBOT_HTTP_PORT="0",
        SUPPORTBOT_PLAYGROUND_PORT="0",
    )
    env.update(values)
    return env


@contextmanager
def _taken_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _run_all(cases: dict[str, tuple[list[str], dict[str, str]]], cwd: Path) -> dict[str, tuple[int, str]]:
    procs = {
        name: subprocess.Popen(
            args if args[0] == sys.executable else CLI + args, env=env, cwd=cwd, stderr=subprocess.PIPE, text=True
        )
        for name, (args, env) in cases.items()
    }
    results = {}
    try:
        for name, proc in procs.items():
            _, err = proc.communicate(timeout=90)  # a process that keeps running is a failure too
            results[name] = (proc.returncode, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def _one_line_error(result: tuple[int, str]) -> str:
    code, err = result
    assert code != 0, err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def test_taken_ports_name_their_setting(tmp_path):
    for name in ("http", "playground"):
        (tmp_path / name).mkdir()
    with _taken_port() as port:
        cases = {
            "http": (["run"], _env(tmp_path / "http", SUPPORTBOT_HTTP_PORT=str(port))),
            "playground": (["run"], _env(tmp_path / "playground", SUPPORTBOT_PLAYGROUND_PORT=str(port))),
        }
        results = _run_all(cases, tmp_path)
    assert _one_line_error(results["http"]) == (
        f"Error: setting SUPPORTBOT_HTTP_PORT: cannot listen on 127.0.0.1:{port}: "
        "address already in use (another process listens there)"
    )
    assert _one_line_error(results["playground"]).startswith(
        f"Error: setting SUPPORTBOT_PLAYGROUND_PORT: cannot listen on 127.0.0.1:{port}: address already in use"
    )


def test_database_problems_name_the_url_setting_and_debug_shows_the_traceback(tmp_path):
    unreachable = "postgresql://bob:hunter2-secret@127.0.0.1:1/nothing"
    no_driver = [
        sys.executable,
        "-c",
        # psycopg is installed here: hide it the way Python does for a missing module
        "import sys; sys.modules['psycopg'] = None; from supportbot.adapters.cli import main; main()",
        "run",
    ]
    cases = {
        "unreachable": (["run"], _env(tmp_path, SUPPORTBOT_DATABASE_URL=unreachable)),
        "upgrade": (["db", "upgrade"], _env(tmp_path, SUPPORTBOT_DATABASE_URL=unreachable)),
        "debug": (["--debug", "run"], _env(tmp_path, SUPPORTBOT_DATABASE_URL=unreachable)),
        "no folder": (["run"], _env(tmp_path, SUPPORTBOT_DATABASE_URL=f"sqlite:///{tmp_path}/missing/dir/bot.db")),
        "no driver": (no_driver, _env(tmp_path, SUPPORTBOT_DATABASE_URL="postgresql://bob@127.0.0.1:1/nothing")),
    }
    results = _run_all(cases, tmp_path)
    for name in ("unreachable", "upgrade"):
        line = _one_line_error(results[name])
        assert line.startswith("Error: setting SUPPORTBOT_DATABASE_URL: cannot open the database: "), line
        assert "Connection refused" in line and "hunter2-secret" not in results[name][1]
    code, err = results["debug"]
    assert code != 0 and "Traceback" in err and "ConfigurationError: setting SUPPORTBOT_DATABASE_URL" in err
    assert "OperationalError" in err  # the driver's error, chained
    line = _one_line_error(results["no folder"])
    assert line == "Error: setting SUPPORTBOT_DATABASE_URL: cannot open the database: unable to open database file"
    line = _one_line_error(results["no driver"])
    assert line == (
        "Error: setting SUPPORTBOT_DATABASE_URL: PostgreSQL needs its driver: pip install 'supportbot[postgres]'"
    )
