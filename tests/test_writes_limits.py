"""The edges of the write API: batch and body size limits, wrong types, non-finite numbers,
absurd nesting and expired keys: each gets a coded error and nothing is written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.settings import Settings
from tests.factories import (
    CREATE_ANNOTATIONS,
    CREATE_SOUNDS,
    Account,
    make_annotations,
    make_sounds,
    make_user,
    sound_input,
)
from tests.server import GraphQLClient, running_api
from tests.writes_support import (
    MUTATIONS,
    errors,
    note,
    post_text,
    sql,
    stored,
    valid,
)


async def test_batch_size_limits(gql: GraphQLClient, database_url: str, dataset: Any) -> None:
    user, sounds = dataset
    too_many = [sound_input(audioUrl=f"https://example.org/{i}.wav") for i in range(1001)]
    code, message = await gql.error(CREATE_SOUNDS, {"input": too_many}, token=user.token)
    assert code == "PAYLOAD_TOO_LARGE" and "1000" in message
    notes = [note(sounds[i % 3], startSeconds=float(i % 9)) for i in range(5001)]
    code, _ = await gql.error(CREATE_ANNOTATIONS, {"input": notes}, token=user.token)
    assert code == "PAYLOAD_TOO_LARGE"
    assert await stored(database_url, "sounds", user) == 3
    assert await stored(database_url, "annotations", user) == 0
    made = await make_annotations(gql, user, notes[:5000])
    assert [a["startSeconds"] for a in made] == [float(i % 9) for i in range(5000)]
    assert await stored(database_url, "annotations", user) == 5000
    assert len(await make_sounds(gql, user, too_many[:1000])) == 1000


async def test_a_body_over_the_configured_limit_is_refused_with_413(
    gql: GraphQLClient, database_url: str, settings: Settings
) -> None:
    user = await make_user(gql, "DATASET")
    small = {"query": CREATE_SOUNDS, "variables": {"input": [sound_input()]}}
    big = {"query": CREATE_SOUNDS, "variables": {"input": [sound_input() for _ in range(600)]}}
    body = json.dumps(big).encode()
    assert len(body) > 64 * 1024
    headers = {"authorization": f"Bearer {user.token}", "content-type": "application/json"}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit is counted
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    with running_api(settings.model_copy(update={"max_body_bytes": 64 * 1024})) as base:
        async with httpx.AsyncClient(timeout=30) as http:
            for content in (body, chunks()):
                response = await http.post(base + "/graphql", content=content, headers=headers)
                assert response.status_code == 413
                [error] = response.json()["errors"]
                assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE" and error["message"]
            assert await stored(database_url, "sounds", user) == 0
            response = await http.post(base + "/graphql", json=small, headers=headers)
            assert response.status_code == 200 and not response.json().get("errors")
    assert await stored(database_url, "sounds", user) == 1


@pytest.mark.parametrize(
    ("kind", "bad"),
    [
        ("sounds", {"durationSeconds": "ten"}),
        ("sounds", {"license": "GPL"}),
        ("sounds", {"title": None}),
        ("sounds", {"tags": [1, 2]}),
        ("annotations", {"startSeconds": "1.5"}),
        ("annotations", {"durationSeconds": True}),
    ],
)
async def test_wrong_types_are_refused_with_a_code(
    gql: GraphQLClient, database_url: str, dataset: Any, kind: str, bad: Any
) -> None:
    user, sounds = dataset
    good, (query, _) = valid(kind, sounds), MUTATIONS[kind]
    code, message = await gql.error(query, {"input": [good, good | bad]}, token=user.token)
    assert code == "BAD_USER_INPUT" and message
    assert await stored(database_url, kind, user) == (3 if kind == "sounds" else 0)


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("sounds", '"durationSeconds": NaN'),
        ("sounds", '"durationSeconds": Infinity'),
        ("annotations", '"startSeconds": NaN'),
        ("annotations", '"durationSeconds": -Infinity'),
        ("annotations", '"metadata": {"gain": NaN}'),
        ("annotations", '"metadata": {"peak": Infinity}'),
    ],
)
async def test_non_finite_json_numbers_are_refused(
    http: httpx.AsyncClient, api_url: str, database_url: str, dataset: Any, kind: str, raw: str
) -> None:
    user, sounds = dataset
    field, (query, name) = raw.split(":")[0].strip('"'), MUTATIONS[kind]
    item = json.dumps({k: v for k, v in valid(kind, sounds).items() if k != field})
    body = (await post_text(http, api_url, user, query, f"{item[:-1]}, {raw}}}")).json()
    if field == "metadata":  # any JSON is a JSON scalar: the metadata rule refuses it
        assert errors(body["data"][name]) == [(0, field, "INVALID_METADATA")]
    else:
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and field in error["message"]
    assert await stored(database_url, kind, user) == (3 if kind == "sounds" else 0)


async def test_deeply_nested_metadata_gets_an_error_with_a_code(
    http: httpx.AsyncClient, api_url: str, database_url: str, dataset: Any
) -> None:
    """Valid JSON of 30 KB, under every size limit, nested 5,000 deep."""
    user, sounds = dataset
    nested = '{"a":' * 5000 + "1" + "}" * 5000
    item = json.dumps(note(sounds[0]))[:-1] + f', "metadata": {nested}}}'
    response = await post_text(http, api_url, user, CREATE_ANNOTATIONS, item)
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    codes = [e["extensions"]["code"] for e in body.get("errors") or []]
    codes += [
        e["code"]
        for e in ((body.get("data") or {}).get("createAnnotations") or {}).get("userErrors", [])
    ]
    assert codes and "INTERNAL_SERVER_ERROR" not in codes, body
    assert await stored(database_url, "annotations", user) == 0


async def test_an_expired_key_is_unauthenticated(
    gql: GraphQLClient, database_url: str, dataset: Any
) -> None:
    user, _ = dataset
    key = (await gql("mutation { createApiKey { apiKey } }", token=user.token))["createApiKey"]
    expire = "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE prefix = $1"
    await sql(database_url, expire, key["apiKey"].split("_")[1])
    expired = Account(user.id, user.name, user.type, key["apiKey"])
    assert (await gql.error("{ viewer { id } }", token=expired.token))[0] == "UNAUTHENTICATED"
    code, _ = await gql.error(CREATE_SOUNDS, {"input": [sound_input()]}, token=expired.token)
    assert code == "UNAUTHENTICATED"
    assert await stored(database_url, "sounds", user) == 3
    assert (await gql("{ viewer { id } }", token=user.token))["viewer"]["id"] == user.id
