"""The ``Database`` port's implementation: units of work on worker threads.

Repositories are synchronous; the core is async. Every unit of work the core
runs goes through ``ThreadedDatabase`` so the event loop never waits on SQL:
acknowledging a Slack request, reading a Discord gateway frame or serving the
playground carries on while a transaction runs in a thread.

``single_writer`` serialises write transactions inside the process (SQLite has
one writer at a time anyway; queueing them here avoids busy waits inside the
database). ``workers=0`` runs work inline on the loop, for in-memory fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from supportbot.bot.ports import Database, UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")


class ThreadedDatabase(Database):
    def __init__(self, uow: UnitOfWorkFactory, *, workers: int = 4, single_writer: bool = False) -> None:
        self.uow = uow
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="supportbot-db") if workers > 0 else None
        self._write_lock: threading.Lock | None = threading.Lock() if single_writer else None
        self.transactions = 0  # committed write transactions (benchmarks report them per message)
        self.reads = 0

    async def transaction(self, work: Callable[[UnitOfWork], T]) -> T:
        return await self._run(self._write, work)

    async def read(self, work: Callable[[UnitOfWork], T]) -> T:
        return await self._run(self._read, work)

    async def _run(self, runner: Callable[[Callable[[UnitOfWork], T]], T], work: Callable[[UnitOfWork], T]) -> T:
        if self._executor is None:
            return runner(work)
        return await asyncio.get_running_loop().run_in_executor(self._executor, runner, work)

    def _write(self, work: Callable[[UnitOfWork], T]) -> T:
        with self._write_lock or contextlib.nullcontext(), self.uow.writer() as uow:
            result = work(uow)
            uow.commit()
            self.transactions += 1
            return result

    def _read(self, work: Callable[[UnitOfWork], T]) -> T:
        with self.uow() as uow:
            self.reads += 1
            return work(uow)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
