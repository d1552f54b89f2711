"""The similarity aggregator end to end: mfcc/chroma/onsets-shaped annotations of FEATUREBOT
users on a real API, real `.npy` arrays in an S3-compatible store, and `cochlea aggregator
similarity` as a subprocess answering GraphQL over HTTP."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis

from api.settings import Settings
from tests.aggregators.conftest import aggregator_env, running_aggregator
from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient
from workers.aggregators.similarity.embedding import windows
from workers.features import FRAME_RATE
from workers.sdk.arrays import array_metadata, npy_bytes
from workers.sdk.client import ApiClient
from workers.sdk.registry import ensure_bot
from workers.sdk.s3_arrays import S3ArrayStore

SEGMENT = "sound startSeconds endSeconds durationSeconds kind score point { x y z }"
SIMILAR = f"""query($sound: ID!, $time: Float!, $first: Int, $filter: SimilarityFilter,
  $same: Boolean) {{ similar(sound: $sound, time: $time, first: $first, filter: $filter,
  includeSameSound: $same) {{ {SEGMENT} }} }}"""
MAP = f"""query($center: PointInput!, $radius: Float, $first: Int, $filter: SimilarityFilter) {{
  map(center: $center, radius: $radius, first: $first, filter: $filter) {{ {SEGMENT} }} }}"""
EVERYWHERE = {"center": {"x": 0, "y": 0, "z": 1}, "radius": math.pi, "first": 2000}
FRAMES = 1 + round(4 * FRAME_RATE)  # 4 s of centred frames: 7 windows


@dataclass
class Bots:
    mfcc: Account
    chroma: Account
    onsets: Account
    store: S3ArrayStore


_bots: dict[str, Account] = {}


async def bots(gql: GraphQLClient, s3_endpoint: str, settings: Settings) -> Bots:
    """The mfcc, chroma and onsets FEATUREBOT users and the store. They sign up as the real
    bots do, keeping their keys in the session's Redis, so that the featurebots that other
    tests start later find these users' keys and act as them."""
    redis = aioredis.Redis.from_url(settings.redis_url or "")
    try:
        async with ApiClient(url=gql.url) as client:
            for name in ("mfcc", "chroma", "onsets"):
                if name not in _bots:
                    me = await ensure_bot(redis=redis, client=client, name=name, about="test")
                    _bots[name] = Account(me.user_id, name, "FEATUREBOT", me.token)
    finally:
        await redis.aclose()
    store = S3ArrayStore(endpoint=s3_endpoint, access_key="testing", secret_key="testing")
    for name in ("mfcc", "chroma"):
        await store.ensure_bucket(f"cochlea-{name}")
    return Bots(_bots["mfcc"], _bots["chroma"], _bots["onsets"], store)


