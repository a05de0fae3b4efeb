"""Storage settings: which database (the composition root combines these with the others)."""

from __future__ import annotations

from pydantic import BaseModel, field_validator


class StorageSettings(BaseModel):
    database_url: str = "sqlite:///supportbot.db"  # SUPPORTBOT_DATABASE_URL

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value
