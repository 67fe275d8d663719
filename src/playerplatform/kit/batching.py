"""Calls made at the same time in one process, served together: while one batch is being
served, the calls that arrive wait and go in the next, up to `max_batch` at a time. A lone
call goes at once, so nothing waits when the process is quiet; under load, batches grow by
themselves with the time a batch takes (the way databases group commits).

Each call's outcome is what it would have been alone: a batch that fails is served again
call by call, so one call's error is its own.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`submit(item)` returns `run([..., item, ...])`'s result for `item`; `run` returns one
    result per item, in order."""

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = 32):
        self._run = run
        self.max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._serving = False
        self._task: asyncio.Task[None] | None = None  # the one serving (kept: tasks are weak)

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        if not self._serving:
            self._serving = True
            self._task = loop.create_task(self._drain(), context=contextvars.Context())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                await self._serve(batch)
        except BaseException as error:  # cancelled (shutting down): no call waits forever
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            raise
        finally:
            self._serving = False

    async def _serve(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(error)
                return
            for entry in batch:  # each on its own: an error is only its call's
                await self._serve([entry])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
