"""`supportbot demo-data` and `supportbot report` against a real SQLite file."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from supportbot.adapters.cli import main
from supportbot.adapters.cli_ops import simulate
from supportbot.adapters.settings import load_settings
from supportbot.bot.metrics import compute_metrics
from supportbot.storage import SqlUnitOfWorkFactory
from tests.fakes.core import FakeClassifier

END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # a Friday: Wednesday to Friday are simulated


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    settings = load_settings(database_url=url, sla={"timezone": "Europe/Berlin"})
    import asyncio

    summary = asyncio.run(simulate(settings, days=2, seed=3, end=END, per_weekday=(6, 8), classifier=FakeClassifier()))
    assert summary.conversations >= 5 and summary.sent > summary.conversations
    return url


def test_demo_data_goes_through_the_real_core_into_the_database(demo_db):
    factory = SqlUnitOfWorkFactory(demo_db)
    try:
        with factory() as uow:
            m = compute_metrics(uow, END - timedelta(days=4), END)
            kinds = {e.kind for e in uow.sla_events.list()}
            outbox = uow.outbox.list()
    finally:
        factory.dispose()
    assert m.overall.volume >= 5 and m.overall.handoffs > 0
    assert m.overall.csat_responses > 0  # customers answered CSAT prompts the lifecycle asked
    assert {"nudge", "auto_resolve"} & kinds or "frt_warning" in kinds
    assert any(o.payload.get("csat") for o in outbox)


def test_report_command_writes_a_self_contained_page(demo_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", demo_db)
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(main, ["report", "--since", "7d", "--until", "2026-11-21", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("<svg") == 4 and "<script" not in page
    assert "Conversations per day" in page and "14 Nov 2026 – 21 Nov 2026" in page


def test_report_rejects_a_bad_period(tmp_path):
    result = CliRunner().invoke(main, ["report", "--since", "soon", "--out", str(tmp_path / "r.html")])
    assert result.exit_code != 0 and "24h, 7d or 4w" in result.output


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_report_renders_to_png(demo_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", demo_db)
    png = tmp_path / "report.png"
    result = CliRunner().invoke(
        main, ["report", "--since", "7d", "--until", "2026-11-21", "--out", str(tmp_path / "r.html"), "--png", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