def family(kind: int, seed: int, frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """mfcc- and chroma-shaped arrays: a family's timbre and pitch profile, plus noise."""
    base = np.random.default_rng(kind)
    timbre, pitch = base.normal(0, 12, 20), base.random(12)
    rng = np.random.default_rng(1000 * kind + seed)
    mfcc = timbre + rng.normal(0, 2, 20) + rng.normal(0, 1.5, (frames, 20))
    chroma = np.clip(pitch + rng.normal(0, 0.1, (frames, 12)), 0, 1)
    return mfcc.astype(np.float32), chroma.astype(np.float32)


async def put(
    b: Bots, bot: str, array: np.ndarray, *, data: bytes | None = None
) -> tuple[str, dict[str, Any]]:
    npy, offset = npy_bytes(array)
    axes = ("time", "coefficient") if bot == "mfcc" else ("time", "pitchClass")
    metadata = array_metadata(array=array, data_offset=offset, axes=axes, frame_rate=FRAME_RATE,
                              sample_rate=22050, params={}, source=None)  # fmt: skip
    url = await b.store.put(bucket=f"cochlea-{bot}", key=f"{uuid.uuid4()}.npy", data=data or npy)
    return url, metadata


def array_note(sound: str, url: str, metadata: dict[str, Any]) -> dict[str, Any]:
    seconds = metadata["shape"][0] / FRAME_RATE
    return {"sound": sound, "startSeconds": 0, "durationSeconds": seconds, "dataUrl": url,
            "metadata": metadata}  # fmt: skip


async def publish(
    gql: GraphQLClient, b: Bots, owner: Account, arrays: list[tuple[np.ndarray, np.ndarray]],
    *, tags: list[list[str]] | None = None, onsets: int = 0, onsets_first: bool = False,
) -> list[str]:  # fmt: skip
    """One sound per (mfcc, chroma) pair: all mfcc annotations, then all chroma ones, and
    `onsets` onset segments per sound after them (or before them: `onsets_first`)."""
    inputs = [
        sound_input(durationSeconds=len(m) / FRAME_RATE, tags=(tags or [[]] * len(arrays))[i])
        for i, (m, _) in enumerate(arrays)
    ]
    sounds = [s["id"] for s in await make_sounds(gql, owner, inputs)]
    segments = [{"sound": s, "startSeconds": 0.25 + 1.1 * k, "durationSeconds": 0.6,
                 "tags": ["onset"]} for s in sounds for k in range(onsets)]  # fmt: skip
    if segments and onsets_first:
        await make_annotations(gql, b.onsets, segments)
    for index, account in ((0, b.mfcc), (1, b.chroma)):
        bot = "mfcc" if index == 0 else "chroma"
        notes = [
            array_note(s, *await put(b, bot, pair[index]))
            for s, pair in zip(sounds, arrays, strict=True)
        ]
        await make_annotations(gql, account, notes)
    if segments and not onsets_first:
        await make_annotations(gql, b.onsets, segments)
    return sounds


def keys(segments: list[dict[str, Any]]) -> list[tuple[str, float, float, str]]:
    return [(s["sound"], s["startSeconds"], s["endSeconds"], s["kind"]) for s in segments]


async def test_similar_segments_map_and_discovery(
    gql: GraphQLClient,
    settings: Settings,
    api_url: str,
    s3_endpoint: str,
    aggregator_data_dir: Path,
) -> None:
    b = await bots(gql, s3_endpoint, settings)
    owner = await make_user(gql, "DATASET")
    a1, a2, b1, b2 = await publish(
        gql, b, owner, [family(1, 1), family(1, 2), family(2, 1), family(2, 2)],
        tags=[["a"], ["a"], ["bee"], ["bee"]], onsets=2,
    )  # fmt: skip
    # Onsets seen before the arrays wait for them; onsets seen after are read by Range.
    (early,) = await publish(gql, b, owner, [family(1, 3)], onsets=2, onsets_first=True)
    mine = {"createdBy": owner.id}
    with running_aggregator("similarity", settings, api_url, aggregator_data_dir) as similarity:
        status = await similarity.wait_caught_up()
        assert status["indexed"] >= 5 * (7 + 2)

        found = await similarity(SIMILAR, {"sound": a1, "time": 1.2, "first": 5, "filter": mine})
        hits = found["similar"]
        assert {h["sound"] for h in hits} <= {a2, early}  # the others of its family
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
        for hit in hits:
            assert hit["endSeconds"] - hit["startSeconds"] == pytest.approx(hit["durationSeconds"])

        same = await similarity(SIMILAR, {"sound": a1, "time": 1.2, "first": 3, "same": True})
        first = same["similar"][0]
        assert first["sound"] == a1 and first["score"] == pytest.approx(1.0, abs=1e-5)
        assert first["startSeconds"] <= 1.2 <= first["endSeconds"]

        bees = await similarity(
            SIMILAR, {"sound": a1, "time": 1.2, "first": 20, "filter": {"tags": ["bee"], **mine}}
        )
        assert {h["sound"] for h in bees["similar"]} == {b1, b2}

        segment = await similarity(
            "query($s: ID!) { segment(sound: $s, time: 2.0) { startSeconds vector } }", {"s": b2}
        )
        vector = segment["segment"]["vector"]
        assert len(vector) == 92 and sum(v * v for v in vector) == pytest.approx(1, abs=1e-4)
        by_vector = await similarity(
            f"query($v: [Float!]!) {{ similarToVector(vector: $v, first: 2) {{ {SEGMENT} }} }}",
            {"v": vector},
        )
        assert by_vector["similarToVector"][0]["sound"] == b2
        assert by_vector["similarToVector"][0]["score"] == pytest.approx(1.0, abs=1e-5)

        points = (await similarity(MAP, {**EVERYWHERE, "filter": mine}))["map"]
        assert len(points) == len(set(keys(points))) == 5 * (7 + 2)
        onset_points = sorted((k[0], k[1]) for k in keys(points) if k[3] == "ONSET")
        assert onset_points == sorted((s, t) for s in (a1, a2, b1, b2, early) for t in (0.25, 1.35))
        for p in points:
            norm = math.sqrt(p["point"]["x"] ** 2 + p["point"]["y"] ** 2 + p["point"]["z"] ** 2)
            assert norm == pytest.approx(1, abs=1e-4)
        near = (await similarity(MAP, {"center": points[0]["point"], "radius": 0.2, "first": 5}))[
            "map"
        ]
        assert near and near[0]["score"] == pytest.approx(1, abs=1e-4)

        users = await gql(
            "{ users(filter: {type: AGGREGATOR}) { edges { node { name infoUrl } } } }"
        )
        listed = {e["node"]["name"]: e["node"]["infoUrl"] for e in users["users"]["edges"]}
        assert listed["similarity"] == similarity.url
        async with httpx.AsyncClient(trust_env=False) as http:
            page = await http.get(similarity.url, headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        indexed = (await similarity.status())["indexed"]
        busy = refit(settings, api_url, aggregator_data_dir)
        assert busy.returncode == 1 and "stop that aggregator first" in busy.stdout

    done = refit(settings, api_url, aggregator_data_dir)
    assert done.returncode == 0 and f"on {indexed:,} segments" in done.stdout, done.stdout
    with running_aggregator("similarity", settings, api_url, aggregator_data_dir) as similarity:
        fit = (await similarity("{ embedding { frozen fittedOn } }"))["embedding"]
        assert fit == {"frozen": True, "fittedOn": indexed}
        moved = (await similarity(MAP, {**EVERYWHERE, "filter": mine}))["map"]
        assert {tuple(k) for k in keys(moved)} == {tuple(k) for k in keys(points)}


def refit(settings: Settings, api_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`cochlea aggregator similarity refit`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "aggregator", "similarity", "refit"],
        env=aggregator_env(settings, api_url, data_dir), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


async def test_bad_arrays_are_skipped_and_recorded_and_bad_queries_coded(
    gql: GraphQLClient,
    settings: Settings,
    api_url: str,
    s3_endpoint: str,
    aggregator_data_dir: Path,
) -> None:
    b = await bots(gql, s3_endpoint, settings)
    owner = await make_user(gql, "DATASET")
    good = (await publish(gql, b, owner, [family(3, 1)]))[0]
    four = [sound_input(durationSeconds=4) for _ in range(4)]
    sounds = [s["id"] for s in await make_sounds(gql, owner, four)]
    mfcc, chroma = family(3, 2)
    npy, _ = npy_bytes(mfcc)
    url, meta = await put(b, "mfcc", mfcc)
    missing = array_note(sounds[0], url.replace(".npy", "-gone.npy"), meta)
    truncated = array_note(sounds[1], *await put(b, "mfcc", mfcc, data=npy[:-100]))
    narrow = array_note(sounds[2], *await put(b, "mfcc", mfcc[:, :13]))
    mfcc_notes = await make_annotations(
        gql, b.mfcc, [missing, truncated, narrow, array_note(sounds[3], url, meta)]
    )
    chroma_notes = [array_note(s, *await put(b, "chroma", chroma)) for s in sounds[:3]]
    chroma_notes.append(array_note(sounds[3], *await put(b, "chroma", chroma.astype(np.float64))))
    made = await make_annotations(gql, b.chroma, chroma_notes)
    expected = {mfcc_notes[0]["id"]: "array_missing", mfcc_notes[1]["id"]: "array_truncated",
                mfcc_notes[2]["id"]: "array_shape", made[3]["id"]: "array_dtype"}  # fmt: skip

    with running_aggregator("similarity", settings, api_url, aggregator_data_dir) as similarity:
        status = await similarity.wait_caught_up()
        assert status["skipped"] >= 4
        listed = await similarity(
            "{ skipped(first: 100) { edges { node { item code message } } } }"
        )
        codes = {e["node"]["item"]: e["node"]["code"] for e in listed["skipped"]["edges"]}
        assert {item: codes.get(item) for item in expected} == expected
        mine = {"createdBy": owner.id}
        points = (await similarity(MAP, {**EVERYWHERE, "filter": mine}))["map"]
        assert {p["sound"] for p in points} == {good}

        async def error(query: str, variables: dict[str, Any]) -> tuple[str, str]:
            ext = await similarity.error(query, variables)
            return ext.get("code"), ext.get("field")

        assert await error(SIMILAR, {"sound": "nope", "time": 1}) == ("BAD_USER_INPUT", "sound")
        assert await error(SIMILAR, {"sound": good, "time": -1}) == ("BAD_USER_INPUT", "time")
        assert await error(SIMILAR, {"sound": good, "time": 1e6}) == ("BAD_USER_INPUT", "time")
        assert await error(SIMILAR, {"sound": good, "time": 1, "first": 1000}) == (
            "BAD_USER_INPUT",
            "first",
        )
        assert await error(SIMILAR, {"sound": sounds[0], "time": 1}) == ("NOT_FOUND", "sound")
        bad_filter = {"sound": good, "time": 1, "filter": {"createdBy": "x"}}
        assert await error(SIMILAR, bad_filter) == ("BAD_USER_INPUT", "filter.createdBy")
        by_vector = "query($v: [Float!]!) { similarToVector(vector: $v) { score } }"
        assert await error(by_vector, {"v": [1.0, 2.0]}) == ("BAD_USER_INPUT", "vector")
        assert await error(by_vector, {"v": [0.0] * 92}) == ("BAD_USER_INPUT", "vector")
        assert await error(MAP, {**EVERYWHERE, "radius": 0}) == ("BAD_USER_INPUT", "radius")
        zero = {**EVERYWHERE, "center": {"x": 0, "y": 0, "z": 0}}
        assert await error(MAP, zero) == ("BAD_USER_INPUT", "center")
        ext = await similarity.error("{ similar(time: 1) { score } }", {})
        assert ext["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert (await similarity.status())["ready"]  # still serving after all of it


def committed(data_dir: Path) -> dict[str, Any] | None:
    root = data_dir / "aggregators" / "similarity" / "index"
    try:
        return json.loads(
            (root / (root / "CURRENT").read_text().strip() / "manifest.json").read_text()
        )
    except FileNotFoundError:
        return None


async def test_killed_mid_indexing_and_restarted_indexes_each_segment_once(
    gql: GraphQLClient,
    settings: Settings,
    api_url: str,
    s3_endpoint: str,
    aggregator_data_dir: Path,
) -> None:
    b = await bots(gql, s3_endpoint, settings)
    owner = await make_user(gql, "DATASET")
    count = 120
    sounds = await publish(gql, b, owner, [family(4 + n % 3, n) for n in range(count)], onsets=2)
    expected = len(sounds) * (len(list(windows(FRAMES, frame_rate=FRAME_RATE))) + 2)
    total = await gql("{ annotations(first: 0, filter: {creatorType: FEATUREBOT}) { totalCount } }")
    stream = total["annotations"]["totalCount"]

    with running_aggregator(
        "similarity", settings, api_url, aggregator_data_dir, stop=False
    ) as first:
        deadline = time.monotonic() + 120
        while (manifest := committed(aggregator_data_dir)) is None:
            assert time.monotonic() < deadline and first.process.poll() is None
            await asyncio.sleep(0.02)
    # SIGKILLed right after its first commit, long before the stream's end.
    seen = manifest["progress"]["annotationCreated"]["seen"]
    assert 0 < seen < stream

    with running_aggregator("similarity", settings, api_url, aggregator_data_dir) as again:
        status = await again.wait_caught_up(within=180)
        assert status["streams"][0]["seen"] == stream
        mine = keys((await again(MAP, {**EVERYWHERE, "filter": {"createdBy": owner.id}}))["map"])
        assert len(mine) == len(set(mine)) == expected  # none twice, none lost
        everything = keys((await again(MAP, EVERYWHERE))["map"])
        assert len(everything) == len(set(everything)) == status["indexed"]
