"""Backfill: a bot's first start can process what its stream already holds, oldest first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool

from tests.factories import make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient
from workers.bots import Namespace, job_id
from workers.listener import enqueue_existing
from workers.sdk.client import ApiClient
from workers.sdk.stream import RedisCheckpoint


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    yield pool
    await pool.aclose()


async def test_backfill_enqueues_every_existing_item_in_order_and_checkpoints(
    redis: ArqRedis, api_url: str, gql: GraphQLClient
) -> None:
    names = Namespace(unique("backfill"))
    dataset = await make_user(gql)
    # More than one page of 500, so the paging itself is exercised.
    sounds = []
    for _ in range(2):
        sounds += await make_sounds(gql, dataset, [sound_input() for _ in range(300)])
    checkpoint = RedisCheckpoint(redis, names.checkpoint("stft"))
    client = ApiClient(url=api_url + "/graphql", token=None)
    try:
        await enqueue_existing(
            bot="stft",
            client=client,
            checkpoint=checkpoint,
            filter_={"createdBy": dataset.id},
            queue=redis,
            namespace=names,
        )
    finally:
        await client.aclose()
    queued = await redis.zrange(names.queue("stft"), 0, -1)
    expected = [job_id(bot="stft", source_id=s["id"]) for s in sounds]
    assert sorted(q.decode() for q in queued) == sorted(expected)
    newest = await gql(
        "query($u: ID) { sounds(last: 1, filter: {createdBy: $u}) { edges { cursor } } }",
        {"u": dataset.id},
    )
    assert await checkpoint.load() == newest["sounds"]["edges"][0]["cursor"]
    await redis.delete(names.queue("stft"), *(f"arq:job:{e}" for e in expected))
