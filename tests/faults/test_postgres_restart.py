"""PostgreSQL restarted under load: writes in flight fail with a retryable code or succeed,
never half-written; followers resume and see every committed row exactly once; the API heals
without a restart of its own."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest

from tests.factories import make_sounds, make_user, sound_input
from tests.faults.support import api_processes, own_services, settings_for
from tests.faults.traffic import (
    RETRYABLE,
    Outcomes,
    assert_all_or_nothing,
    follow_into,
    listing,
    page_along,
    seed,
    wait_for,
    write_batches,
)
from tests.server import GraphQLClient

SIZE = 40


@pytest.mark.slow
async def test_postgres_restart_under_writers_pagers_and_followers(tmp_path: Path) -> None:
    with (
        own_services() as (postgres, redis),
        api_processes(settings_for(postgres, redis, tmp_path), count=2) as (first, second),
    ):
        async with httpx.AsyncClient(timeout=60) as http:
            gql = GraphQLClient(http, first.url + "/graphql")
            owner = await make_user(gql, "DATASET")
            [sound] = await make_sounds(gql, owner, [sound_input()])
            start = await seed(http, first.url, owner.token, sound["id"])
            writers = [await make_user(gql, "DATASET") for _ in range(3)]
            seen_first: list[str] = []
            seen_second: list[str] = []
            followers = [
                asyncio.create_task(follow_into(first.url, sound["id"], start, seen_first)),
                asyncio.create_task(follow_into(second.url, sound["id"], start, seen_second)),
            ]
            paged: list[str] = []
            done_writing = asyncio.Event()
            pager = asyncio.create_task(
                page_along(http, second.url, sound["id"], start, paged, done_writing)
            )
            outcomes = Outcomes()
            jobs = [
                write_batches(
                    http,
                    (first, second)[n % 2].url,
                    w.token,
                    sound["id"],
                    name=f"w{n}",
                    batches=30,
                    size=SIZE,
                    outcomes=outcomes,
                )
                for n, w in enumerate(writers)
            ]
            writing = asyncio.gather(*jobs)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(postgres.restart, down=2.0)
            await writing
            done_writing.set()
            pager_errors = await asyncio.wait_for(pager, 60)
            assert set(pager_errors) <= RETRYABLE, pager_errors

            failures = [code for codes in outcomes.failed.values() for code in codes]
            assert set(failures) <= RETRYABLE, failures
            assert outcomes.written, "no write succeeded at all"
            assert outcomes.failed, "the restart did not hit any write: the test proved nothing"

            # Healed: both processes answer writes and reads again, no restart of their own.
            after = Outcomes()
            for api, writer in zip((first, second), writers, strict=False):
                await write_batches(
                    http,
                    api.url,
                    writer.token,
                    sound["id"],
                    name=f"after-{api.port}",
                    batches=1,
                    size=SIZE,
                    outcomes=after,
                )
            assert not after.failed, after.failed
            nodes = await listing(http, second.url, sound["id"])
            assert_all_or_nothing(nodes, outcomes | after, SIZE)

            committed = [node["id"] for node in nodes]
            await wait_for(seen_first, len(committed), within=30)
            await wait_for(seen_second, len(committed), within=30)
            for task in followers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            later = sum(len(ids) for ids in after.written.values())
            assert paged == committed[: len(committed) - later], "the pager: every row once"
            assert seen_first == committed, "follower of API 1: every row once, in order"
            assert seen_second == committed, "follower of API 2: every row once, in order"
