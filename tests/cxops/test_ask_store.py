"""``supportbot ask --store`` run several times at once on one new SQLite file: no "database is
locked", and each call is a conversation of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from supportbot.storage import SqlUnitOfWorkFactory

QUESTIONS = ["how do I reset my password", "where is my invoice", "tell me a joke"]


def test_parallel_asks_store_one_conversation_each(tmp_path: Path, tiny_models) -> None:
    model_dir, _ = tiny_models["a"]
    url = f"sqlite:///{tmp_path / 'shared.db'}"  # not created yet: the processes race to migrate it too
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SUPPORTBOT_", "SLACK_", "DISCORD_"))},
        "SUPPORTBOT_DATABASE_URL": url,
        "SUPPORTBOT_MODEL_DIR": str(model_dir),
    }
    cmd = [sys.executable, "-m", "supportbot.adapters.cli", "ask", "--store", "--json"]
    procs = [
        subprocess.Popen([*cmd, q], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for q in QUESTIONS
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err
    ids = [json.loads(out.strip().splitlines()[-1])["conversation_id"] for out, _ in outputs]
    assert len(set(ids)) == len(ids)
    factory = SqlUnitOfWorkFactory(url)
    try:
        with factory() as uow:
            stored = uow.conversations.list()
            assert sorted(c.id for c in stored) == sorted(ids)
            assert all(len(uow.messages.for_conversation(c.id)) == 1 for c in stored)
    finally:
        factory.dispose()
