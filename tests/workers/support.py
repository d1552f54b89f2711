"""Helpers the worker runtime tests share: polling, an in-process worker, failure look-ups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from arq.connections import RedisSettings, create_pool

from api.settings import Settings
from tests.workers.audio_server import encode, stereo_tone
from workers.arq_settings import WorkerOptions
from workers.bots import Namespace
from workers.failures import Failure
from workers.main import list_failures, serve


async def wait_for(condition: Callable[[], Awaitable[Any]], *, within: float = 60.0) -> Any:
    """Poll `condition` until it returns something truthy; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not (result := await condition()):
        assert asyncio.get_running_loop().time() < deadline, f"not met within {within} s"
        await asyncio.sleep(0.05)
    return result


@asynccontextmanager
async def running(
    settings: Settings, options: WorkerOptions, *, bot: str = "stft"
) -> AsyncIterator[None]:
    """One bot's worker in this process (pool and all), until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings=settings, bots=[bot], options=options, stop=stop))
    redis = await create_pool(RedisSettings.from_dsn(settings.redis_url or ""))

    async def started() -> bool:
        if task.done():
            task.result()  # it crashed: show why
        return bool(await redis.exists(Namespace(options.namespace).checkpoint(bot)))

    try:
        await wait_for(started)
        yield
    finally:
        stop.set()
        await redis.aclose()
        await asyncio.wait_for(task, 60)


def tone_wav(seconds: float = 1.0) -> bytes:
    return encode(stereo_tone(seconds=seconds), format="WAV", subtype="PCM_16")


async def failures_by_source(settings: Settings, namespace: str) -> dict[str, Failure]:
    found = await asyncio.to_thread(list_failures, settings=settings, namespace=namespace)
    return {f.source: f for f in found}
