"""A core built from settings a test chooses (the shared ``app`` fixture uses the defaults)."""

from __future__ import annotations

from typing import Any

import pytest

from supportbot.adapters.bootstrap import Runtime, bootstrap
from supportbot.adapters.settings import load_settings
from supportbot.bot.knowledge import MarkdownKnowledgeBase
from tests.conftest import write_kb
from tests.fakes.core import FakeClassifier


@pytest.fixture
def make_app(tmp_path, clock, channel, crm, uow_factory):
    def make(**overrides: Any) -> Runtime:
        settings = load_settings(database_url="sqlite://", kb_dir=write_kb(tmp_path / "kb"), **overrides)
        return bootstrap(
            settings,
            uow=uow_factory,
            classifier=FakeClassifier(),
            kb=MarkdownKnowledgeBase(settings.kb_dir),
            crm=crm,
            clock=clock,
            channels=(channel,),
        )

    return make
