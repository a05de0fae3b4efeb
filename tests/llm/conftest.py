from __future__ import annotations

import pytest

from tests.llm.fake_openai import FakeOpenAI


@pytest.fixture
async def fake_llm():
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()
