"""The SDK third parties write bots and aggregators with, against a live API: Range reads of
stored arrays (from the API's /files and from S3), checkpoints, batches, identity, and the
README's bot, run exactly as printed."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from contextlib import aclosing
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis

from api.settings import Settings
from tests.aggregators.conftest import aggregator_env
from tests.factories import make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api
from workers.sdk import (
    ApiClient,
    ArrayDtypeMismatch,
    ArrayMissing,
    ArrayReadError,
    ArrayShapeMismatch,
    ArrayTruncated,
    BadArrayMetadata,
    FileCheckpoint,
    LocalArrayStore,
    RedisCheckpoint,
    S3ArrayStore,
    UserErrors,
    array_metadata,
    ensure_bot,
    follow_batches,
    npy_bytes,
    publish_annotations,
    read_array,
)
from workers.sdk.arrays import ArrayStore

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
MFCC = np.random.default_rng(7).standard_normal((200, 20)).astype(np.float32)


def _metadata(array: np.ndarray, offset: int) -> dict[str, Any]:
    return array_metadata(
        array=array,
        data_offset=offset,
        axes=["time", "coefficient"],
        frame_rate=43.07,
        sample_rate=22050,
        params={},
        source=None,
    )


@pytest.fixture(params=["api-files", "s3"])
async def store(request: pytest.FixtureRequest, settings: Settings, api_url: str) -> ArrayStore:
    """Where bots publish arrays: the API's own /files, or an S3 server (moto)."""
    if request.param == "api-files":
        return LocalArrayStore(root=settings.data_dir / "files", public_base_url=api_url + "/files")
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3ArrayStore(endpoint=endpoint, access_key="testing", secret_key="testing")


async def test_read_array_whole_or_frames_with_one_range_request(store: ArrayStore) -> None:
    bucket = f"cochlea-sdk-{uuid.uuid4().hex[:8]}"
    await store.ensure_bucket(bucket)
    data, offset = npy_bytes(MFCC)
    url = await store.put(bucket=bucket, key="sound.npy", data=data)
    metadata = _metadata(MFCC, offset)
    requests: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        requests.append(request)

    async with httpx.AsyncClient(trust_env=False, event_hooks={"request": [count]}) as http:
        frames = await read_array(url, metadata, frames=(37, 52), client=http)
        assert len(requests) == 1
        first, last = offset + 37 * 80, offset + 52 * 80 - 1
        assert requests[0].headers["range"] == f"bytes={first}-{last}"
        np.testing.assert_array_equal(frames, MFCC[37:52])
        whole = await read_array(url, metadata, client=http)
        np.testing.assert_array_equal(whole, MFCC)
        # Past the end is clipped, as slicing does; an empty range asks nothing.
        np.testing.assert_array_equal(
            await read_array(url, metadata, frames=(190, 999), client=http), MFCC[190:]
        )
        assert (await read_array(url, metadata, frames=(5, 5), client=http)).shape == (0, 20)
        assert len(requests) == 3

        # With `check_header`, the one request starts at byte 0 and the header is checked too:
        # a dtype of the same size (<i4 for <f4) is caught, which the size alone cannot tell.
        checked = await read_array(url, metadata, frames=(37, 52), check_header=True, client=http)
        np.testing.assert_array_equal(checked, MFCC[37:52])
        assert requests[-1].headers["range"] == f"bytes=0-{last}"
        with pytest.raises(ArrayDtypeMismatch):
            await read_array(
                url, metadata | {"dtype": "<i4"}, frames=(3, 5), check_header=True, client=http
            )
        assert len(requests) == 5

        # Bad arrays are typed errors with a code, never a crash or a wrong array.
        short = await store.put(bucket=bucket, key="short.npy", data=data[: offset + 80 * 100])
        wrong: list[tuple[str, dict[str, Any], tuple[int, int] | None, type[ArrayReadError]]] = [
            (url.replace("sound.npy", "gone.npy"), metadata, (0, 5), ArrayMissing),
            (short, metadata, (150, 160), ArrayTruncated),
            (short, metadata, (0, 5), ArrayTruncated),  # the size is checked on every read
            (short, metadata, None, ArrayTruncated),
            (url, metadata | {"dtype": "<f8"}, None, ArrayDtypeMismatch),
            # Without the header, a Range read knows the file's size: too small for <f8.
            (url, metadata | {"dtype": "<f8"}, (0, 5), ArrayTruncated),
            (url, metadata | {"dtype": "<f2"}, (0, 5), ArrayShapeMismatch),
            (url, metadata | {"shape": [100, 20]}, None, ArrayShapeMismatch),
            (url, metadata | {"shape": [200, 10]}, (0, 5), ArrayShapeMismatch),
            (url, metadata | {"dtype": ">f4"}, None, ArrayDtypeMismatch),
            (url, {"dtype": "<f4"}, (0, 5), BadArrayMetadata),
            (url, metadata | {"dataOffset": offset + 64}, None, BadArrayMetadata),
        ]
        for where, meta, rows, error in wrong:
            with pytest.raises(error) as raised:
                await read_array(where, meta, frames=rows, client=http)
            assert raised.value.code.startswith("array_") and not raised.value.retryable


