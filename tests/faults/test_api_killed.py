"""An API process SIGKILLed in the middle of a big createAnnotations batch leaves the batch
whole or absent, never part of it, and another process serves on as if nothing happened."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.db.engine import libpq_url
from tests.factories import CREATE_ANNOTATIONS, make_sounds, make_user, sound_input
from tests.faults.support import ApiProcess, own_services, settings_for
from tests.server import GraphQLClient

SIZE = 5000  # the largest batch createAnnotations accepts
KILL_AFTER = (0.05, 0.3, 0.8, 1.5)  # seconds after the request starts


async def _rows_per_tag(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        rows = await connection.fetch(
            "SELECT tags[1] AS tag, count(*) AS n FROM annotations GROUP BY tags[1]"
        )
    finally:
        await connection.close()
    return {row["tag"]: row["n"] for row in rows}


@pytest.mark.slow
async def test_sigkill_mid_batch_is_all_or_nothing(tmp_path: Path) -> None:
    with own_services(with_redis=False) as (postgres, _):
        settings = settings_for(postgres, None, tmp_path)
        survivor = ApiProcess(settings)
        try:
            async with httpx.AsyncClient(timeout=120) as http:
                gql = GraphQLClient(http, survivor.url + "/graphql")
                owner = await make_user(gql, "DATASET")
                [sound] = await make_sounds(gql, owner, [sound_input()])
                interrupted = 0
                for trial, delay in enumerate(KILL_AFTER):
                    victim = ApiProcess(settings)
                    rows = [
                        {
                            "sound": sound["id"],
                            "startSeconds": float(i % 50),
                            "durationSeconds": 1.0,
                            "tags": [f"trial-{trial}"],
                        }
                        for i in range(SIZE)
                    ]
                    request = asyncio.create_task(
                        http.post(
                            victim.url + "/graphql",
                            json={"query": CREATE_ANNOTATIONS, "variables": {"input": rows}},
                            headers={"authorization": f"Bearer {owner.token}"},
                        )
                    )
                    await asyncio.sleep(delay)
                    victim.kill()
                    try:
                        await request
                    except httpx.TransportError:
                        interrupted += 1
                counts = await _rows_per_tag(postgres.url)
                for trial in range(len(KILL_AFTER)):
                    assert counts.get(f"trial-{trial}", 0) in (0, SIZE), counts
                assert interrupted, "every batch finished before the kill: nothing was tested"

                # The survivor writes and reads on; the killed processes' connections are gone.
                after = await gql(
                    CREATE_ANNOTATIONS,
                    {"input": rows[:10]},
                    token=owner.token,
                )
                assert len(after["createAnnotations"]["annotations"]) == 10
        finally:
            survivor.close()
