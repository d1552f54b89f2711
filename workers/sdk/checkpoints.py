"""Where a follower keeps the last cursor it finished: Redis, a file, or its own index.

A checkpoint is anything with `load()` and `save(cursor)`. The SDK saves a cursor only after
the caller's work on everything before it is durable, so a crash repeats work, never skips it.
An aggregator that commits its cursor *with* its index (one atomic write) gives
`CommittedCheckpoint` the function that reads the committed cursor: the SDK then never writes a
cursor of its own, and a restart resumes exactly after the last commit.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import redis.asyncio as aioredis

__all__ = ["Checkpoint", "CommittedCheckpoint", "FileCheckpoint", "RedisCheckpoint"]


class Checkpoint(Protocol):
    """The last cursor a follower finished (None: it has not started)."""

    async def load(self) -> str | None: ...

    async def save(self, cursor: str) -> None: ...


class RedisCheckpoint:
    """The last cursor a follower finished, stored in Redis under `key`."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self.redis = redis
        self.key = key

    async def load(self) -> str | None:
        value = await self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    async def save(self, cursor: str) -> None:
        await self.redis.set(self.key, cursor)


class FileCheckpoint:
    """The cursor in a small file, replaced atomically (temp file, fsync, rename)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    async def load(self) -> str | None:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except FileNotFoundError:
            return None
        return text.strip() or None

    async def save(self, cursor: str) -> None:
        await asyncio.to_thread(write_atomically, self.path, cursor.encode())


class CommittedCheckpoint:
    """A checkpoint its owner commits together with its work: `save` only remembers the
    cursor in memory, `load` asks the owner (e.g. the cursor stored in the index)."""

    def __init__(self, load: Callable[[], Awaitable[str | None]]) -> None:
        self._load = load
        self.last_saved: str | None = None

    async def load(self) -> str | None:
        return await self._load()

    async def save(self, cursor: str) -> None:
        self.last_saved = cursor


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: readers see the old bytes or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