async def test_file_checkpoint_and_batches_resume_exactly(
    gql: GraphQLClient, api_url: str, tmp_path: Path
) -> None:
    owner = await make_user(gql, "DATASET")
    made = await make_sounds(gql, owner, [sound_input(title=f"s{i}") for i in range(7)])
    checkpoint = FileCheckpoint(tmp_path / "cursor")
    assert await checkpoint.load() is None
    url = api_url + "/graphql"
    seen: list[str] = []

    async def read(*, crash_at: int | None = None, stop_at: int | None = None) -> None:
        batches = follow_batches(
            url=url,
            field="soundCreated",
            selection="id",
            checkpoint=checkpoint,
            filter={"createdBy": owner.id},
            max_items=3,
        )
        async with aclosing(batches):
            async for batch in batches:
                if crash_at is not None and len(seen) >= crash_at:
                    return  # "crash" holding this batch: its work never finishes
                seen.extend(e.node["id"] for e in batch)
                if stop_at is not None and len(seen) >= stop_at:
                    return

    await asyncio.wait_for(read(crash_at=6), 20)
    assert seen == [s["id"] for s in made[:6]]
    # Asking for the third batch saved the second's cursor, not the third's.
    saved = await checkpoint.load()
    assert saved is not None and saved == _read_text(tmp_path / "cursor")
    # A restart begins right after the last finished batch; caught up, it follows live.
    more = asyncio.create_task(asyncio.wait_for(read(stop_at=8), 20))
    await asyncio.sleep(0.5)
    [late] = await make_sounds(gql, owner, [sound_input(title="late")])
    await more
    assert seen == [s["id"] for s in [*made, late]]
    assert _names(tmp_path) == ["cursor"]  # no temp files left behind


