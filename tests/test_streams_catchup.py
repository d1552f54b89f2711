"""Catch-up pages written by PostgreSQL (`api.graphql.subscriptions.catchup`): one statement per
page, and the same JSON, keys in order, as the resolvers write for the same selection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from api.graphql.subscriptions.catchup import STATEMENTS
from api.services import follow
from api.settings import Settings
from tests.factories import make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api
from tests.statements import counting
from workers.sdk.graphql_ws import subscribe

COMPILED = "encode(convert_to("  # the cursors a compiled statement writes

NODE = """id createdAt startSeconds durationSeconds endSeconds tags dataUrl metadata __typename
  createdBy { name type __typename }
  sound { title durationSeconds annotations(first: 2) { totalCount edges { cursor node { id } } } }"""
PER_ITEM = f"""subscription($after: String, $f: AnnotationFilter, $skip: Boolean!) {{
  feed: annotationCreated(after: $after, filter: $f) {{
    c: cursor node {{ {NODE} t: tags @skip(if: $skip) }} }} }}"""
BATCHED = f"""subscription($after: String, $f: AnnotationFilter, $skip: Boolean!) {{
  feed: annotationsCreated(after: $after, filter: $f, maxBatch: 5) {{
    c: cursor node {{ {NODE} t: tags @skip(if: $skip) }} }} }}"""
QUERY = f"""query($after: String, $f: AnnotationFilter, $skip: Boolean!) {{
  annotations(first: 500, after: $after, filter: $f) {{
    edges {{ c: cursor node {{ {NODE} t: tags @skip(if: $skip) }} }} }} }}"""
FIRST = """query($f: AnnotationFilter) { annotations(first: 1, filter: $f) {
  pageInfo { endCursor } } }"""


@pytest.fixture(scope="module")
def resolvers_url(settings: Settings) -> Iterator[str]:
    """The same API with compiled reads off: the resolvers answer every query."""
    with running_api(settings.model_copy(update={"compiled_reads": False})) as url:
        yield url


def _items(sound: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "sound": sound,
            "startSeconds": (i % 100) * 0.25,
            "durationSeconds": 1.0 + i % 7,
            "tags": [f"t{i % 3}", "Mixed Case"] if i % 2 else ["even"],
            "dataUrl": f"https://data.example.org/{i}.npy" if i % 3 else None,
            "metadata": {"shape": [i, 3], "scale": 0.5, "nested": {"ok": True}} if i % 2 else None,
        }
        for i in range(count)
    ]


async def _collect(stream: AsyncIterator[dict[str, Any]], count: int) -> list[list[Any]]:
    """The messages' edges, message by message, until `count` edges arrived."""
    messages: list[list[Any]] = []

    async def run() -> None:
        async for data in stream:
            value = data["feed"]
            messages.append(value if isinstance(value, list) else [value])
            if sum(map(len, messages)) >= count:
                return

    await asyncio.wait_for(run(), 60)
    return messages


async def _seeded(gql: GraphQLClient, count: int) -> tuple[dict[str, Any], str]:
    """A sound with one annotation to start after, then `count` more: the filter and cursor."""
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    await make_annotations(gql, owner, _items(sound["id"], 1))
    flt = {"sound": sound["id"]}
    start = (await gql(FIRST, {"f": flt}))["annotations"]["pageInfo"]["endCursor"]
    await make_annotations(gql, owner, _items(sound["id"], count))
    return flt, start


@pytest.mark.parametrize("document", [PER_ITEM, BATCHED], ids=["per-item", "batched"])
@pytest.mark.parametrize("skip", [False, True])
async def test_catch_up_equals_the_resolvers(
    gql: GraphQLClient, api_url: str, resolvers_url: str, document: str, skip: bool
) -> None:
    flt, start = await _seeded(gql, 12)
    variables = {"after": start, "f": flt, "skip": skip}
    with counting() as statements:
        stream = subscribe(api_url + "/graphql", document, variables)
        async with aclosing(stream):
            messages = await _collect(stream, 12)
    assert any(COMPILED in s and "LIMIT" in s for s in statements), "SQL catch-up"
    async with httpx.AsyncClient(timeout=30) as http:
        resolvers = GraphQLClient(http, resolvers_url + "/graphql")
        expected = (await resolvers(QUERY, variables))["annotations"]["edges"]
    seen = [edge for message in messages for edge in message]
    assert seen == expected and len(seen) == 12
    assert [list(e["node"]) for e in seen] == [list(e["node"]) for e in expected], "key order"
    if document is BATCHED:
        assert [len(m) for m in messages] == [5, 5, 2], "pages of maxBatch"


