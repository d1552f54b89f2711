"""Websocket compression is the operator's choice (COCHLEA_WS_COMPRESSION): off by default, so
a thousand subscribers hold no zlib state and pay no deflate per message; on, a client that
offers permessage-deflate gets it, and streams work the same."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from api.settings import Settings
from tests.factories import make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api
from workers.sdk import graphql_ws
from workers.sdk.batches import follow_batches
from workers.sdk.checkpoints import FileCheckpoint
from workers.sdk.graphql_ws import PROTOCOL, subscribe, ws_url
from workers.sdk.stream import follow

FEED = """subscription($s: ID!, $after: String) {
  annotationCreated(after: $after, filter: {sound: $s}) { node { tags } } }"""


async def _extensions(url: str) -> str | None:
    async with connect(ws_url(url + "/graphql"), subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        assert socket.response is not None
        return socket.response.headers.get("Sec-WebSocket-Extensions")


def _record_extensions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each compressed subscription's handshake agreed on (the SDK's real connect)."""
    agreed: list[str] = []
    real = graphql_ws.connect

    @contextlib.asynccontextmanager
    async def recording(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async with real(*args, **kwargs) as socket:
            agreed.append(socket.response.headers.get("Sec-WebSocket-Extensions", ""))
            yield socket

    monkeypatch.setattr(graphql_ws, "connect", recording)
    return agreed


async def test_compression_is_off_unless_the_operator_turns_it_on(
    api_url: str,
    settings: Settings,
    gql: GraphQLClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agreed = _record_extensions(monkeypatch)
    assert await _extensions(api_url) is None, "the client offered it; the server declines"
    owner = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, owner, [sound_input()])
    item = {"sound": sound["id"], "startSeconds": 0, "durationSeconds": 1}
    await make_annotations(gql, owner, [item | {"tags": ["first"]}])
    start = (
        await gql(
            "query($s: ID!) { annotations(first: 1, filter: {sound: $s}) { "
            "pageInfo { startCursor } } }",
            {"s": sound["id"]},
        )
    )["annotations"]["pageInfo"]["startCursor"]
    await make_annotations(gql, owner, [item | {"tags": ["second"]}])
    with running_api(settings.model_copy(update={"ws_compression": True})) as url:
        assert "permessage-deflate" in (await _extensions(url) or "")
        for compression in (False, True):  # the SDK's plain socket, and websockets' deflate
            variables = {"s": sound["id"], "after": start}
            stream = subscribe(url + "/graphql", FEED, variables, compression=compression)
            async with aclosing(stream):
                assert (await anext(stream))["annotationCreated"]["node"]["tags"] == ["second"]
        # The followers pass it on: `follow` subscribes at once, `follow_batches` after it
        # caught up by pages (so the third item reaches it live).
        flt = {"sound": sound["id"]}
        checkpoint = FileCheckpoint(tmp_path / "follow")
        await checkpoint.save(start)
        nodes = follow(
            url=url + "/graphql", field="annotationCreated", selection="tags",
            checkpoint=checkpoint, filter=flt, compression=True,
        )  # fmt: skip
        async with aclosing(nodes):
            assert (await asyncio.wait_for(anext(nodes), 20))["tags"] == ["second"]
        checkpoint = FileCheckpoint(tmp_path / "batches")
        await checkpoint.save(start)
        batches = follow_batches(
            url=url + "/graphql", field="annotationCreated", selection="tags",
            checkpoint=checkpoint, filter=flt, compression=True,
        )  # fmt: skip
        async with aclosing(batches):
            [edge] = await asyncio.wait_for(anext(batches), 20)
            assert edge.node["tags"] == ["second"]
            await make_annotations(gql, owner, [item | {"tags": ["third"]}])
            [edge] = await asyncio.wait_for(anext(batches), 20)
            assert edge.node["tags"] == ["third"]
    assert len(agreed) == 3 and all("permessage-deflate" in a for a in agreed), agreed
