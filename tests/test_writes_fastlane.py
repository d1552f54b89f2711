"""The batch mutations' fast lane and the normal path can never drift: generated bodies
(valid and invalid: wrong types, missing and extra fields, nulls, int or float, huge numbers,
NaN and Infinity, NUL and control characters, bad and unknown sound ids, duplicate and blank
keys, overlong strings, bad tags, metadata of every shape and depth, a single object where a
list is expected) get the same HTTP status and the same answer (userErrors, errors, messages
and codes included) from a server with COCHLEA_FAST_BATCHES on and one with it off, and store
the same rows. Each server writes as its own user, so both see the same history of keys.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.db.engine import libpq_url
from api.graphql import fastlane
from api.settings import Settings
from tests.factories import Account, make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api
from tests.writes_strategies import (
    annotation_fields,
    deep,
    item,
    json_values,
    sound_fields,
    strings,
)

ANNOTATIONS = """mutation($input: [AnnotationInput!]!) {
  createAnnotations(input: $input) {
    created
    annotations { id createdAt startSeconds durationSeconds endSeconds tags dataUrl metadata
                  sound { id } }
    userErrors { index field code message }
  }
}"""
SOUNDS = """mutation Publish($batch: [SoundInput!]!) {
  createSounds(input: $batch) {
    created
    sounds { id createdAt title audioUrl lowQualityAudioUrl infoUrl license durationSeconds
             tags metadata }
    userErrors { index field code message }
  }
}"""
ROWS = {
    "annotations": "sound_id, key, start_seconds, duration_seconds, end_seconds, tags, tags_lc, "
    "data_url, metadata::text",
    "sounds": "key, title, audio_url, low_quality_audio_url, info_url, license, "
    "duration_seconds, tags, tags_lc, metadata::text",
}


@dataclass(frozen=True)
class World:
    fast: str
    normal: str
    database_url: str
    sounds: list[str]
    writers: dict[str, tuple[Account, Account]]  # kind -> (fast path's user, normal's)


async def _populate(api_url: str) -> tuple[list[str], dict[str, tuple[Account, Account]]]:
    async with httpx.AsyncClient(timeout=30) as http:
        gql = GraphQLClient(http, api_url + "/graphql")
        owner = await make_user(gql, "DATASET")
        made = await make_sounds(gql, owner, [sound_input(durationSeconds=s) for s in (10, 180)])
        writers = {
            "annotations": (await make_user(gql, "FEATUREBOT"), await make_user(gql, "FEATUREBOT")),
            "sounds": (await make_user(gql, "DATASET"), await make_user(gql, "DATASET")),
        }
        return [s["id"] for s in made], writers


@pytest.fixture(scope="module")
def world(settings: Settings, api_url: str, database_url: str) -> Iterator[World]:
    assert settings.fast_batches
    sounds, writers = asyncio.run(_populate(api_url))
    with running_api(settings.model_copy(update={"fast_batches": False})) as normal:
        yield World(api_url + "/graphql", normal + "/graphql", database_url, sounds, writers)


@st.composite
def _body(draw: st.DrawFn, kind: str, world: World) -> tuple[str, bytes]:
    """(the document's variable, a JSON body as bytes, NaN and Infinity written as JSON5 does)."""
    if kind == "annotations":
        fields, query, variable = annotation_fields(world.sounds), ANNOTATIONS, "input"
        sound = world.sounds[draw(st.integers(0, 1))]
        good: dict[str, Any] = {"sound": sound, "startSeconds": 1.0, "durationSeconds": 2.0}
        good |= draw(st.sampled_from([{"tags": ["t"]}, {"dataUrl": "https://e.org/x.npy"},
                                      {"metadata": {"dtype": "float32", "shape": [4, 2]}}]))  # fmt: skip
    else:
        fields, query, variable = sound_fields(), SOUNDS, "batch"
        good = {"title": "t", "audioUrl": f"https://e.org/{uuid.uuid4().hex}.wav",
                "license": "CC_BY", "durationSeconds": 30}  # fmt: skip
    typed = draw(st.booleans())
    items = draw(st.lists(item(fields, good, typed), max_size=5))
    inputs: Any = items
    if typed:
        return variable, json.dumps({"query": query, "variables": {variable: items}}).encode()
    if items and draw(st.integers(0, 15)) == 0:
        inputs = items[0]  # a single object where a list is expected
    body: dict[str, Any] = {"query": query, "variables": {variable: inputs}}
    extra = draw(st.integers(0, 20))
    if extra == 0:
        body["variables"]["other"] = 1
    elif extra == 1:
        body["operationName"] = draw(st.sampled_from(["Publish", "Other"]))
    elif extra == 2:
        body["extensions"] = draw(
            st.one_of(st.dictionaries(strings, json_values, max_size=2), json_values)
        )
    elif extra == 3:
        body["unknown"] = True
    return variable, json.dumps(body, allow_nan=True).encode()


def _answer(url: str, token: str, body: bytes) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    response = httpx.post(url, content=body, headers=headers, timeout=60)
    try:
        return response.status_code, _normalised(response.json())
    except ValueError:  # not JSON (a 500 of the server's own): must still match
        return response.status_code, response.text


def _normalised(answer: Any) -> Any:
    """The answer without what must differ between two writers: new ids and times."""
    payload = next(iter((answer.get("data") or {}).values()), None) or {}
    for name in ("annotations", "sounds"):
        for made in payload.get(name) or []:
            made["id"] = made["createdAt"] = "?"
    return answer


async def _rows(database_url: str, kind: str, user: Account) -> list[Any]:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        query = f"SELECT {ROWS[kind]} FROM {kind} WHERE created_by = $1 ORDER BY id"
        return [tuple(r) for r in await connection.fetch(query, uuid.UUID(user.id))]
    finally:
        await connection.close()


def _taken_by_the_lane(body: bytes) -> bool:
    try:
        taken = fastlane.prepare(body) is not None
    except Exception:  # decode.Refused, or what Strawberry's own parse refuses too
        taken = False
    fastlane.take("annotations"), fastlane.take("sounds")
    return taken


def _compare(world: World, kind: str, body: bytes) -> None:
    fast_user, normal_user = world.writers[kind]
    event("fast lane" if _taken_by_the_lane(body) else "normal path")
    fast = _answer(world.fast, fast_user.token, body)
    normal = _answer(world.normal, normal_user.token, body)
    assert fast == normal, body[:2000]
    stored = [
        asyncio.run(_rows(world.database_url, kind, user)) for user in (fast_user, normal_user)
    ]
    assert stored[0] == stored[1], body[:2000]


SETTINGS = hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(data=st.data())
def test_annotation_batches_answer_alike_on_both_paths(world: World, data: st.DataObject) -> None:
    _, body = data.draw(_body("annotations", world))
    _compare(world, "annotations", body)


@SETTINGS
@given(data=st.data())
def test_sound_batches_answer_alike_on_both_paths(world: World, data: st.DataObject) -> None:
    _, body = data.draw(_body("sounds", world))
    _compare(world, "sounds", body)


def test_the_lane_takes_plain_batches_and_leaves_the_rest(world: World) -> None:
    """The differential tests only mean something if the lane does run: it takes ordinary
    bodies, and leaves to the normal path exactly what it cannot be sure of."""
    sound = world.sounds[1]
    good = {"sound": sound, "startSeconds": 1, "durationSeconds": 2.5, "tags": ["a"],
            "metadata": {"shape": [2, 3]}}  # fmt: skip

    def body(item: Any = good, query: str = ANNOTATIONS, **extra: Any) -> bytes:
        return json.dumps({"query": query, "variables": {"input": [item]}} | extra).encode()

    assert _taken_by_the_lane(body())
    assert _taken_by_the_lane(body(operationName=None, extensions={"trace": True}))
    left = [
        body(good | {"startSeconds": math.nan}),  # NaN: graphql-core's error
        body(good | {"startSeconds": 2**53 + 1}),  # loses precision as a float
        body(good | {"sound": 12}),  # an ID sent as a number
        body(good | {"tags": "a"}),  # a single string for a list
        body(good | {"metadata": deep(70)}),  # deeper than the lane reads for sure
        body(good | {"extra": 1}),
        body(good, unknown=1),
        body(
            good,
            query="mutation($input: [AnnotationInput!]) { createAnnotations(input: "
            "$input) { created } }",
        ),
        body(
            good,
            query="mutation($input: [AnnotationInput!]!) { a: createAnnotations(input: "
            "$input) { created } b: createAnnotations(input: $input) { created } }",
        ),
    ]
    assert [_taken_by_the_lane(b) for b in left] == [False] * len(left)
