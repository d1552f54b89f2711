"""What the import and export commands ask the API, over GraphQL with `ApiClient`: sounds,
users by name, annotations page by page, and the atomic batches that write."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from workers.interchange.model import Label, SoundInfo, from_annotation
from workers.sdk.client import ApiClient, GraphQLError

PAGE_SIZE = 500

SOUND = """
query Sound($id: ID!) {
  node(id: $id) {
    __typename
    ... on Sound { id title audioUrl durationSeconds license infoUrl tags }
  }
}"""
USER_BY_NAME = """
query UserByName($name: String!) {
  users(first: 1, filter: {name: $name}) { edges { node { id } } }
}"""
VIEWER = "query Viewer { viewer { id name type } }"
ANNOTATIONS = """
query Annotations($sound: ID!, $createdBy: ID, $tags: [String!], $after: String, $first: Int!) {
  annotations(first: $first, after: $after,
              filter: {sound: $sound, createdBy: $createdBy, tags: $tags}) {
    pageInfo { endCursor hasNextPage }
    edges { node { startSeconds durationSeconds tags dataUrl metadata createdBy { name } } }
  }
}"""
MINE = """
query Mine($sound: ID!, $me: ID!) {
  annotations(filter: {sound: $sound, createdBy: $me}) { totalCount }
}"""
MY_SOUNDS = "query MySounds { viewer { sounds { totalCount } } }"
CREATE_ANNOTATIONS = """
mutation CreateAnnotations($input: [AnnotationInput!]!) {
  createAnnotations(input: $input) { annotations { id } userErrors { index field code message } }
}"""
CREATE_SOUNDS = """
mutation CreateSounds($input: [SoundInput!]!) {
  createSounds(input: $input) {
    sounds { id title audioUrl durationSeconds license infoUrl tags }
    userErrors { index field code message }
  }
}"""


class NotFound(LookupError):
    """The API has no such sound or user."""


def sound_info(node: dict[str, Any]) -> SoundInfo:
    return SoundInfo(
        id=node["id"],
        title=node["title"],
        audio_url=node["audioUrl"],
        duration_seconds=float(node["durationSeconds"]),
        license=node.get("license"),
        info_url=node.get("infoUrl"),
        tags=tuple(node.get("tags") or ()),
    )


async def get_sound(client: ApiClient, sound_id: str) -> SoundInfo:
    """The sound `sound_id`; `NotFound` when there is none (or the id names something else)."""
    try:
        uuid.UUID(sound_id)
    except ValueError:
        raise NotFound(f"{sound_id!r} is not a sound id") from None
    node = (await client.execute(SOUND, {"id": sound_id}))["node"]
    if not node or node.get("__typename") != "Sound":
        raise NotFound(f"there is no sound {sound_id}")
    return sound_info(node)


async def user_id(client: ApiClient, name_or_id: str) -> str:
    """The id of the user named `name_or_id` (an id is taken as it is)."""
    try:
        return str(uuid.UUID(name_or_id))
    except ValueError:
        pass
    edges = (await client.execute(USER_BY_NAME, {"name": name_or_id}))["users"]["edges"]
    if not edges:
        raise NotFound(f"there is no user named {name_or_id!r}")
    return str(edges[0]["node"]["id"])


async def viewer(client: ApiClient) -> dict[str, Any]:
    found = (await client.execute(VIEWER))["viewer"]
    if found is None:
        raise GraphQLError([{"message": "no viewer", "extensions": {"code": "UNAUTHENTICATED"}}])
    return dict(found)


async def labels_of(
    client: ApiClient, sound_id: str, *, created_by: str | None, tags: Sequence[str]
) -> list[Label]:
    """Every annotation of the sound matching the filters, in creation order."""
    found: list[Label] = []
    after: str | None = None
    while True:
        variables: dict[str, Any] = {
            "sound": sound_id,
            "createdBy": created_by,
            "tags": list(tags) or None,
        }
        variables |= {"after": after, "first": PAGE_SIZE}
        page = (await client.execute(ANNOTATIONS, variables))["annotations"]
        for edge in page["edges"]:
            node = edge["node"]
            found.append(
                from_annotation(
                    start=node["startSeconds"],
                    duration=node["durationSeconds"],
                    tags=node["tags"],
                    data_url=node["dataUrl"],
                    metadata=node["metadata"],
                    created_by=node["createdBy"]["name"],
                )
            )
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def count_mine(client: ApiClient, sound_id: str, me: str) -> int:
    found = await client.execute(MINE, {"sound": sound_id, "me": me})
    return int(found["annotations"]["totalCount"])


async def count_my_sounds(client: ApiClient) -> int:
    found = (await client.execute(MY_SOUNDS))["viewer"]
    return int(found["sounds"]["totalCount"]) if found else 0


async def create_annotations(client: ApiClient, inputs: list[dict[str, Any]]) -> int:
    """One atomic batch; raises `UserErrors` (nothing written) when anything is wrong."""
    payload = await client.mutate(CREATE_ANNOTATIONS, {"input": inputs}, field="createAnnotations")
    return len(payload["annotations"])


async def create_sounds(client: ApiClient, inputs: list[dict[str, Any]]) -> list[SoundInfo]:
    payload = await client.mutate(CREATE_SOUNDS, {"input": inputs}, field="createSounds")
    return [sound_info(s) for s in payload["sounds"]]
