"""Redis restarted mid-stream: writes go on, followers of another process miss nothing and see
nothing twice (the poll fallback covers the gap), and every API process subscribes to the
wake-up channels again once Redis is back (live delivery resumes)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from api.events import CHANNEL
from tests.factories import make_sounds, make_user, sound_input
from tests.faults.support import api_processes, own_services, settings_for
from tests.faults.traffic import (
    Outcomes,
    assert_all_or_nothing,
    follow_into,
    listing,
    seed,
    wait_for,
    write_batches,
)
from tests.server import GraphQLClient

SIZE = 10


async def _listeners(url: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        counts = await client.pubsub_numsub(CHANNEL + "annotation")
        return int(counts[0][1])
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_redis_restart_mid_stream(tmp_path: Path) -> None:
    with (
        own_services() as (postgres, redis),
        api_processes(settings_for(postgres, redis, tmp_path), count=2) as (first, second),
    ):
        assert redis is not None
        async with httpx.AsyncClient(timeout=60) as http:
            gql = GraphQLClient(http, first.url + "/graphql")
            owner = await make_user(gql, "DATASET")
            [sound] = await make_sounds(gql, owner, [sound_input()])
            start = await seed(http, first.url, owner.token, sound["id"])
            seen: list[str] = []
            follower = asyncio.create_task(follow_into(second.url, sound["id"], start, seen))
            outcomes = Outcomes()
            writing = asyncio.create_task(
                write_batches(
                    http,
                    first.url,
                    owner.token,
                    sound["id"],
                    name="w",
                    batches=40,
                    size=SIZE,
                    outcomes=outcomes,
                    pause=0.1,
                )
            )
            await asyncio.sleep(1.0)
            await asyncio.to_thread(redis.restart, down=2.0)
            await writing

            assert not outcomes.failed, "writes do not depend on Redis being up"
            nodes = await listing(http, second.url, sound["id"])
            assert_all_or_nothing(nodes, outcomes, SIZE)
            committed = [node["id"] for node in nodes]
            await wait_for(seen, len(committed), within=30)
            for _ in range(100):  # both processes re-subscribe to the wake-ups
                if await _listeners(redis.url) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert await _listeners(redis.url) >= 2, "an API process did not resubscribe"
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            assert seen == committed, "every committed row once, in order, across the restart"
