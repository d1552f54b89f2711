"""What the search aggregator follows, and how a stream item becomes a searchable document.

Two streams: every sound (title, tags, metadata text, its creator's name) and every *tagged*
annotation (tags, creator's name; untagged featurebot output has no words to find). Creators
come inside each item (`createdBy { id name type }`), so user names are searchable without a
third stream. Sounds' `metadata` (free JSON) is selected only if the API's schema has it:
its keys and string values become text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from workers.aggregators.runtime import Feed
from workers.aggregators.search.index import Doc
from workers.sdk.client import ApiClient

__all__ = ["ANNOTATIONS", "FEEDS", "SOUNDS", "annotation_doc", "metadata_text", "sound_doc"]

CREATOR = "createdBy { id name type }"
SOUND_SELECTION = f"id title tags durationSeconds createdAt {CREATOR}"
ANNOTATION_SELECTION = f"id tags startSeconds endSeconds {CREATOR} sound {{ id title }}"
MAX_METADATA_CHARS = 20_000

HAS_FIELD = "query($t: String!) { __type(name: $t) { fields { name } } }"


async def has_field(client: ApiClient, type_name: str, field: str) -> bool:
    data = await client.execute(HAS_FIELD, {"t": type_name})
    fields = (data.get("__type") or {}).get("fields") or []
    return any(f["name"] == field for f in fields)


async def sound_selection(client: ApiClient) -> str:
    """Sounds' fields to read, `metadata` included when this API has it."""
    if await has_field(client, "Sound", "metadata"):
        return SOUND_SELECTION + " metadata"
    return SOUND_SELECTION


SOUNDS = Feed(field="soundCreated", selection=SOUND_SELECTION, resolve_selection=sound_selection)
ANNOTATIONS = Feed(
    field="annotationCreated", selection=ANNOTATION_SELECTION, filter={"withTags": True}
)
FEEDS = (SOUNDS, ANNOTATIONS)


def _walk(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 8:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from _walk(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner, depth + 1)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)


def metadata_text(metadata: Any) -> str:
    """The words of a JSON metadata object: keys and values, bounded in size."""
    return " ".join(_walk(metadata))[:MAX_METADATA_CHARS]


def _creator(node: dict[str, Any]) -> dict[str, Any]:
    creator = node.get("createdBy") or {}
    return {"id": creator.get("id"), "name": creator.get("name"), "type": creator.get("type")}


def sound_doc(node: dict[str, Any]) -> Doc:
    creator = _creator(node)
    tags = [str(t) for t in node.get("tags") or []]
    metadata = metadata_text(node["metadata"]) if node.get("metadata") is not None else ""
    text = {"title": [str(node["title"])], "tags": tags, "creator": [creator["name"] or ""]}
    if metadata:
        text["metadata"] = [metadata]
    return Doc(
        id=str(node["id"]),
        kind="sound",
        text=text,
        created_by=creator["id"],
        creator_type=creator["type"],
        sound=str(node["id"]),
        tags=tags,
        payload={
            "id": str(node["id"]),
            "title": node["title"],
            "tags": tags,
            "metadata": metadata[:2000],
            "creator": creator,
            "sound": {"id": node["id"], "title": node["title"]},
            "durationSeconds": node.get("durationSeconds"),
        },
    )


def annotation_doc(node: dict[str, Any]) -> Doc:
    creator = _creator(node)
    tags = [str(t) for t in node.get("tags") or []]
    sound = node["sound"]
    return Doc(
        id=str(node["id"]),
        kind="annotation",
        text={"tags": tags, "creator": [creator["name"] or ""]},
        created_by=creator["id"],
        creator_type=creator["type"],
        sound=str(sound["id"]),
        tags=tags,
        payload={
            "id": str(node["id"]),
            "title": sound.get("title"),
            "tags": tags,
            "creator": creator,
            "sound": {"id": sound["id"], "title": sound.get("title")},
            "startSeconds": float(node["startSeconds"]),
            "endSeconds": float(node["endSeconds"]),
        },
    )
