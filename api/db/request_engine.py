"""A request's view of the engine: at most N pooled connections at once, all cancellable.

Resolvers of one GraphQL request run concurrently (a nested list of 500 items starts 500
nested reads), so without a bound one request could take every connection of the pool and
make every other client wait. `RequestEngine` shares the process's pool but lets a request
hold at most `limit` connections at a time (the rest of its reads queue behind them), and
remembers which tasks hold or await one, so that a request that times out can cancel them all:
dataloader batches run in tasks of their own that the request's cancellation does not reach.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class _BoundedConnection(AsyncConnection):
    __slots__ = ("_holds",)

    def __init__(self, async_engine: AsyncEngine, sync_connection: Any = None) -> None:
        super().__init__(async_engine, sync_connection)
        self._holds = False

    async def start(self, is_ctxmanager: bool = False) -> AsyncConnection:
        engine = self.engine
        assert isinstance(engine, RequestEngine)
        task = asyncio.current_task()
        if task is not None:
            engine.tasks.add(task)
        await engine.slots.acquire()
        self._holds = True
        try:
            return await super().start(is_ctxmanager)
        except BaseException:
            self._release()
            raise

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._holds:
            self._holds = False
            engine = self.engine
            assert isinstance(engine, RequestEngine)
            engine.slots.release()


class RequestEngine(AsyncEngine):
    """The process's `engine` (same pool), limited to `limit` connections at once."""

    _connection_cls = _BoundedConnection

    def __init__(self, engine: AsyncEngine, *, limit: int) -> None:
        # Not AsyncEngine.__init__: that would register this short-lived object as *the*
        # proxy of the shared sync engine.
        self.sync_engine = engine.sync_engine
        self.slots = asyncio.Semaphore(limit)
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    def cancel(self) -> int:
        """Cancel every other task still using one of this request's connections."""
        current = asyncio.current_task()
        pending = [t for t in self.tasks if not t.done() and t is not current]
        for task in pending:
            task.cancel()
        self.tasks.clear()
        return len(pending)
