"""A bot's listener: follow its input stream and enqueue one arq job per item.

The job id is deterministic (`<bot>:<source id>:v<version>`), so an item seen twice (after a
crash between enqueueing and checkpointing, or a replay) is enqueued once: arq refuses an id
that is queued, running or recently finished. The checkpoint advances only after the enqueue
returned (`workers.sdk.stream.follow` saves a cursor when asked for the next item), so a crash
never skips an item.

A bot with no checkpoint yet starts at the stream's current end, as the API does for a
subscription without `after`; the listener stores that position first, so that items created
while it connects, or while it reconnects before its first item, are not missed. With
`backfill`, it instead pages through everything the stream already holds (oldest first,
checkpointing as it goes) and then follows from there.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, cast

import redis.asyncio as aioredis
from arq.connections import ArqRedis

from workers.bots import BOTS, DERIVED_FROM, Namespace, job_id
from workers.jobs import FUNCTION_NAME
from workers.sdk.client import ApiClient
from workers.sdk.registry import find_user_id
from workers.sdk.stream import FILTER_TYPES, RedisCheckpoint, follow

__all__ = ["enqueue", "enqueue_existing", "listen", "start_filter", "supervise"]

log = logging.getLogger(__name__)

NEWEST = {"sound": "sounds", "stft": "annotations"}
"""The list whose newest cursor is where a bot without a checkpoint starts."""


async def start_filter(*, bot: str, client: ApiClient) -> dict[str, Any] | None:
    """The subscription filter of `bot`: the stft bot's annotations for the spectral bots.

    Waits (polling) until the stft bot has registered, which may happen on another machine.
    """
    if BOTS[bot].follows == "sound":
        return None
    delay = 1.0
    while (user_id := await find_user_id(client=client, name=DERIVED_FROM)) is None:
        log.info("%s waits for the %s bot to register", bot, DERIVED_FROM)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
    return {"createdBy": user_id}


async def enqueue(*, queue: ArqRedis, namespace: Namespace, bot: str, node: dict[str, Any]) -> str:
    """Enqueue `bot`'s job for `node`; its job id (also when it was queued before)."""
    id_ = job_id(bot=bot, source_id=str(node["id"]))
    job = await queue.enqueue_job(
        FUNCTION_NAME, bot, node, _job_id=id_, _queue_name=namespace.queue(bot)
    )
    log.debug("%s %s", "enqueued" if job is not None else "already known:", id_)
    return id_


async def listen(
    *,
    bot: str,
    graphql_url: str,
    client: ApiClient,
    redis: aioredis.Redis,
    queue: ArqRedis,
    namespace: Namespace,
    on_ready: Callable[[], None] | None = None,
    backfill: bool = False,
) -> None:
    """Follow `bot`'s input from its checkpoint (in `redis`) and enqueue jobs (in `queue`),
    forever. Raises what the enqueue raises: the item is then neither enqueued nor passed."""
    spec = BOTS[bot]
    filter_ = await start_filter(bot=bot, client=client)
    checkpoint = RedisCheckpoint(redis, namespace.checkpoint(bot))
    if await checkpoint.load() is None and backfill:
        await enqueue_existing(
            bot=bot,
            client=client,
            checkpoint=checkpoint,
            filter_=filter_,
            queue=queue,
            namespace=namespace,
        )
    if await checkpoint.load() is None:
        field = NEWEST[spec.follows]
        data = await client.execute(f"{{ {field}(last: 1) {{ edges {{ cursor }} }} }}")
        if data[field]["edges"]:
            await checkpoint.save(data[field]["edges"][0]["cursor"])
    if on_ready is not None:
        on_ready()
    stream = follow(
        url=graphql_url,
        field=spec.field,
        selection=spec.selection,
        checkpoint=checkpoint,
        token=client.token,
        filter=filter_,
    )
    # Closed at once on any exit, so its websocket does not outlive the listener.
    async with aclosing(cast(AsyncGenerator[dict[str, Any], None], stream)):
        async for node in stream:
            await enqueue(queue=queue, namespace=namespace, bot=bot, node=node)


async def enqueue_existing(
    *,
    bot: str,
    client: ApiClient,
    checkpoint: RedisCheckpoint,
    filter_: dict[str, Any] | None,
    queue: ArqRedis,
    namespace: Namespace,
) -> None:
    """Enqueue every item already in `bot`'s stream, oldest first, checkpointing each."""
    spec = BOTS[bot]
    field = NEWEST[spec.follows]
    filter_type = FILTER_TYPES[spec.field]
    query = (
        f"query($after: String, $f: {filter_type}) {{ {field}(first: 500, after: $after, "
        f"filter: $f) {{ edges {{ cursor node {{ {spec.selection} }} }} "
        "pageInfo { hasNextPage } } }"
    )
    after: str | None = None
    while True:
        page = (await client.execute(query, {"after": after, "f": filter_}))[field]
        for edge in page["edges"]:
            await enqueue(queue=queue, namespace=namespace, bot=bot, node=edge["node"])
            after = edge["cursor"]
            await checkpoint.save(after)
        if not page["pageInfo"]["hasNextPage"]:
            return


async def supervise(
    name: str, run: Callable[[], Awaitable[None]], *, max_backoff: float = 60.0
) -> None:
    """Run `run()` again whenever it fails (with capped, jittered backoff), until cancelled.
    The backoff starts over after a run that lasted longer than `max_backoff`."""
    failures = 0
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await run()
        except Exception:
            failures = 1 if loop.time() - started > max_backoff else failures + 1
            log.exception("%s failed (%d in a row); restarting", name, failures)
        delay = min(max_backoff, 0.5 * 2**failures) * (0.5 + random.random() / 2)
        await asyncio.sleep(delay)
