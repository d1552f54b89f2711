"""Streams: every committed item exactly once, in cursor order, across writers and processes."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from api.settings import Settings
from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient, api_process
from workers.sdk.graphql_ws import SubscriptionError, subscribe

ANNOTATION_CREATED = """subscription($after: String, $filter: AnnotationFilter) {
  annotationCreated(after: $after, filter: $filter) { cursor node { id tags createdBy { name } } } }"""
PAGE = """query($after: String, $f: AnnotationFilter) {
  annotations(order: ASC, first: 500, after: $after, filter: $f) {
    edges { cursor node { id } } pageInfo { endCursor } } }"""


@pytest.fixture(scope="module")
def second_api(settings: Settings) -> Iterator[str]:
    """A second API *process* on the same PostgreSQL and Redis."""
    with api_process(settings) as url:
        yield url


async def collect(
    stream: AsyncIterator[dict[str, Any]], count: int, *, within: float = 60
) -> list[dict[str, Any]]:
    edges: list[dict[str, Any]] = []

    async def run() -> None:
        async for data in stream:
            edges.append(data["annotationCreated"])
            if len(edges) >= count:
                return

    await asyncio.wait_for(run(), within)
    return edges


async def _writer(
    gql: GraphQLClient, account: Account, sound: str, total: int, rng: random.Random
) -> list[str]:
    made: list[str] = []
    while len(made) < total:
        size = min(rng.randint(1, 60), total - len(made))
        batch = [
            {
                "sound": sound,
                "startSeconds": float(rng.randint(0, 50)),
                "durationSeconds": 1.0,
                "tags": [account.name],
            }
            for _ in range(size)
        ]
        made += [a["id"] for a in await make_annotations(gql, account, batch)]
        await asyncio.sleep(rng.random() * 0.03)
    return made


async def _pager(gql: GraphQLClient, sound: str, want: int) -> list[str]:
    """A bot that polls `annotations(after: last)` while writers are busy."""
    seen: list[str] = []
    after = None
    for _ in range(5000):
        conn = (await gql(PAGE, {"after": after, "f": {"sound": sound}}))["annotations"]
        seen += [e["node"]["id"] for e in conn["edges"]]
        after = conn["pageInfo"]["endCursor"] or after
        if len(seen) >= want:
            return seen
        await asyncio.sleep(0.005)
    return seen


async def test_many_writers_pager_and_subscriber_see_everything_once_in_order(
    gql: GraphQLClient, api_url: str, second_api: str
) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    writers = [await make_user(gql, "DATASET") for _ in range(8)]
    per_writer = 270
    total = per_writer * len(writers)
    subscription = subscribe(
        second_api + "/graphql", ANNOTATION_CREATED, {"filter": {"sound": sound["id"]}}
    )
    listening = asyncio.ensure_future(collect(subscription, total, within=120))
    await asyncio.sleep(0.5)  # the subscription starts at the current end

    async with httpx.AsyncClient(timeout=60) as second_http:
        clients = [gql, GraphQLClient(second_http, second_api + "/graphql")]
        jobs = [
            _writer(clients[n % 2], w, sound["id"], per_writer, random.Random(n))
            for n, w in enumerate(writers)
        ]
        pager = asyncio.ensure_future(_pager(gql, sound["id"], total))
        written = [i for ids in await asyncio.gather(*jobs) for i in ids]
        paged = await asyncio.wait_for(pager, 120)
    streamed = await listening

    assert len(written) == total
    assert paged == sorted(written), "the pager saw every row once, in id order"
    ids = [e["node"]["id"] for e in streamed]
    assert ids == sorted(written), "the subscriber saw every row once, in id order"


async def test_resume_after_disconnect_has_no_gap_and_no_duplicate(
    gql: GraphQLClient, api_url: str
) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    flt = {"sound": sound["id"]}
    first = await make_annotations(
        gql,
        owner,
        [
            {"sound": sound["id"], "startSeconds": 0, "durationSeconds": 1, "tags": [str(i)]}
            for i in range(300)
        ],
    )
    start = (await gql(PAGE.replace("first: 500", "first: 1"), {"f": flt}))["annotations"][
        "pageInfo"
    ]["endCursor"]
    stream = subscribe(api_url + "/graphql", ANNOTATION_CREATED, {"after": start, "filter": flt})
    part = await collect(stream, 120)
    await stream.aclose()  # disconnect mid-replay
    more = await make_annotations(
        gql,
        owner,
        [
            {"sound": sound["id"], "startSeconds": 1, "durationSeconds": 1, "tags": ["late"]}
            for _ in range(50)
        ],
    )
    resumed = subscribe(
        api_url + "/graphql", ANNOTATION_CREATED, {"after": part[-1]["cursor"], "filter": flt}
    )
    rest = await collect(resumed, 299 - 120 + 50)
    await resumed.aclose()
    got = [e["node"]["id"] for e in part + rest]
    assert got == [a["id"] for a in first[1:] + more]


async def test_live_delivery_crosses_processes(
    gql: GraphQLClient, api_url: str, second_api: str
) -> None:
    owner = await make_user(gql, "HUMAN")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    stream = subscribe(
        second_api + "/graphql", ANNOTATION_CREATED, {"filter": {"createdBy": owner.id}}
    )
    listening = asyncio.ensure_future(collect(stream, 3, within=20))
    await asyncio.sleep(0.5)
    for i in range(3):
        await make_annotations(
            gql,
            owner,
            [{"sound": sound["id"], "startSeconds": i, "durationSeconds": 1, "tags": ["x"]}],
        )
    edges = await listening
    assert [e["node"]["createdBy"]["name"] for e in edges] == [owner.name] * 3


async def _socket_session(
    url: str, token: str | None, operations: dict[str, tuple[str, dict[str, Any]]]
) -> Any:
    socket = await connect(
        url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"]
    )  # type: ignore[list-item]
    init: dict[str, Any] = {"type": "connection_init"}
    if token:
        init["payload"] = {"authorization": f"Bearer {token}"}
    await socket.send(json.dumps(init))
    assert json.loads(await _text(socket))["type"] == "connection_ack"
    for op_id, (query, variables) in operations.items():
        await socket.send(
            json.dumps(
                {
                    "id": op_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
    return socket


_UNREAD: dict[int, list[dict[str, Any]]] = {}


async def _text(socket: Any) -> str:
    """The next frame, which graphql-transport-ws requires to be text: browsers' graphql-ws
    cannot read binary frames."""
    frame = await asyncio.wait_for(socket.recv(), 10)
    assert isinstance(frame, str), f"a binary frame: {frame!r}"
    return frame


async def _next_for(socket: Any, op_id: str) -> dict[str, Any]:
    """The next message about `op_id`. Operations answer in no set order, so messages about
    the others are kept for their turn."""
    unread = _UNREAD.setdefault(id(socket), [])
    for message in unread:
        if message.get("id") == op_id:
            unread.remove(message)
            return message
    while True:
        message = json.loads(await _text(socket))
        if message.get("id") == op_id:
            return message  # type: ignore[no-any-return]
        unread.append(message)


async def test_bad_subscriptions_fail_alone(gql: GraphQLClient, api_url: str) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    flt = {"sound": sound["id"]}
    socket = await _socket_session(
        api_url,
        None,
        {
            "good": (ANNOTATION_CREATED, {"filter": flt}),
            "cursor": (ANNOTATION_CREATED, {"after": "garbage", "filter": flt}),
            "filter": (ANNOTATION_CREATED, {"filter": {"createdBy": "not-an-id"}}),
            "type": (ANNOTATION_CREATED, {"filter": {"hasData": "maybe"}}),
        },
    )
    try:
        for op_id, code in (
            ("cursor", "BAD_CURSOR"),
            ("filter", "BAD_USER_INPUT"),
            ("type", "BAD_USER_INPUT"),
        ):
            message = await _next_for(socket, op_id)
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == code, message
        await asyncio.sleep(0.3)
        [made] = await make_annotations(
            gql,
            owner,
            [{"sound": sound["id"], "startSeconds": 0, "durationSeconds": 1, "tags": ["ok"]}],
        )
        message = await _next_for(socket, "good")
        assert message["type"] == "next"
        assert message["payload"]["data"]["annotationCreated"]["node"]["id"] == made["id"]
    finally:
        await socket.close()


async def test_private_server_needs_a_key_in_connection_init(
    gql: GraphQLClient, settings: Settings
) -> None:
    owner = await make_user(gql, "AGGREGATOR")
    with api_process(settings.model_copy(update={"public_read": False})) as private:
        with pytest.raises(SubscriptionError) as refused:
            await collect(subscribe(private + "/graphql", ANNOTATION_CREATED, {}), 1, within=10)
        assert refused.value.codes == ["UNAUTHENTICATED"]
        with pytest.raises(SubscriptionError) as wrong:
            await collect(
                subscribe(private + "/graphql", ANNOTATION_CREATED, {}, token="ck_nope_nope"),
                1,
                within=10,
            )
        assert wrong.value.codes == ["UNAUTHENTICATED"]
        q = "subscription { userCreated { cursor node { name } } }"
        stream = subscribe(private + "/graphql", q, {}, token=owner.token)
        task = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.5)
        newcomer = await make_user(gql, "HUMAN")
        data = await asyncio.wait_for(task, 10)
        await stream.aclose()
        assert data["userCreated"]["node"]["name"] == newcomer.name
