"""The whole permission matrix, action by user type, as a client meets it over HTTP.

| action             | human | dataset | featurebot | aggregator | anonymous   |
|--------------------|-------|---------|------------|------------|-------------|
| create sounds      | yes   | yes     | no         | no         | no          |
| create annotations | yes   | yes     | yes        | no         | no          |
| read               | yes   | yes     | yes        | yes        | per setting |
| update/delete self | yes   | yes     | yes        | yes        | no          |

Refusals are GraphQL errors: UNAUTHENTICATED without a key, FORBIDDEN with one; a refused
write leaves PostgreSQL untouched, which is checked there directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from api.db.engine import libpq_url
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

TYPES = ("HUMAN", "DATASET", "FEATUREBOT", "AGGREGATOR")
ANONYMOUS = "anonymous"
ALLOWED: dict[str, set[str]] = {
    "createSounds": {"HUMAN", "DATASET"},
    "createAnnotations": {"HUMAN", "DATASET", "FEATUREBOT"},
    "read": {*TYPES, ANONYMOUS},  # the suite's server has public_read on
    "updateViewer": set(TYPES),
    "deleteViewer": set(TYPES),
}
READS = """query($user: String!, $creator: ID!, $sound: ID!) {
  users(filter: {name: $user}) { edges { node { id } } }
  sounds(filter: {createdBy: $creator}) { edges { node { id } } }
  annotations(filter: {sound: $sound}) { edges { node { id } } }
}"""
UPDATE = """mutation($input: UpdateViewerInput!) {
  updateViewer(input: $input) { user { aboutMe } userErrors { code } }
}"""
DELETE = "mutation { deleteViewer { deleted } }"
LISTS = {
    "users": "query($user: String!) { users(filter: {name: $user}) { edges { node { id } } } }",
    "sounds": "query($creator: ID!) { sounds(filter: {createdBy: $creator}) { totalCount } }",
    "annotations": "query($sound: ID!) { annotations(filter: {sound: $sound}) { totalCount } }",
}


@dataclass(frozen=True)
class World:
    """A dataset with one sound and one annotation on it, for actors to write to or read."""

    owner: Account
    sound: str
    annotation: str


async def make_world(gql: GraphQLClient) -> World:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    [note] = await make_annotations(
        gql, owner, [{"sound": sound["id"], "startSeconds": 0, "durationSeconds": 1, "tags": ["x"]}]
    )
    return World(owner=owner, sound=sound["id"], annotation=note["id"])


async def fetch_value(database_url: str, sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def attempt(
    gql: GraphQLClient, database_url: str, action: str, actor: Account | None, world: World
) -> tuple[dict[str, Any], Any]:
    """Perform `action` as `actor` (None: anonymous); return the response body and what
    PostgreSQL holds afterwards for the thing the action would change."""
    token = actor.token if actor else None
    if action == "createSounds":
        url = f"http://127.0.0.1:9/{uuid.uuid4().hex}.wav"
        body = await gql.raw(CREATE_SOUNDS, {"input": [sound_input(audioUrl=url)]}, token=token)
        stored = await fetch_value(
            database_url, "SELECT count(*) FROM sounds WHERE audio_url = $1", url
        )
        return body, stored
    if action == "createAnnotations":
        note = {"sound": world.sound, "startSeconds": 2, "durationSeconds": 1, "tags": ["y"]}
        body = await gql.raw(CREATE_ANNOTATIONS, {"input": [note]}, token=token)
        stored = await fetch_value(
            database_url,
            "SELECT count(*) FROM annotations WHERE sound_id = $1",
            uuid.UUID(world.sound),
        )
        return body, stored - 1  # the world's own annotation
    if action == "read":
        variables = {"user": world.owner.name, "creator": world.owner.id, "sound": world.sound}
        return await gql.raw(READS, variables, token=token), None
    if action == "updateViewer":
        body = await gql.raw(UPDATE, {"input": {"aboutMe": "changed"}}, token=token)
        stored = actor and await fetch_value(
            database_url, "SELECT about_me FROM users WHERE id = $1", uuid.UUID(actor.id)
        )
        return body, stored
    assert action == "deleteViewer"
    body = await gql.raw(DELETE, token=token)
    stored = actor and await fetch_value(
        database_url, "SELECT deleted FROM users WHERE id = $1", uuid.UUID(actor.id)
    )
    return body, stored


def check_allowed(action: str, body: dict[str, Any], stored: Any, world: World) -> None:
    assert not body.get("errors"), body
    data = body["data"]
    if action == "createSounds":
        assert len(data["createSounds"]["sounds"]) == 1 and stored == 1
    elif action == "createAnnotations":
        assert len(data["createAnnotations"]["annotations"]) == 1 and stored == 1
    elif action == "read":
        ids = [
            [e["node"]["id"] for e in data[k]["edges"]] for k in ("users", "sounds", "annotations")
        ]
        assert ids == [[world.owner.id], [world.sound], [world.annotation]]
    elif action == "updateViewer":
        assert data["updateViewer"] == {"user": {"aboutMe": "changed"}, "userErrors": []}
        assert stored == "changed"
    else:
        assert data["deleteViewer"] == {"deleted": True} and stored is True


@pytest.mark.parametrize("actor_type", [*TYPES, ANONYMOUS])
@pytest.mark.parametrize("action", list(ALLOWED))
async def test_permission_matrix(
    gql: GraphQLClient, database_url: str, action: str, actor_type: str
) -> None:
    world = await make_world(gql)
    actor = None if actor_type == ANONYMOUS else await make_user(gql, actor_type)
    body, stored = await attempt(gql, database_url, action, actor, world)
    if actor_type in ALLOWED[action]:
        check_allowed(action, body, stored, world)
        return
    assert body.get("errors"), body
    expected = "UNAUTHENTICATED" if actor is None else "FORBIDDEN"
    assert [e["extensions"]["code"] for e in body["errors"]] == [expected]
    assert body["data"] is None
    if action in ("createSounds", "createAnnotations"):
        assert stored == 0
    elif actor is not None:  # unreachable today: every type manages itself
        pytest.fail(f"{actor_type} was refused {action}")


async def test_a_deleted_viewer_cannot_act_any_more(gql: GraphQLClient) -> None:
    world = await make_world(gql)
    human = await make_user(gql, "HUMAN")
    await gql(DELETE, token=human.token)
    for query, variables in [
        (CREATE_SOUNDS, {"input": [sound_input()]}),
        (UPDATE, {"input": {"aboutMe": "back"}}),
        (DELETE, None),
    ]:
        assert (await gql.error(query, variables, token=human.token))[0] == "UNAUTHENTICATED"
    note = {"sound": world.sound, "startSeconds": 0, "durationSeconds": 1, "tags": ["z"]}
    code, _ = await gql.error(CREATE_ANNOTATIONS, {"input": [note]}, token=human.token)
    assert code == "UNAUTHENTICATED"


async def test_anonymous_reads_follow_the_public_read_setting(
    gql: GraphQLClient, settings: Settings
) -> None:
    world = await make_world(gql)
    reader = await make_user(gql, "AGGREGATOR")
    variables = {"user": world.owner.name, "creator": world.owner.id, "sound": world.sound}
    node = "query($id: ID!) { node(id: $id) { id } }"
    with running_api(settings.model_copy(update={"public_read": False})) as base:
        async with httpx.AsyncClient(timeout=30) as http:
            private = GraphQLClient(http, base + "/graphql")
            for field, query in LISTS.items():
                body = await private.raw(query, variables)
                assert body["data"] is None
                assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
                    ([field], "UNAUTHENTICATED")
                ]
            for query, args in [(node, {"id": world.sound}), ("{ stats { users } }", None)]:
                assert (await private.error(query, args))[0] == "UNAUTHENTICATED"
            for token in (reader.token, world.owner.token):
                check_allowed("read", await private.raw(READS, variables, token=token), None, world)
                assert (await private(node, {"id": world.sound}, token=token))["node"]
    check_allowed("read", await gql.raw(READS, variables), None, world)
