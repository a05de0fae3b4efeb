"""Test doubles for the ports in ``bot.ports``."""

from tests.fakes.memory_uow import InMemoryStore, InMemoryUnitOfWork, InMemoryUnitOfWorkFactory

__all__ = ["InMemoryStore", "InMemoryUnitOfWork", "InMemoryUnitOfWorkFactory"]
