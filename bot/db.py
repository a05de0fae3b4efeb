"""The ``Database`` port's implementation: units of work on worker threads, writes group-committed.

Repositories are synchronous; the core is async. Every unit of work the core
runs goes through ``ThreadedDatabase``, so the event loop never waits on SQL:
acknowledging a Slack request, reading a Discord gateway frame or serving the
playground carries on while a transaction runs in a thread.

Writes go to one writer thread. It takes every write that is waiting (up to
``max_batch``) and runs them in ONE database transaction, each inside its own
savepoint: a unit of work that raises is rolled back alone and its caller gets
the error; the others commit together. Under load that turns dozens of short
transactions (receipts, decisions, delivery claims) into one commit, and
writers never queue on a lock. Reads run on a small pool of their own threads.

``workers=0`` runs everything inline on the loop (in-memory fakes in tests);
``shared_connection`` sends reads to the writer thread too (an in-memory SQLite
database is one connection that two threads must not use at once).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from supportbot.bot.ports import Database, UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class _Job:
    work: Callable[[UnitOfWork], Any]
    future: Future[Any]
    write: bool


class ThreadedDatabase(Database):
    def __init__(
        self, uow: UnitOfWorkFactory, *, workers: int = 4, shared_connection: bool = False, max_batch: int = 64
    ) -> None:
        self.uow = uow
        self.max_batch = max_batch
        self.transactions = 0  # committed database transactions (benchmarks report them per message)
        self.units = 0  # write units of work committed (each in its own savepoint)
        self.reads = 0
        self._inline = workers <= 0
        self._shared = shared_connection
        self._readers = ThreadPoolExecutor(workers, thread_name_prefix="supportbot-db-read") if workers > 0 else None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- the port
    async def transaction(self, work: Callable[[UnitOfWork], T]) -> T:
        if self._inline:
            return self._run_inline(work, write=True)
        return await self._submit(work, write=True)

    async def read(self, work: Callable[[UnitOfWork], T]) -> T:
        if self._inline:
            return self._run_inline(work, write=False)
        if self._shared:
            return await self._submit(work, write=False)
        assert self._readers is not None
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read, work)

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._jobs.put(None)
            writer.join(10)
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        self._inline = True  # anything after close runs inline rather than hanging

    # ---------------------------------------------------------------- inline (fakes)
    def _run_inline(self, work: Callable[[UnitOfWork], T], *, write: bool) -> T:
        if not write:
            return self._read(work)
        with self.uow.writer() as uow:
            result = work(uow)
            uow.commit()
        self.transactions += 1
        self.units += 1
        return result

    def _read(self, work: Callable[[UnitOfWork], T]) -> T:
        with self.uow() as uow:
            self.reads += 1
            return work(uow)

    # ---------------------------------------------------------------- the writer thread
    async def _submit(self, work: Callable[[UnitOfWork], T], *, write: bool) -> T:
        self._start_writer()
        future: Future[T] = Future()
        self._jobs.put(_Job(work, future, write))
        return await asyncio.wrap_future(future)

    def _start_writer(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="supportbot-db-write", daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            reads = [j for j in batch if not j.write]
            writes = [j for j in batch if j.write]
            for read in reads:
                self._settle(read, lambda r=read: self._read(r.work))  # type: ignore[misc]
            if writes:
                self._commit_batch(writes)
            if stop:
                return

    def _commit_batch(self, jobs: list[_Job]) -> None:
        results: list[tuple[_Job, bool, Any]] = []
        try:
            with self.uow.writer() as uow:
                for job in jobs:
                    try:
                        with uow.savepoint():
                            results.append((job, True, job.work(uow)))
                    except BaseException as exc:  # this unit of work alone is rolled back
                        results.append((job, False, exc))
                uow.commit()
        except BaseException as exc:  # the commit failed: nothing of the batch is stored
            log.warning("a batch of %d write transactions failed: %s", len(jobs), type(exc).__name__)
            for job in jobs:
                if not job.future.done():
                    _resolve(job.future, False, exc)
            return
        self.transactions += 1
        for job, ok, value in results:
            self.units += ok
            _resolve(job.future, ok, value)

    @staticmethod
    def _settle(job: _Job, run: Callable[[], Any]) -> None:
        try:
            value, ok = run(), True
        except BaseException as exc:
            value, ok = exc, False
        _resolve(job.future, ok, value)


def _resolve(future: Future[Any], ok: bool, value: Any) -> None:
    """Hand a result back; a caller whose event loop has gone (shutdown) must not kill the writer thread."""
    try:
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
    except Exception:  # e.g. RuntimeError("Event loop is closed") from the waiting loop's callback
        log.debug("the caller of a unit of work went away before it finished")