async def test_a_catch_up_page_is_one_statement(gql: GraphQLClient, api_url: str) -> None:
    flt, start = await _seeded(gql, 1_200)
    document = """subscription($after: String, $f: AnnotationFilter) {
      feed: annotationsCreated(after: $after, filter: $f, maxBatch: 500) { cursor node { id } } }"""
    with counting() as statements:
        stream = subscribe(api_url + "/graphql", document, {"after": start, "f": flt})
        async with aclosing(stream):
            messages = await _collect(stream, 1_200)
    assert [len(m) for m in messages] == [500, 500, 200]
    pages = [s for s in statements if COMPILED in s and "LIMIT" in s]
    assert len(pages) == 3, "one statement per page of 500, none per item"
    ends = [s for s in statements if "WITH RECURSIVE ends" in s]
    assert len(ends) == 1, "the first page came back full: where the next ones end, once"
    # The subscriber's own read of records would carry its filter (the shared reader's do not).
    records = [s for s in statements if s not in pages + ends and "annotations.sound_id = " in s]
    assert not records, "no records read through the engine for the catch-up"


async def test_viewer_fields_catch_up_through_the_resolvers(
    gql: GraphQLClient, api_url: str
) -> None:
    flt, start = await _seeded(gql, 3)
    document = """subscription($after: String, $f: AnnotationFilter) {
      feed: annotationCreated(after: $after, filter: $f) { cursor node { id createdBy { email } } }
    }"""
    with counting() as statements:
        stream = subscribe(api_url + "/graphql", document, {"after": start, "f": flt})
        async with aclosing(stream):
            messages = await _collect(stream, 3)
    assert [m[0]["node"]["createdBy"] for m in messages] == [{"email": None}] * 3
    assert not [s for s in statements if COMPILED in s and "LIMIT" in s]


async def test_subscribers_from_other_cursors_share_one_statement(
    gql: GraphQLClient, api_url: str
) -> None:
    flt, start = await _seeded(gql, 6)
    listed = """query($after: String, $f: AnnotationFilter) {
      annotations(first: 10, after: $after, filter: $f) { edges { cursor node { id } } } }"""
    edges = (await gql(listed, {"after": start, "f": flt}))["annotations"]["edges"]
    document = """subscription($from: String, $f: AnnotationFilter) {
      feed: annotationsCreated(after: $from, filter: $f, maxBatch: 4) { cursor node { id } } }"""
    before = len(STATEMENTS)
    for cursor, expected in ((start, edges), (edges[2]["cursor"], edges[3:])):
        stream = subscribe(api_url + "/graphql", document, {"from": cursor, "f": flt})
        async with aclosing(stream):
            messages = await _collect(stream, len(expected))
        assert [e for m in messages for e in m] == expected
    assert len(STATEMENTS) == before + 1, "the cursor is an argument, not part of the key"


async def test_a_long_catch_up_reads_pages_ahead_and_misses_nothing(
    gql: GraphQLClient, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages between ends read ahead, several at once, while a writer commits more: the
    subscriber still gets every matching item once, in order, in pages of maxBatch."""
    monkeypatch.setattr(follow, "PAGES_AHEAD", 3)  # ends in batches of 3 pages of 4
    flt, start = await _seeded(gql, 90)
    flt["tags"] = ["even"]  # every other item: the ends must count matching items only
    owner = await make_user(gql, "DATASET")
    document = """subscription($after: String, $f: AnnotationFilter) {
      feed: annotationsCreated(after: $after, filter: $f, maxBatch: 4) { cursor node { id } } }"""
    with counting() as statements:
        stream = subscribe(api_url + "/graphql", document, {"after": start, "f": flt})
        async with aclosing(stream):
            writer = asyncio.ensure_future(
                make_annotations(gql, owner, _items(flt["sound"], 40) * 2)  # 40 more even
            )
            messages = await _collect(stream, 45 + 40)
            await writer
    listed = """query($after: String, $f: AnnotationFilter) {
      annotations(first: 500, after: $after, filter: $f) { edges { cursor node { id } } } }"""
    expected = (await gql(listed, {"after": start, "f": flt}))["annotations"]["edges"]
    assert len(expected) == 85
    assert [e for m in messages for e in m] == expected
    assert max(map(len, messages)) <= 4
    assert len([s for s in statements if "WITH RECURSIVE ends" in s]) >= 3, "ends read ahead"
