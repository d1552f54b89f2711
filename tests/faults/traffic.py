"""The load a fault test keeps running while it breaks something: batch writers that record
what happened to each batch, and followers (the SDK's `follow`) that record what they saw."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.factories import CREATE_ANNOTATIONS
from workers.sdk.stream import follow

# Codes a client may retry: the request did not (knowingly) take effect.
RETRYABLE = {"SERVICE_UNAVAILABLE", "TIMEOUT"}
PAGE = """query($after: String, $f: AnnotationFilter) {
  annotations(order: ASC, first: 500, after: $after, filter: $f) {
    edges { node { id tags } } pageInfo { endCursor hasNextPage } } }"""


class MemoryCheckpoint:
    """A follower's cursor kept in memory (the fault may be in Redis itself)."""

    def __init__(self, cursor: str | None = None) -> None:
        self.cursor = cursor

    async def load(self) -> str | None:
        return self.cursor

    async def save(self, cursor: str) -> None:
        self.cursor = cursor


@dataclass
class Outcomes:
    """Per batch tag: the ids a writer got back, or the error codes it got instead."""

    written: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, list[str]] = field(default_factory=dict)

    def __or__(self, other: Outcomes) -> Outcomes:
        return Outcomes(self.written | other.written, self.failed | other.failed)


async def write_batches(
    http: httpx.AsyncClient,
    url: str,
    token: str,
    sound: str,
    *,
    name: str,
    batches: int,
    size: int,
    outcomes: Outcomes,
    pause: float = 0.05,
) -> None:
    """`batches` createAnnotations calls of `size` rows, each tagged with its own batch tag."""
    for n in range(batches):
        tag = f"{name}-{n}"
        rows = [
            {"sound": sound, "startSeconds": float(i % 50), "durationSeconds": 1.0, "tags": [tag]}
            for i in range(size)
        ]
        try:
            response = await http.post(
                url + "/graphql",
                json={"query": CREATE_ANNOTATIONS, "variables": {"input": rows}},
                headers={"authorization": f"Bearer {token}"},
            )
        except httpx.TransportError as error:
            outcomes.failed[tag] = [f"transport:{type(error).__name__}"]
            continue
        body = response.json()
        if body.get("errors"):
            outcomes.failed[tag] = [e.get("extensions", {}).get("code") for e in body["errors"]]
        else:
            payload = body["data"]["createAnnotations"]
            assert payload["userErrors"] == [], payload["userErrors"][:2]
            outcomes.written[tag] = [a["id"] for a in payload["annotations"]]
        await asyncio.sleep(pause)


async def seed(http: httpx.AsyncClient, url: str, token: str, sound: str) -> str:
    """Write one annotation before the fault and return its cursor: followers start after it,
    so they see everything the test writes (a follower without a cursor starts at the end)."""
    await write_batches(
        http, url, token, sound, name="seed", batches=1, size=1, outcomes=Outcomes()
    )
    body = (
        await http.post(
            url + "/graphql", json={"query": PAGE, "variables": {"f": {"sound": sound}}}
        )
    ).json()
    cursor = body["data"]["annotations"]["pageInfo"]["endCursor"]
    assert isinstance(cursor, str), body
    return cursor


async def listing(http: httpx.AsyncClient, url: str, sound: str) -> list[dict[str, Any]]:
    """Every annotation of `sound` but the seed, paged in id order."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        body = (
            await http.post(
                url + "/graphql",
                json={"query": PAGE, "variables": {"after": after, "f": {"sound": sound}}},
            )
        ).json()
        assert not body.get("errors"), body["errors"]
        page = body["data"]["annotations"]
        nodes += [edge["node"] for edge in page["edges"] if edge["node"]["tags"] != ["seed-0"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def page_along(
    http: httpx.AsyncClient, url: str, sound: str, start: str, seen: list[str], stop: asyncio.Event
) -> list[str]:
    """A pager bot: `annotations(after: last)` over and over until `stop` is set and it has
    caught up. Errors must be coded and retryable; it retries the same cursor. Returns the
    codes of the errors it met."""
    after, codes = start, []
    while True:
        body = (
            await http.post(
                url + "/graphql",
                json={"query": PAGE, "variables": {"after": after, "f": {"sound": sound}}},
            )
        ).json()
        if body.get("errors"):
            codes += [e.get("extensions", {}).get("code") for e in body["errors"]]
            await asyncio.sleep(0.2)
            continue
        page = body["data"]["annotations"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"] or after
        if stop.is_set() and not page["pageInfo"]["hasNextPage"]:
            return codes
        await asyncio.sleep(0.02)


async def follow_into(url: str, sound: str, start: str, seen: list[str]) -> None:
    """Follow `annotationCreated` for `sound` after cursor `start`, forever, appending ids."""
    async for node in follow(
        url=url + "/graphql",
        field="annotationCreated",
        selection="id",
        checkpoint=MemoryCheckpoint(start),
        filter={"sound": sound},
        max_backoff=1.0,
    ):
        seen.append(node["id"])


async def wait_for(seen: list[str], count: int, *, within: float) -> None:
    """Give followers up to `within` seconds to reach `count` items (the assertion follows)."""
    for _ in range(int(within * 10)):
        if len(seen) >= count:
            return
        await asyncio.sleep(0.1)


def assert_all_or_nothing(nodes: list[dict[str, Any]], outcomes: Outcomes, size: int) -> None:
    """Every batch is in the database whole or not at all; written batches are all there."""
    by_tag: dict[str, list[str]] = {}
    for node in nodes:
        by_tag.setdefault(node["tags"][0], []).append(node["id"])
    for tag, ids in by_tag.items():
        assert len(ids) == size, f"batch {tag} is half-written: {len(ids)} of {size} rows"
    for tag, ids in outcomes.written.items():
        assert sorted(by_tag.get(tag, [])) == sorted(ids), f"batch {tag} reported but missing"
