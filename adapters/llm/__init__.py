"""Language-model adapters: OpenAI-compatible chat completions over httpx."""

from __future__ import annotations

from supportbot.adapters.llm.client import OpenAIChatModel, build_language_model
from supportbot.adapters.llm.settings import LlmSettings

__all__ = ["LlmSettings", "OpenAIChatModel", "build_language_model"]
