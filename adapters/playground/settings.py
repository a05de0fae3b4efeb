"""Playground settings."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PlaygroundSettings(BaseModel):
    playground_host: str = "127.0.0.1"
    playground_port: int = Field(8080, ge=0, le=65535)
    playground_token: str | None = None
    playground_enabled: bool | None = None  # None: only when no chat platform is configured
