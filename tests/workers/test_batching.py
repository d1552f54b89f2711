"""Annotation calls of jobs that finish together leave as one call; each job still gets its
own ids, and its own error when one of its inputs is refused."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import make_sounds, make_user, sound_input
from tests.server import GraphQLClient
from workers.bots.batching import AnnotationBatcher
from workers.sdk.client import ApiClient, UserErrors


def _inputs(sound: str, job: int, count: int = 2) -> list[dict[str, object]]:
    return [
        {"key": f"batch-test:{sound}:{job}:{i}", "sound": sound, "startSeconds": float(i),
         "durationSeconds": 1.0, "tags": [f"job-{job}"]}
        for i in range(count)
    ]  # fmt: skip


async def test_jobs_finishing_together_share_calls_and_get_their_own_ids(
    api: ApiClient, gql: GraphQLClient
) -> None:
    owner, bot = await make_user(gql), await make_user(gql, "FEATUREBOT")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    async with api.with_token(bot.token) as client:
        batcher = AnnotationBatcher(client)
        results = await asyncio.gather(*(batcher.create(_inputs(sound["id"], j)) for j in range(6)))
        assert batcher.calls < 6  # the first went alone, the rest waited and left together
        again = await asyncio.gather(*(batcher.create(_inputs(sound["id"], j)) for j in range(6)))
    assert again == results  # keys: nothing is created twice
    ids = [i for job in results for i in job]
    assert len(ids) == 12 and len(set(ids)) == 12
    query = "query($id: ID!) { node(id: $id) { ... on Annotation { tags } } }"
    for job, job_ids in enumerate(results):
        for annotation in job_ids:
            node = (await gql(query, {"id": annotation}))["node"]
            assert node == {"tags": [f"job-{job}"]}


async def test_a_refused_input_fails_only_its_own_job(api: ApiClient, gql: GraphQLClient) -> None:
    owner, bot = await make_user(gql), await make_user(gql, "FEATUREBOT")
    [sound] = await make_sounds(gql, owner, [sound_input(durationSeconds=60.0)])
    bad = _inputs(sound["id"], 99, count=1)
    bad[0]["startSeconds"] = 120.0  # past the sound's end: refused
    async with api.with_token(bot.token) as client:
        batcher = AnnotationBatcher(client)
        jobs = [_inputs(sound["id"], 0), bad, _inputs(sound["id"], 1), _inputs(sound["id"], 2)]
        outcomes = await asyncio.gather(*(batcher.create(j) for j in jobs), return_exceptions=True)
    assert isinstance(outcomes[1], UserErrors)
    for good in (outcomes[0], outcomes[2], outcomes[3]):
        assert isinstance(good, list) and len(good) == 2


async def test_a_cancelled_job_leaves_the_others_alone(api: ApiClient, gql: GraphQLClient) -> None:
    owner, bot = await make_user(gql), await make_user(gql, "FEATUREBOT")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    async with api.with_token(bot.token) as client:
        batcher = AnnotationBatcher(client)
        first = asyncio.create_task(batcher.create(_inputs(sound["id"], 0)))
        await asyncio.sleep(0)  # the first call is out
        doomed = asyncio.create_task(batcher.create(_inputs(sound["id"], 1)))
        kept = asyncio.create_task(batcher.create(_inputs(sound["id"], 2)))
        await asyncio.sleep(0)
        doomed.cancel()
        assert len(await first) == 2 and len(await kept) == 2
        with pytest.raises(asyncio.CancelledError):
            await doomed
