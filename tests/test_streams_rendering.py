"""Subscription events rendered once per selection: the same JSON as the resolvers write, each
subscriber's own fields, and errors for every subscriber that asks for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest

from api.graphql.subscriptions.rendering import RENDERED
from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient
from workers.sdk.graphql_ws import SubscriptionError, subscribe

FIELDS = """fragment N on Annotation {
  id createdAt startSeconds durationSeconds endSeconds tags dataUrl metadata __typename }"""
LIVE = (
    FIELDS
    + """
subscription($after: String, $f: AnnotationFilter, $withTags: Boolean!) {
  live: annotationCreated(after: $after, filter: $f) {
    __typename c: cursor node { ...N t: tags @include(if: $withTags) } } }"""
)
BATCHED = (
    FIELDS
    + """
subscription($after: String, $f: AnnotationFilter, $withTags: Boolean!) {
  live: annotationsCreated(after: $after, filter: $f, maxBatch: 7) {
    __typename c: cursor node { ...N t: tags @include(if: $withTags) } } }"""
)
QUERY = (
    FIELDS
    + """
query($after: String, $f: AnnotationFilter, $withTags: Boolean!) {
  annotations(first: 500, after: $after, filter: $f) {
    edges { __typename c: cursor node { ...N t: tags @include(if: $withTags) } } } }"""
)
PAGE_ONE = """query($f: AnnotationFilter) {
  annotations(first: 1, filter: $f) { pageInfo { endCursor } } }"""


def _items(sound: str, count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "sound": sound,
            "startSeconds": float(i),
            "durationSeconds": 0.5 if i % 2 else 2.0,
            "tags": [tag, f"n{i}"] if i % 3 or not i % 2 else [],
            "dataUrl": f"https://data.example.org/{i}.npy" if i % 2 else None,
            "metadata": {"dtype": "float32", "shape": [i, 2]} if i % 2 else None,
        }
        for i in range(count)
    ]


async def _setup(gql: GraphQLClient) -> tuple[Account, str, str]:
    """An owner, a sound, and the cursor of its first annotation (to start after)."""
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    await make_annotations(gql, owner, _items(sound["id"], 1, "seed"))
    page = await gql(PAGE_ONE, {"f": {"sound": sound["id"]}})
    return owner, sound["id"], page["annotations"]["pageInfo"]["endCursor"]


async def _take(stream: AsyncIterator[dict[str, Any]], count: int, field: str) -> list[Any]:
    got: list[Any] = []

    async def run() -> None:
        async for data in stream:
            value = data[field]
            got.extend(value if isinstance(value, list) else [value])
            if len(got) >= count:
                return

    await asyncio.wait_for(run(), 60)
    return got


@pytest.mark.parametrize("document", [LIVE, BATCHED], ids=["per-item", "batched"])
async def test_rendered_events_equal_the_query_path(
    gql: GraphQLClient, api_url: str, document: str
) -> None:
    owner, sound, start = await _setup(gql)
    flt = {"sound": sound}
    replayed = await make_annotations(gql, owner, _items(sound, 12, "old"))
    variables = {"after": start, "f": flt, "withTags": True}
    streams = [subscribe(api_url + "/graphql", document, variables) for _ in range(2)]
    async with aclosing(streams[0]), aclosing(streams[1]):
        caught_up = [await _take(s, len(replayed), "live") for s in streams]
        await asyncio.sleep(0.3)  # both joined the shared reader
        live = await make_annotations(gql, owner, _items(sound, 9, "new"))
        live_edges = [await _take(s, len(live), "live") for s in streams]
    expected = (await gql(QUERY, variables))["annotations"]["edges"]
    assert len(expected) == len(replayed) + len(live)
    for seen, more in zip(caught_up, live_edges, strict=True):
        assert seen + more == expected, "the events are what the resolvers write, in order"
        assert [list(e) for e in seen + more] == [list(e) for e in expected], "keys in order"


async def test_subscribers_sharing_a_selection_share_one_rendering(
    gql: GraphQLClient, api_url: str
) -> None:
    owner, sound, start = await _setup(gql)
    simple = """subscription($after: String, $f: AnnotationFilter) {
      annotationCreated(after: $after, filter: $f) { cursor node { id tags } } }"""
    nested = """subscription($after: String, $f: AnnotationFilter) {
      annotationCreated(after: $after, filter: $f) { cursor node { id createdBy { name } } } }"""
    variables = {"after": start, "f": {"sound": sound}}
    for document in (simple, nested):
        await make_annotations(gql, owner, _items(sound, 1, "catch-up"))
        streams = [subscribe(api_url + "/graphql", document, variables) for _ in range(3)]
        async with aclosing(streams[0]), aclosing(streams[1]), aclosing(streams[2]):
            for stream in streams:
                await asyncio.wait_for(anext(stream), 30)  # from its own catch-up read
            await asyncio.sleep(0.3)
            before = RENDERED.renders
            live = await make_annotations(gql, owner, _items(sound, 6, "x"))
            seen = [await _take(s, len(live), "annotationCreated") for s in streams]
        assert seen[0] == seen[1] == seen[2]
        assert [e["node"]["id"] for e in seen[0]] == [a["id"] for a in live]
        assert RENDERED.renders - before == len(live), "one rendering per item, not per subscriber"
        variables = {"after": seen[0][-1]["cursor"], "f": {"sound": sound}}
    assert seen[0][0]["node"]["createdBy"] == {"name": owner.name}


async def test_viewer_fields_are_rendered_for_each_viewer(gql: GraphQLClient, api_url: str) -> None:
    owner, sound, start = await _setup(gql)
    other = await make_user(gql, "DATASET")
    await gql(
        "mutation($i: UpdateViewerInput!) { updateViewer(input: $i) { user { id } } }",
        {"i": {"email": "owner@example.org"}},
        token=owner.token,
    )
    document = """subscription($after: String, $f: AnnotationFilter) {
      annotationCreated(after: $after, filter: $f) {
        cursor node { id createdBy { name email } } } }"""
    variables = {"after": start, "f": {"sound": sound}}
    await make_annotations(gql, owner, _items(sound, 1, "catch-up"))
    viewers = [owner, other, owner]
    streams = [subscribe(api_url + "/graphql", document, variables, token=v.token) for v in viewers]
    async with aclosing(streams[0]), aclosing(streams[1]), aclosing(streams[2]):
        for stream in streams:
            await asyncio.wait_for(anext(stream), 30)
        await asyncio.sleep(0.3)
        live = await make_annotations(gql, owner, _items(sound, 4, "y"))
        seen = [await _take(s, len(live), "annotationCreated") for s in streams]
    for viewer, edges in zip(viewers, seen, strict=True):
        email = "owner@example.org" if viewer is owner else None
        assert [e["node"]["createdBy"] for e in edges] == [
            {"name": owner.name, "email": email}
        ] * len(live)


async def test_different_selections_on_the_same_items(gql: GraphQLClient, api_url: str) -> None:
    owner, sound, start = await _setup(gql)
    variables = {"after": start, "f": {"sound": sound}}
    await make_annotations(gql, owner, _items(sound, 1, "catch-up"))
    selections = ["cursor", "node { id }", "node { tags id } cursor", "c: cursor node { i: id }"]
    documents = [
        f"subscription($after: String, $f: AnnotationFilter) "
        f"{{ annotationCreated(after: $after, filter: $f) {{ {s} }} }}"
        for s in selections
    ]
    streams = [subscribe(api_url + "/graphql", d, variables) for d in documents]
    async with aclosing(streams[0]), aclosing(streams[1]), aclosing(streams[2]):
        async with aclosing(streams[3]):
            for stream in streams:
                await asyncio.wait_for(anext(stream), 30)
            await asyncio.sleep(0.3)
            live = await make_annotations(gql, owner, _items(sound, 3, "z"))
            seen = [await _take(s, len(live), "annotationCreated") for s in streams]
    ids = [a["id"] for a in live]
    assert [list(e) for e in seen[0]] == [["cursor"]] * 3
    assert [e["node"] for e in seen[1]] == [{"id": i} for i in ids]
    assert [list(e) for e in seen[2]] == [["node", "cursor"]] * 3
    assert [list(e["node"]) for e in seen[2]] == [["tags", "id"]] * 3
    assert [e["node"] for e in seen[3]] == [{"i": i} for i in ids]
    assert [e["c"] for e in seen[3]] == [e["cursor"] for e in seen[0]]


async def test_errors_reach_every_subscriber_that_shares_the_selection(
    gql: GraphQLClient, api_url: str
) -> None:
    owner, sound, _ = await _setup(gql)
    document = """subscription($f: AnnotationFilter) {
      annotationCreated(filter: $f) {
        cursor node { id sound { annotations(first: 1, after: "not a cursor") { totalCount } } }
      } }"""
    streams = [subscribe(api_url + "/graphql", document, {"f": {"sound": sound}}) for _ in "ab"]
    async with aclosing(streams[0]), aclosing(streams[1]):
        firsts = [asyncio.ensure_future(anext(s)) for s in streams]
        await asyncio.sleep(0.5)  # both live, from the current end
        await make_annotations(gql, owner, _items(sound, 1, "e"))
        codes = []
        for first in firsts:
            with pytest.raises(SubscriptionError) as caught:
                await asyncio.wait_for(first, 30)
            codes.append(caught.value.codes)
    assert codes[0] == codes[1] and codes[0] and all(codes[0]), codes


SOUND_FIELDS = """id createdAt title audioUrl lowQualityAudioUrl infoUrl license durationSeconds
  tags metadata __typename"""


async def test_rendered_sounds_equal_the_query_path(gql: GraphQLClient, api_url: str) -> None:
    owner = await make_user(gql, "DATASET")
    [first] = await make_sounds(gql, owner, [sound_input()])
    flt = {"createdBy": owner.id}
    cursor = (
        await gql(
            "query($f: SoundFilter) { sounds(first: 1, filter: $f) { pageInfo { endCursor } } }",
            {"f": flt},
        )
    )["sounds"]["pageInfo"]["endCursor"]
    inputs = [
        sound_input(durationSeconds=float(i + 1), license="CC0" if i % 2 else "CC_BY_SA")
        | ({"metadata": {"pitch": i}, "infoUrl": "https://example.org/s"} if i % 2 else {})
        for i in range(5)
    ]
    await make_sounds(gql, owner, inputs)
    document = f"""subscription($after: String, $f: SoundFilter) {{
      soundsCreated(after: $after, filter: $f, maxBatch: 2) {{
        cursor node {{ {SOUND_FIELDS} }} }} }}"""
    stream = subscribe(api_url + "/graphql", document, {"after": cursor, "f": flt})
    async with aclosing(stream):
        seen = await _take(stream, len(inputs), "soundsCreated")
    query = f"""query($after: String, $f: SoundFilter) {{
      sounds(first: 50, after: $after, filter: $f) {{
        edges {{ cursor node {{ {SOUND_FIELDS} }} }} }} }}"""
    expected = (await gql(query, {"after": cursor, "f": flt}))["sounds"]["edges"]
    assert first["id"] not in [e["node"]["id"] for e in seen]
    assert seen == expected and len(seen) == len(inputs)
