"""Batched streams (`annotationsCreated`, `soundsCreated`): the single-item streams' edges, in
lists, in the same order with the same cursors, also while writers are busy."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.settings import Settings
from tests.factories import make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient, api_process
from tests.test_streams import ANNOTATION_CREATED, PAGE, _writer, collect
from workers.sdk.graphql_ws import SubscriptionError, subscribe

ANNOTATIONS_CREATED = """subscription($after: String, $filter: AnnotationFilter, $n: Int!) {
  annotationsCreated(after: $after, filter: $filter, maxBatch: $n) { cursor node { id } } }"""
SOUNDS_CREATED = """subscription($after: String, $filter: SoundFilter) {
  soundsCreated(after: $after, filter: $filter) { cursor node { id title } } }"""


@pytest.fixture(scope="module")
def second_api(settings: Settings) -> Iterator[str]:
    with api_process(settings) as url:
        yield url


async def batches(
    stream: AsyncIterator[dict[str, Any]], field: str, count: int, *, within: float = 60
) -> list[list[dict[str, Any]]]:
    """Messages of `stream` until they hold `count` edges."""
    got: list[list[dict[str, Any]]] = []

    async def run() -> None:
        async for data in stream:
            got.append(data[field])
            if sum(map(len, got)) >= count:
                return

    try:
        await asyncio.wait_for(run(), within)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return got


async def _first_cursor(gql: GraphQLClient, sound: str) -> str:
    page = await gql(PAGE.replace("first: 500", "first: 1"), {"f": {"sound": sound}})
    return str(page["annotations"]["pageInfo"]["endCursor"])


async def test_replay_in_batches_matches_the_single_stream(
    gql: GraphQLClient, api_url: str
) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    flt = {"sound": sound["id"]}
    items = [{"sound": sound["id"], "startSeconds": 0, "durationSeconds": 1, "tags": ["t"]}]
    await make_annotations(gql, owner, items * 251)
    start = await _first_cursor(gql, sound["id"])
    url = api_url + "/graphql"
    single = await collect(subscribe(url, ANNOTATION_CREATED, {"after": start, "filter": flt}), 250)
    got = await batches(
        subscribe(url, ANNOTATIONS_CREATED, {"after": start, "filter": flt, "n": 100}),
        "annotationsCreated",
        250,
    )
    assert [len(b) for b in got] == [100, 100, 50], "catching up sends full pages"
    flat = [edge for batch in got for edge in batch]
    assert [(e["cursor"], e["node"]["id"]) for e in flat] == [
        (e["cursor"], e["node"]["id"]) for e in single
    ]


async def test_batches_while_writers_are_busy_see_everything_once_in_order(
    gql: GraphQLClient, api_url: str, second_api: str
) -> None:
    """A batched subscriber joins on the other process from a cursor while 4 writers commit:
    catch-up and live delivery meet without a gap, a repeat or a swap."""
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    flt = {"sound": sound["id"]}
    await make_annotations(
        gql,
        owner,
        [{"sound": sound["id"], "startSeconds": 0, "durationSeconds": 1, "tags": ["t"]}] * 120,
    )
    start = await _first_cursor(gql, sound["id"])
    writers = [await make_user(gql, "DATASET") for _ in range(4)]
    async with httpx.AsyncClient(timeout=60) as second_http:
        clients = [gql, GraphQLClient(second_http, second_api + "/graphql")]
        jobs = asyncio.gather(
            *(
                _writer(clients[n % 2], w, sound["id"], 150, random.Random(n))
                for n, w in enumerate(writers)
            )
        )
        await asyncio.sleep(0.1)  # writes in flight when the subscriber joins
        variables = {"after": start, "filter": flt, "n": 37}
        stream = subscribe(second_api + "/graphql", ANNOTATIONS_CREATED, variables)
        listening = asyncio.ensure_future(
            batches(stream, "annotationsCreated", 119 + 600, within=120)
        )
        await jobs
        got = await listening
    everything = []
    after: str | None = None
    while True:
        page = (await gql(PAGE, {"after": after, "f": flt}))["annotations"]
        everything += [e["node"]["id"] for e in page["edges"]]
        if not page["edges"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert all(1 <= len(b) <= 37 for b in got)
    assert [e["node"]["id"] for b in got for e in b] == everything[1:]


async def test_sounds_in_batches_follow_the_filter(gql: GraphQLClient, api_url: str) -> None:
    owner, other = await make_user(gql, "DATASET"), await make_user(gql, "DATASET")
    stream = subscribe(api_url + "/graphql", SOUNDS_CREATED, {"filter": {"createdBy": owner.id}})
    listening = asyncio.ensure_future(batches(stream, "soundsCreated", 3, within=20))
    await asyncio.sleep(0.5)  # from the current end
    await make_sounds(gql, other, [sound_input()])
    mine = await make_sounds(gql, owner, [sound_input(), sound_input()])
    mine += await make_sounds(gql, owner, [sound_input()])
    got = await listening
    assert [e["node"]["id"] for b in got for e in b] == [s["id"] for s in mine]


@pytest.mark.parametrize("size", [0, 501])
async def test_a_bad_batch_size_is_refused(api_url: str, size: int) -> None:
    stream = subscribe(api_url + "/graphql", ANNOTATIONS_CREATED, {"n": size})
    with pytest.raises(SubscriptionError) as refused:
        await batches(stream, "annotationsCreated", 1, within=10)
    assert refused.value.codes == ["BAD_USER_INPUT"]
    assert "maxBatch" in str(refused.value)


async def test_a_batch_counts_maxbatch_times_its_nested_pages(api_url: str) -> None:
    """The static cost of a batched stream is per message: maxBatch edges, each with its
    nested pages (500 x 1,000 here is over the default COCHLEA_MAX_QUERY_COST of 500,000)."""
    nested = "{ cursor node { id annotations(first: 1000) { edges { node { id } } } } }"
    heavy = f"subscription {{ soundsCreated(maxBatch: 500) {nested} }}"
    with pytest.raises(SubscriptionError) as refused:
        await batches(subscribe(api_url + "/graphql", heavy, {}), "soundsCreated", 1, within=10)
    assert refused.value.codes == ["QUERY_TOO_COMPLEX"]
    light = f"subscription {{ soundCreated {nested.replace('1000', '500')} }}"
    stream = subscribe(api_url + "/graphql", light, {})
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.5)
    assert not first.done(), "the single-item stream with the same nesting is accepted"
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    await stream.aclose()  # type: ignore[attr-defined]
