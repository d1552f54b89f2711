"""The batch mutations' payload lists are written straight from the new records when their
selection is the nodes' own columns (`api.graphql.compiled.records`): every object must read
exactly as the resolvers write it (keys, order, aliases, `__typename`, directives, nulls,
numbers and times), and any other selection must still be resolved as before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from api.settings import Settings
from tests.factories import make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api

ANNOTATION = """__typename id at: createdAt startSeconds durationSeconds endSeconds tags
  dataUrl metadata skipped: id @include(if: $no) kept: tags @skip(if: $no)"""
SOUND = """__typename id createdAt title audioUrl lowQualityAudioUrl infoUrl license
  durationSeconds tags metadata hidden: title @include(if: $no)"""


@pytest.fixture(scope="module")
def resolvers_url(settings: Settings) -> Iterator[str]:
    with running_api(settings.model_copy(update={"compiled_reads": False})) as url:
        yield f"{url}/graphql"


def _ordered(objects: list[dict[str, Any]]) -> list[list[tuple[str, Any]]]:
    """Key order counts: a client may rely on it, and GraphQL fixes it."""
    return [list(o.items()) for o in objects]


async def _as_resolved(
    gql: GraphQLClient, url: str, type_: str, fields: str, ids: list[str]
) -> list[dict[str, Any]]:
    resolvers = GraphQLClient(gql.http, url)
    query = (
        f"query($id: ID!, $no: Boolean!) {{ node(id: $id) {{ ... on {type_} {{ {fields} }} }} }}"
    )
    return [(await resolvers(query, {"id": i, "no": False}))["node"] for i in ids]


async def test_annotation_payloads_read_as_the_resolvers_write_them(
    gql: GraphQLClient, resolvers_url: str
) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input(durationSeconds=30.0)])
    inputs = [
        {"sound": sound["id"], "startSeconds": 1, "durationSeconds": 2.5, "tags": ["a", "B"]},
        {
            "sound": sound["id"],
            "startSeconds": 0.1,
            "durationSeconds": 1e-3,
            "dataUrl": "https://example.org/x.npy",
            "metadata": {"shape": [2, 3], "rate": 43.06640625, "n": None, "deep": {"x": [1.5]}},
            "key": f"k-{uuid.uuid4().hex}",
        },
    ]
    mutation = f"""mutation($i: [AnnotationInput!]!, $no: Boolean!) {{ createAnnotations(input: $i)
      {{ annotations {{ {ANNOTATION} }} userErrors {{ index }} }} }}"""
    made = (await gql(mutation, {"i": inputs, "no": False}, token=owner.token))["createAnnotations"]
    assert made["userErrors"] == []
    ids = [a["id"] for a in made["annotations"]]
    resolved = await _as_resolved(gql, resolvers_url, "Annotation", ANNOTATION, ids)
    assert _ordered(made["annotations"]) == _ordered(resolved)
    again = await gql(mutation, {"i": inputs[1:], "no": False}, token=owner.token)
    assert again["createAnnotations"]["annotations"] == made["annotations"][1:]  # by its key


async def test_sound_payloads_read_as_the_resolvers_write_them(
    gql: GraphQLClient, resolvers_url: str
) -> None:
    owner = await make_user(gql, "DATASET")
    inputs = [sound_input(), sound_input(metadata={"bpm": 120}, infoUrl="https://example.org/i")]
    mutation = f"""mutation($i: [SoundInput!]!, $no: Boolean!) {{ createSounds(input: $i)
      {{ sounds {{ {SOUND} }} userErrors {{ index }} }} }}"""
    variables = {"i": inputs, "no": False}
    made = (await gql(mutation, variables, token=owner.token))["createSounds"]["sounds"]
    resolved = await _as_resolved(gql, resolvers_url, "Sound", SOUND, [s["id"] for s in made])
    assert _ordered(made) == _ordered(resolved)


async def test_other_payload_selections_are_resolved_as_before(gql: GraphQLClient) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input(title="nested title")])
    mutation = """mutation($i: [AnnotationInput!]!) { createAnnotations(input: $i) {
      annotations { id sound { title } createdBy { name } } } }"""
    one = {"sound": sound["id"], "startSeconds": 0, "durationSeconds": 1, "tags": ["t"]}
    [made] = (await gql(mutation, {"i": [one]}, token=owner.token))["createAnnotations"][
        "annotations"
    ]
    assert made["sound"] == {"title": "nested title"} and made["createdBy"] == {"name": owner.name}
