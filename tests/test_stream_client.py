"""The bots' stream client: checkpoints only finished work, resumes exactly there."""

from __future__ import annotations

import asyncio
import json
import uuid

import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from tests.factories import make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient
from workers.sdk.stream import RedisCheckpoint, follow


async def test_follow_checkpoints_after_work_and_resumes(
    gql: GraphQLClient, api_url: str, redis_url: str
) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    made = await make_annotations(
        gql,
        owner,
        [
            {"sound": sound["id"], "startSeconds": i, "durationSeconds": 1, "tags": [f"t{i}"]}
            for i in range(30)
        ],
    )
    redis = aioredis.Redis.from_url(redis_url)
    checkpoint = RedisCheckpoint(redis, f"test:checkpoint:{uuid.uuid4().hex}")
    # Start from the very beginning of this sound's annotations: a cursor before the first one.
    first_page = await gql(
        "query($s: ID!) { annotations(first: 1, filter: {sound: $s}) { edges { cursor } } }",
        {"s": sound["id"]},
    )
    before_first = first_page["annotations"]["edges"][0]["cursor"]
    await checkpoint.save(before_first)
    done: list[str] = []

    async def work(limit: int, *, crash: bool) -> None:
        stream = follow(
            url=api_url + "/graphql",
            field="annotationCreated",
            selection="id tags",
            checkpoint=checkpoint,
            filter={"sound": sound["id"]},
        )
        async for node in stream:
            if crash and len(done) == limit:  # "crash" holding this node: its work never finished
                break
            done.append(node["id"])
            if not crash and len(done) == limit:
                break
        await stream.aclose()

    try:
        await asyncio.wait_for(work(10, crash=True), 20)
        # The node in progress was not checkpointed: the restart begins with it.
        await asyncio.wait_for(work(29, crash=False), 20)
    finally:
        await redis.aclose()
    assert done == [a["id"] for a in made[1:30]]


async def test_a_stalled_subscriber_does_not_delay_others(gql: GraphQLClient, api_url: str) -> None:
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    q = "subscription($s: ID!) { annotationCreated(filter: {sound: $s}) { cursor node { id } } }"

    async def open_socket() -> object:
        socket = await connect(
            api_url.replace("http", "ws") + "/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        )
        await socket.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        payload = {"query": q, "variables": {"s": sound["id"]}}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        return socket

    stalled = await open_socket()  # never reads
    live = await open_socket()
    await asyncio.sleep(0.3)
    try:
        for round_ in range(5):
            made = await make_annotations(
                gql,
                owner,
                [
                    {
                        "sound": sound["id"],
                        "startSeconds": 0,
                        "durationSeconds": 1,
                        "tags": ["x" * 60],
                    }
                    for _ in range(500)
                ],
            )
            got = []
            while len(got) < len(made):
                message = json.loads(await asyncio.wait_for(live.recv(), 10))  # type: ignore[attr-defined]
                if message["type"] == "next":
                    got.append(message["payload"]["data"]["annotationCreated"]["node"]["id"])
            assert got == [a["id"] for a in made], round_
    finally:
        stalled.transport.abort()  # type: ignore[attr-defined]  # a client that just vanishes
        await live.close()  # type: ignore[attr-defined]
