"""Fan-out: tell every API process that a stream has new commits.

A notification carries no data; it only wakes subscribers, who then read what is new from
PostgreSQL after their own cursor. So a lost or late notification can delay an event but never
drop one (subscribers also re-read on a slow timer as a safety net), a slow subscriber holds no
queue (it reads at its own pace), and order and exactly-once come from the database, where
ids follow commit order (`api.services.streams`).

Across processes the wake-up travels over Redis pub/sub (`cochlea:stream:<kind>`); without
Redis it stays in-process. Given the process's engine, the hub also keeps one shared
`LiveReader` per filtered stream (sounds, annotations): after a wake-up only it reads the
database, once for all this process's subscribers (`api.services.live`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from api.services.live import LiveReader
from api.services.reading import ANNOTATIONS, SOUNDS, Kind

log = logging.getLogger(__name__)

CHANNEL = "cochlea:stream:"
KINDS = ("user", "sound", "annotation")
SHARED: dict[str, Kind[Any, Any]] = {"sound": SOUNDS, "annotation": ANNOTATIONS}
"""The streams read once per process (their filters can be matched in memory)."""


class EventHub:
    """One per process: publishes wake-ups and relays those of other processes."""

    def __init__(self, redis_url: str | None, engine: AsyncEngine | None = None) -> None:
        self._redis_url = redis_url
        self._engine = engine
        self._readers: dict[str, LiveReader[Any]] = {}
        self._redis: aioredis.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._signals = {kind: asyncio.Event() for kind in KINDS}

    async def start(self) -> None:
        if self._redis_url:
            self._redis = aioredis.Redis.from_url(self._redis_url)
            self._listener = asyncio.create_task(self._listen(), name="cochlea-events")

    def reader(self, kind: str) -> LiveReader[Any] | None:
        """This process's shared reader of `kind` (None: subscribers read for themselves)."""
        if self._engine is None or kind not in SHARED:
            return None
        if kind not in self._readers:
            self._readers[kind] = LiveReader(
                engine=self._engine, kind=SHARED[kind], signal=lambda: self.signal(kind)
            )
        return self._readers[kind]

    async def stop(self) -> None:
        for reader in self._readers.values():
            await reader.stop()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._redis is not None:
            await self._redis.aclose()

    def signal(self, kind: str) -> asyncio.Event:
        """The event that the next commit of `kind` sets. Take it *before* reading the database,
        then wait on it only if the read found nothing: no wake-up can fall in between."""
        return self._signals[kind]

    def _wake(self, kind: str) -> None:
        event = self._signals.get(kind)
        if event is not None:
            self._signals[kind] = asyncio.Event()
            event.set()

    async def publish(self, kind: str) -> None:
        """Called after a commit of `kind`: wakes subscribers here and in other processes."""
        self._wake(kind)
        if self._redis is not None:
            try:
                await self._redis.publish(CHANNEL + kind, b"1")
            except aioredis.RedisError:  # subscribers still catch up by polling
                log.warning("could not publish a %s wake-up to Redis", kind, exc_info=True)

    async def _listen(self) -> None:
        assert self._redis is not None
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(*(CHANNEL + k for k in KINDS))
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake(message["channel"].decode().removeprefix(CHANNEL))
            except asyncio.CancelledError:
                raise
            except Exception:  # reconnect; meanwhile subscribers poll
                log.warning("event listener lost Redis; retrying", exc_info=True)
                await asyncio.sleep(1.0)
