"""A small graphql-transport-ws client: one subscription per socket, errors as exceptions.

Bots follow Cochlea like any third-party client would, over the public protocol. Messages are
read as bytes and parsed with orjson: a bot catching up in batches receives hundreds of edges
per message, and decoding them is most of what it spends per item.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

PROTOCOL = "graphql-transport-ws"
ACK = "connection_ack"
FORBIDDEN = 4403  # the close code of a handshake whose key the server refused


class SubscriptionError(Exception):
    """The server refused or ended the subscription with errors (each has `extensions.code`)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self.codes = [e.get("extensions", {}).get("code") for e in errors]
        super().__init__(
            "; ".join(f"{c}: {e.get('message')}" for c, e in zip(self.codes, errors, strict=True))
        )


def ws_url(http_url: str) -> str:
    """The websocket URL of a GraphQL endpoint given by its http(s) URL."""
    if http_url.startswith("https://"):
        return "wss://" + http_url.removeprefix("https://")
    return "ws://" + http_url.removeprefix("http://")


async def subscribe(
    url: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    token: str | None = None,
    open_timeout: float = 10,
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield the `data` of every `next` message of one subscription until it completes."""
    init: dict[str, Any] = {"type": "connection_init"}
    if token:
        init["payload"] = {"authorization": f"Bearer {token}"}
    # A short close timeout: when we stop early, unread messages pause the socket's reading,
    # so the server's closing frame may never be read and a polite close would wait in vain.
    async with connect(
        ws_url(url),
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        open_timeout=open_timeout,
        close_timeout=1.0,
    ) as socket:
        await socket.send(_dumps(init))
        try:
            while (message := orjson.loads(await socket.recv(decode=False)))["type"] != ACK:
                if message["type"] == "ping":
                    await socket.send(_dumps({"type": "pong"}))
        except ConnectionClosed as closed:
            if closed.rcvd is not None and closed.rcvd.code == FORBIDDEN:
                refusal = "the server refused the API key sent in connection_init"
                raise SubscriptionError(
                    [{"message": refusal, "extensions": {"code": "UNAUTHENTICATED"}}]
                ) from None
            raise
        subscribe_message = {"query": query, "variables": dict(variables or {})}
        await socket.send(_dumps({"id": "1", "type": "subscribe", "payload": subscribe_message}))
        while True:
            try:
                raw = await socket.recv(decode=False)
            except ConnectionClosedOK:
                return
            message = orjson.loads(raw)
            kind = message["type"]
            if kind == "ping":
                await socket.send(_dumps({"type": "pong"}))
            elif kind == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    raise SubscriptionError(payload["errors"])
                yield payload["data"]
            elif kind == "error":
                raise SubscriptionError(message["payload"])
            elif kind == "complete":
                return


def _dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()