def _read_text(path: Path) -> str:
    return path.read_text()


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_aggregator_identity_with_info_url(
    gql: GraphQLClient, api_url: str, redis_url: str
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    name = f"agg-{uuid.uuid4().hex[:8]}"
    try:
        async with ApiClient(url=api_url + "/graphql") as client:
            first = await ensure_bot(
                redis=redis,
                client=client,
                name=name,
                about="indexes things",
                user_type="AGGREGATOR",
                info_url="http://127.0.0.1:8001/graphql",
            )
            again = await ensure_bot(
                redis=redis,
                client=client,
                name=name,
                about="indexes things",
                user_type="AGGREGATOR",
                info_url="http://127.0.0.1:9001/graphql",  # moved: the API learns it
            )
    finally:
        await redis.aclose()
    assert again == first
    data = await gql(
        "query($n: String!) { users(filter: {name: $n}) { edges { node { type infoUrl } } } }",
        {"n": name},
    )
    [user] = [e["node"] for e in data["users"]["edges"]]
    assert user == {"type": "AGGREGATOR", "infoUrl": "http://127.0.0.1:9001/graphql"}


def _readme_bot() -> str:
    [code] = [
        body
        for body in re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
        if "follow_batches" in body
    ]
    return code


async def test_the_readme_bot_runs_as_printed(
    gql: GraphQLClient, settings: Settings, api_url: str, tmp_path: Path
) -> None:
    code = _readme_bot()
    assert len(code.splitlines()) <= 40
    owner = await make_user(gql, "DATASET")
    short, long_ = await make_sounds(
        gql, owner, [sound_input(durationSeconds=30.0), sound_input(durationSeconds=1200.0)]
    )
    env = aggregator_env(settings, api_url, tmp_path)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, cwd=tmp_path
    )
    query = """query($s: ID!) { annotations(filter: {sound: $s}) {
      edges { node { tags startSeconds durationSeconds createdBy { name type } } } } }"""
    try:
        for _ in range(300):
            found = (await gql(query, {"s": long_["id"]}))["annotations"]["edges"]
            if found or process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert process.returncode is None, "the README bot exited"
        assert [e["node"] for e in found] == [
            {
                "tags": ["long"],
                "startSeconds": 0.0,
                "durationSeconds": 1200.0,
                "createdBy": {"name": "long-sounds", "type": "FEATUREBOT"},
            }
        ]
        assert (await gql(query, {"s": short["id"]}))["annotations"]["edges"] == []
        assert "long-sounds.cursor" in _names(tmp_path)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def test_publishing_with_keys_is_idempotent(gql: GraphQLClient, api_url: str) -> None:
    owner = await make_user(gql, "FEATUREBOT")
    [sound] = await make_sounds(gql, await make_user(gql, "DATASET"), [sound_input()])
    inputs = [
        {
            "key": f"k{i}",
            "sound": sound["id"],
            "startSeconds": i,
            "durationSeconds": 1,
            "tags": ["x"],
        }
        for i in range(5)
    ]
    async with ApiClient(url=api_url + "/graphql", token=owner.token) as client:
        ids = await publish_annotations(client, inputs, batch=2)
        assert await publish_annotations(client, inputs[::-1]) == ids[::-1]  # a retry: same
        with pytest.raises(ValueError, match="annotation 1 has no idempotency `key`"):
            await publish_annotations(client, [inputs[0], {**inputs[1], "key": None}])
        with pytest.raises(UserErrors) as refused:
            await publish_annotations(client, [{**inputs[0], "key": "new", "startSeconds": -1}])
    assert refused.value.codes == ["OUT_OF_RANGE"]
    data = await gql(
        "query($s: ID!) { annotations(filter: {sound: $s}) { totalCount } }", {"s": sound["id"]}
    )
    assert data["annotations"]["totalCount"] == 5


async def test_batches_from_the_end_skip_what_exists_and_miss_nothing_new(
    gql: GraphQLClient, api_url: str, redis_url: str
) -> None:
    owner = await make_user(gql, "DATASET")
    await make_sounds(gql, owner, [sound_input() for _ in range(3)])
    redis = aioredis.Redis.from_url(redis_url)
    checkpoint = RedisCheckpoint(redis, f"test:batches:{uuid.uuid4().hex}")
    batches = follow_batches(
        url=api_url + "/graphql",
        field="soundCreated",
        selection="id",
        checkpoint=checkpoint,
        filter={"createdBy": owner.id},
        start="end",
    )
    try:
        first = asyncio.create_task(asyncio.wait_for(anext(batches), 20))
        # The end is recorded before anything is followed, so what is made from now on counts.
        for _ in range(400):
            if await checkpoint.load() is not None:
                break
            await asyncio.sleep(0.05)
        fresh = await make_sounds(gql, owner, [sound_input() for _ in range(2)])
        got = [e.node["id"] for e in await first]
        while len(got) < 2:
            got += [e.node["id"] for e in await asyncio.wait_for(anext(batches), 20)]
    finally:
        await batches.aclose()
        await redis.aclose()
    assert got == [s["id"] for s in fresh]


async def test_batches_adapt_to_an_api_with_smaller_pages(
    gql: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    owner = await make_user(gql, "DATASET")
    made = await make_sounds(gql, owner, [sound_input() for _ in range(150)])
    small = settings.model_copy(update={"max_page_size": 40})
    sizes: list[int] = []
    seen: list[str] = []
    with running_api(small) as url:
        batches = follow_batches(
            url=url + "/graphql",
            field="soundCreated",
            selection="id",
            checkpoint=FileCheckpoint(tmp_path / "cursor"),
            filter={"createdBy": owner.id},
        )
        async with aclosing(batches):
            async for batch in batches:
                sizes.append(len(batch))
                seen += [e.node["id"] for e in batch]
                if len(seen) >= len(made):
                    break
    assert seen == [s["id"] for s in made]
    assert max(sizes) <= 40  # 500, 250, 125 and 62 were refused (`first`); 31 fits
