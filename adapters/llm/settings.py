"""Settings of the optional LLM composer (off unless ``SUPPORTBOT_LLM_URL`` is set).

A mixin: the root ``Settings`` can inherit it, or it can be loaded on its own
with ``LlmSettings()``. Same ``SUPPORTBOT_`` prefix as every other setting.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LlmSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUPPORTBOT_", extra="ignore", populate_by_name=True)

    # Base of an OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1 (Ollama), a vLLM or llama.cpp server.
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None  # sent as Authorization: Bearer
    llm_timeout: float = Field(20.0, gt=0, le=600)  # seconds for the whole call, retries included

    @field_validator("llm_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _model_with_url(self) -> LlmSettings:
        if self.llm_url and not self.llm_model:
            raise ValueError("SUPPORTBOT_LLM_MODEL is required when SUPPORTBOT_LLM_URL is set")
        return self

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_url)
