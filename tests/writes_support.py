"""Shared pieces of the write tests: inputs, raw PostgreSQL counts, hand-written bodies."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx

from api.db.engine import libpq_url
from api.services.annotations import end_tolerance
from tests.factories import (
    CREATE_ANNOTATIONS,
    CREATE_SOUNDS,
    Account,
    sound_input,
)
from tests.server import GraphQLClient

LONG_URL = "https://example.org/" + "a" * 2029  # 2,049 characters
DATA_URL = "https://example.org/features.npy"
UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000"  # a well-formed UUIDv7 no resource has
PAST_END = {"startSeconds": 9.0, "durationSeconds": 1.0 + end_tolerance(10) + 0.001}  # 10 s sound

MUTATIONS = {
    "sounds": (CREATE_SOUNDS, "createSounds"),
    "annotations": (CREATE_ANNOTATIONS, "createAnnotations"),
}


async def sql(database_url: str, query: str, *args: Any) -> Any:
    """One value from PostgreSQL itself, over a connection of the test's own."""
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def stored(database_url: str, table: str, user: Account) -> int:
    """How many rows of `table` (sounds or annotations) `user` created."""
    query = f"SELECT count(*) FROM {table} WHERE created_by = $1"
    return int(await sql(database_url, query, uuid.UUID(user.id)))


async def send(gql: GraphQLClient, kind: str, inputs: Any, user: Account) -> Any:
    """The payload of createSounds or createAnnotations; the call itself must not fail."""
    query, name = MUTATIONS[kind]
    return (await gql(query, {"input": inputs}, token=user.token))[name]


def note(sound: str, /, **overrides: Any) -> dict[str, Any]:
    return {"sound": sound, "startSeconds": 1.0, "durationSeconds": 0.5, "tags": ["t"]} | overrides


def valid(kind: str, sounds: list[str], **overrides: Any) -> dict[str, Any]:
    """A valid input of `kind` (annotations go on the 10-second sound), with `overrides`."""
    return sound_input(**overrides) if kind == "sounds" else note(sounds[0], **overrides)


async def post_text(
    http: httpx.AsyncClient, api_url: str, user: Account, query: str, item: str
) -> httpx.Response:
    """POST a body written by hand around one input, so it can hold what `json.dumps` never
    writes (NaN, Infinity) or what it cannot (5,000 levels of nesting)."""
    text = json.dumps({"query": query, "variables": "@"})
    text = text.replace('"@"', '{"input": [' + item + "]}")
    headers = {"authorization": f"Bearer {user.token}", "content-type": "application/json"}
    return await http.post(api_url + "/graphql", content=text, headers=headers)


def errors(payload: Any) -> list[tuple[int | None, str | None, str]]:
    return [(e["index"], e["field"], e["code"]) for e in payload["userErrors"]]
