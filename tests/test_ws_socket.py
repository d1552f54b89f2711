"""The SDK's websocket (`workers.sdk.ws_socket`) against real servers on loopback: every message
arrives once and in order, a slow reader holds the server back instead of queueing without
bound, and every way a connection ends is told apart (normal close, error close, refused)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from picows import WSCloseCode, WSListener, WSMsgType, WSTransport, ws_create_server
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from tests.services import free_port
from workers.sdk import ws_socket
from workers.sdk.ws_socket import SocketClosed, TextSocket

PROTOCOL = "graphql-transport-ws"


async def _flood(socket: WebSocket) -> None:
    """`count` messages of `size` bytes (numbered), then a normal close."""
    await socket.accept(subprotocol=PROTOCOL)
    count, size = int(socket.query_params["count"]), int(socket.query_params["size"])
    for index in range(count):
        await socket.send_text(f"{index:08d}".ljust(size, "x"))
    await socket.close(1000)


async def _fail(socket: WebSocket) -> None:
    await socket.accept(subprotocol=PROTOCOL)
    await socket.send_text("last words")
    await socket.close(1011, reason="it broke")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(routes=[WebSocketRoute("/flood", _flood), WebSocketRoute("/fail", _fail)])
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"ws://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=15)


async def _all(socket: TextSocket, *, pause: float = 0.0) -> list[bytes]:
    received: list[bytes] = []
    while batch := await socket.receive():
        received += batch
        if pause:
            await asyncio.sleep(pause)
    return received


async def test_messages_arrive_once_in_order_then_the_normal_close_ends_them(server: str) -> None:
    socket = await TextSocket.connect(
        f"{server}/flood?count=5000&size=60", subprotocol=PROTOCOL, timeout=5
    )
    received = await _all(socket)
    assert [int(m[:8]) for m in received] == list(range(5000))
    assert all(len(m) == 60 for m in received)
    assert socket.close_code == 1000
    assert await socket.receive() == [], "after a normal close there is nothing more"
    await socket.close()


async def test_opening_a_socket_logs_nothing_at_info(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A bot opens a socket per subscription: picows' line per connection stays out of its log
    at INFO (`cochlea up` logs at INFO), while its warnings would not."""
    with caplog.at_level(logging.INFO):
        socket = await TextSocket.connect(
            f"{server}/flood?count=1&size=8", subprotocol=PROTOCOL, timeout=5
        )
        assert len(await _all(socket)) == 1
        await socket.close()
    assert not [r for r in caplog.records if r.name.startswith(("picows", ws_socket.__name__))]
    assert ws_socket.PICOWS_LOG.isEnabledFor(logging.WARNING)


async def test_a_slow_reader_pauses_the_socket_and_loses_nothing(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_socket, "HIGH_WATER", 64 << 10)
    socket = await TextSocket.connect(
        f"{server}/flood?count=2000&size=16384", subprotocol=PROTOCOL, timeout=5
    )
    received: list[bytes] = []
    paused_seen = False
    while batch := await socket.receive():
        received += batch
        await asyncio.sleep(0.01)  # meanwhile 64 KiB queue up: the socket stops being read
        paused_seen = paused_seen or socket._receiver.paused
    assert paused_seen
    assert [int(m[:8]) for m in received] == list(range(2000)), "reading resumed, in order"
    await socket.close()


async def test_an_error_close_raises_with_its_code_after_the_messages_before_it(
    server: str,
) -> None:
    socket = await TextSocket.connect(f"{server}/fail", subprotocol=PROTOCOL, timeout=5)
    assert await socket.receive() == [b"last words"]
    with pytest.raises(SocketClosed) as closed:
        await socket.receive()
    assert closed.value.code == 1011
    assert "1011: it broke" in str(closed.value)
    assert isinstance(closed.value, OSError), "followers retry after OSError"
    await socket.close()


async def test_nothing_listening_is_an_os_error() -> None:
    with pytest.raises(OSError):
        await TextSocket.connect(f"ws://127.0.0.1:{free_port()}/", subprotocol=PROTOCOL, timeout=5)


async def test_a_plain_http_answer_is_a_failed_handshake(server: str) -> None:
    with pytest.raises(SocketClosed, match="handshake failed"):
        await TextSocket.connect(f"{server}/nowhere", subprotocol=PROTOCOL, timeout=5)


class _Fragmenting(WSListener):
    """Sends one message in three frames, then closes."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, b"frag", fin=False)
        transport.send(WSMsgType.CONTINUATION, b"men", fin=False)
        transport.send(WSMsgType.CONTINUATION, b"ted", fin=True)
        transport.send(WSMsgType.TEXT, b"whole")
        transport.send_close(WSCloseCode.OK)


async def test_fragmented_messages_are_joined() -> None:
    port = free_port()
    server = await ws_create_server(lambda _request: _Fragmenting(), "127.0.0.1", port)
    try:
        socket = await TextSocket.connect(
            f"ws://127.0.0.1:{port}/", subprotocol=PROTOCOL, timeout=5
        )
        assert await _all(socket) == [b"fragmented", b"whole"]
        await socket.close()
    finally:
        server.close()
        await server.wait_closed()
