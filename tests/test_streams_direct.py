"""Events written straight onto the socket (`api.graphql.subscriptions.direct`): the same
graphql-transport-ws messages Strawberry sends, in order, once, and never for an operation the
client has completed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from api.graphql.subscriptions.direct import DirectSender
from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient

COMPILED = """subscription($after: String, $f: AnnotationFilter) {
  annotationCreated(after: $after, filter: $f) { cursor node { id startSeconds tags } } }"""
BATCHED = """subscription($after: String, $f: AnnotationFilter) {
  annotationsCreated(after: $after, filter: $f, maxBatch: 4) {
    cursor node { id startSeconds tags } } }"""
EDGES = """query($after: String, $f: AnnotationFilter) {
  annotations(first: 100, after: $after, filter: $f) {
    edges { cursor node { id startSeconds tags } } } }"""
FIRST = """query($f: AnnotationFilter) { annotations(first: 1, filter: $f) {
  pageInfo { endCursor } } }"""


@pytest.fixture
def direct_sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many messages each direct write carried (the server runs in this process)."""
    counts: list[int] = []
    send = DirectSender.send

    async def counted(self: DirectSender, edges: Any) -> None:
        edges = list(edges)
        counts.append(len(edges))
        await send(self, edges)

    monkeypatch.setattr(DirectSender, "send", counted)
    return counts


async def _setup(gql: GraphQLClient) -> tuple[Account, str, str]:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    await make_annotations(gql, owner, _items(sound["id"], 1))
    page = await gql(FIRST, {"f": {"sound": sound["id"]}})
    return owner, sound["id"], page["annotations"]["pageInfo"]["endCursor"]


def _items(sound: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"sound": sound, "startSeconds": float(start + i), "durationSeconds": 1, "tags": [f"t{i}"]}
        for i in range(count)
    ]


async def _session(api_url: str, operations: dict[str, tuple[str, dict[str, Any]]]) -> Any:
    socket = await connect(
        api_url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    )
    await socket.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    for op_id, (query, variables) in operations.items():
        payload = {"query": query, "variables": variables}
        await socket.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
    return socket


async def _messages(socket: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next `count` messages, each checked to be a text frame."""
    got = []
    for _ in range(count):
        frame = await asyncio.wait_for(socket.recv(), 30)
        assert isinstance(frame, str), "graphql-transport-ws messages are text frames"
        got.append(json.loads(frame))
    return got


async def test_direct_events_are_strawberrys_messages_in_order(
    gql: GraphQLClient, api_url: str, direct_sends: list[int]
) -> None:
    owner, sound, start = await _setup(gql)
    variables = {"after": start, "f": {"sound": sound}}
    await make_annotations(gql, owner, _items(sound, 7))
    socket = await _session(api_url, {"a": (COMPILED, variables), "b": (BATCHED, variables)})
    try:
        caught_up = await _messages(socket, 7 + 2)  # 7 events of "a", two batches of "b"
        await asyncio.sleep(0.3)  # both joined the shared reader
        await make_annotations(gql, owner, _items(sound, 3, start=20))
        live = await _messages(socket, 3 + 1)
    finally:
        await socket.close()
    expected = (await gql(EDGES, variables))["annotations"]["edges"]
    assert len(expected) == 10
    messages = caught_up + live
    for message in messages:
        assert list(message) == ["id", "type", "payload"], "Strawberry's keys, in its order"
        assert message["type"] == "next" and list(message["payload"]) == ["data"]
    one = [m["payload"]["data"]["annotationCreated"] for m in messages if m["id"] == "a"]
    batches = [m["payload"]["data"]["annotationsCreated"] for m in messages if m["id"] == "b"]
    assert one == expected, "every event once, in cursor order, as the resolvers write it"
    assert [len(b) for b in batches] == [4, 3, 3]
    assert [edge for batch in batches for edge in batch] == expected
    assert sum(direct_sends) == len(messages), "every event of these took the direct path"
    assert max(direct_sends) >= 3, "a page's messages go in one write"


async def test_viewer_fields_still_take_strawberrys_path(
    gql: GraphQLClient, api_url: str, direct_sends: list[int]
) -> None:
    owner, sound, start = await _setup(gql)
    query = """subscription($after: String, $f: AnnotationFilter) {
      annotationCreated(after: $after, filter: $f) { cursor node { id createdBy { email } } } }"""
    socket = await _session(api_url, {"v": (query, {"after": start, "f": {"sound": sound}})})
    try:
        await asyncio.sleep(0.3)
        made = await make_annotations(gql, owner, _items(sound, 2))
        messages = await _messages(socket, 2)
    finally:
        await socket.close()
    assert [m["payload"]["data"]["annotationCreated"]["node"]["id"] for m in messages] == [
        a["id"] for a in made
    ]
    assert [m["payload"]["data"]["annotationCreated"]["node"]["createdBy"] for m in messages] == [
        {"email": None}
    ] * 2, "an anonymous viewer sees no one's email"
    assert direct_sends == []


async def test_a_completed_operation_gets_no_more_events(
    gql: GraphQLClient, api_url: str, direct_sends: list[int]
) -> None:
    owner, sound, start = await _setup(gql)
    variables = {"after": start, "f": {"sound": sound}}
    socket = await _session(api_url, {"gone": (COMPILED, variables), "kept": (COMPILED, variables)})
    try:
        await asyncio.sleep(0.3)
        await socket.send(json.dumps({"id": "gone", "type": "complete"}))
        await asyncio.sleep(0.3)
        made = await make_annotations(gql, owner, _items(sound, 4))
        messages = await _messages(socket, 4)
        await make_annotations(gql, owner, _items(sound, 1, start=40))  # a marker after them
        marker = await _messages(socket, 1)
    finally:
        await socket.close()
    assert [m["id"] for m in messages + marker] == ["kept"] * 5
    assert [m["payload"]["data"]["annotationCreated"]["node"]["id"] for m in messages] == [
        a["id"] for a in made
    ]
