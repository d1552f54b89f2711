"""A small graphql-transport-ws client: one subscription per socket, errors as exceptions.

Bots follow Cochlea like any third-party client would, over the public protocol. Messages are
read as bytes (`workers.sdk.ws_socket`, picows) and parsed with orjson: a bot catching up
receives an item per message, or hundreds of edges per message in batches, and decoding them
is most of what it spends per item.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from workers.sdk.ws_socket import SocketClosed, TextSocket

PROTOCOL = "graphql-transport-ws"
ACK = "connection_ack"
PONG = b'{"type":"pong"}'
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
    compression: bool = False,
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield the `data` of every `next` message of one subscription until it completes.

    Raises `SubscriptionError` for errors the server sent, and `OSError` (`SocketClosed`, or
    the connect's own) or `WebSocketException` when the connection fails or ends abnormally.
    With `compression`, permessage-deflate is offered (through the websockets library): worth
    it over a slow link to a server with COCHLEA_WS_COMPRESSION on; else the faster
    uncompressed socket of `workers.sdk.ws_socket` is used.
    """
    init: dict[str, Any] = {"type": "connection_init"}
    if token:
        init["payload"] = {"authorization": f"Bearer {token}"}
    subscribe_message = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": query, "variables": dict(variables or {})},
    }
    if compression:
        async with aclosing(_deflated(url, init, subscribe_message, open_timeout)) as messages:
            async for message in messages:
                if (data := _data(message)) is _DONE:
                    return
                if data is not None:
                    yield data
        return
    socket = await TextSocket.connect(ws_url(url), subprotocol=PROTOCOL, timeout=open_timeout)
    try:
        socket.send(orjson.dumps(init))
        await _acknowledged(socket, url)
        socket.send(orjson.dumps(subscribe_message))
        while batch := await socket.receive():
            for raw in batch:
                message = orjson.loads(raw)
                if message["type"] == "next" and not message["payload"].get("errors"):
                    yield message["payload"]["data"]
                elif message["type"] == "ping":
                    socket.send(PONG)
                elif (data := _data(message)) is _DONE:
                    return
    finally:
        await socket.close()


_DONE: Any = object()


def _data(message: dict[str, Any]) -> Any:
    """A `next` message's data; `_DONE` for `complete`; raises for errors; None otherwise."""
    kind = message["type"]
    if kind == "next":
        payload = message["payload"]
        if payload.get("errors"):
            raise SubscriptionError(payload["errors"])
        return payload["data"]
    if kind == "error":
        raise SubscriptionError(message["payload"])
    if kind == "complete":
        return _DONE
    return None


async def _acknowledged(socket: TextSocket, url: str) -> None:
    """Wait for connection_ack (answering pings); what follows it stays queued."""
    try:
        while batch := await socket.receive():
            for index, raw in enumerate(batch):
                kind = orjson.loads(raw)["type"]
                if kind == "ping":
                    socket.send(PONG)
                elif kind == ACK:
                    socket.unread(batch[index + 1 :])
                    return
    except SocketClosed:
        if socket.close_code == FORBIDDEN:
            raise _refused() from None
        raise
    raise SocketClosed(f"{url}: {socket.describe_close()} before connection_ack")


def _refused() -> SubscriptionError:
    refusal = "the server refused the API key sent in connection_init"
    return SubscriptionError([{"message": refusal, "extensions": {"code": "UNAUTHENTICATED"}}])


async def _deflated(
    url: str, init: dict[str, Any], subscribe: dict[str, Any], open_timeout: float
) -> AsyncGenerator[dict[str, Any], None]:
    """The messages of `subscribe`, through the websockets library with permessage-deflate
    offered."""
    # A short close timeout: when we stop early, unread messages pause the socket's reading,
    # so the server's closing frame may never be read and a polite close would wait in vain.
    async with connect(
        ws_url(url),
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        open_timeout=open_timeout,
        close_timeout=1.0,
        compression="deflate",
    ) as socket:
        await socket.send(_dumps(init))
        try:
            while (message := orjson.loads(await socket.recv(decode=False)))["type"] != ACK:
                if message["type"] == "ping":
                    await socket.send(PONG.decode())
        except ConnectionClosed as closed:
            if closed.rcvd is not None and closed.rcvd.code == FORBIDDEN:
                raise _refused() from None
            raise
        await socket.send(_dumps(subscribe))
        while True:
            try:
                raw = await socket.recv(decode=False)
            except ConnectionClosedOK:
                return
            message = orjson.loads(raw)
            if message["type"] == "ping":
                await socket.send(PONG.decode())
            else:
                yield message


def _dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()
