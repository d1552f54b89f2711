"""The API's websocket transport: a burst of frames leaves in one write, intact and in order,
and nothing waits past the end of the loop step (`api.wsprotocol`).

Each test runs over a real loopback TCP connection; the server side's transport is wrapped in
`Recording` (which counts the writes the coalescing transport makes, then passes them on) and
the client reads what actually crossed the socket.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from api import wsprotocol
from api.wsprotocol import CoalescingTransport, flush_connection


class Recording:
    """A real transport, with the list of what each `write` call handed it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class Connection:
    """What `flush_connection` uses of the running websocket protocol: its transport."""

    def __init__(self, transport: CoalescingTransport) -> None:
        self.transport = transport


@asynccontextmanager
async def connection() -> AsyncIterator[
    tuple[CoalescingTransport, Recording, asyncio.StreamReader]
]:
    accepted: asyncio.Future[asyncio.Transport] = asyncio.get_running_loop().create_future()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)  # type: ignore[arg-type]

    server = await asyncio.get_running_loop().create_server(Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    recording = Recording(await accepted)
    coalescing = CoalescingTransport(recording, asyncio.get_running_loop())  # type: ignore[arg-type]
    try:
        yield coalescing, recording, reader
    finally:
        writer.close()
        recording.transport.close()
        server.close()
        await server.wait_closed()


async def read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(size), 5)


async def test_frames_written_in_one_step_leave_in_one_write_in_order() -> None:
    async with connection() as (transport, recording, reader):
        frames = [f"frame {i};".encode() for i in range(500)]
        for frame in frames:
            transport.write(frame)
        assert recording.writes == []  # queued until the step ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert recording.writes == [b"".join(frames)]
        assert await read_exactly(reader, len(b"".join(frames))) == b"".join(frames)


async def test_flush_connection_sends_the_current_connections_frames_at_once() -> None:
    async with connection() as (transport, recording, reader):

        def send_a_page() -> None:
            token = wsprotocol._CONNECTION.set(Connection(transport))  # type: ignore[arg-type]
            try:
                transport.write(b"one,")
                transport.write(b"two,")
                flush_connection()
                assert recording.writes == [b"one,two,"]  # before the step ends
                transport.write(b"three")
            finally:
                wsprotocol._CONNECTION.reset(token)

        contextvars.copy_context().run(send_a_page)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert recording.writes == [b"one,two,", b"three"]  # the rest by the end of the step
        assert await read_exactly(reader, 13) == b"one,two,three"


def test_flush_connection_outside_a_websocket_does_nothing() -> None:
    flush_connection()  # no connection in this context: nothing to flush, no error


async def test_close_sends_what_is_queued_then_closes() -> None:
    async with connection() as (transport, recording, reader):
        transport.write(b"last frame")
        transport.close()
        assert await read_exactly(reader, 10) == b"last frame"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # then the end of the stream
        transport.write(b"too late")  # a write after closing is dropped, not an error
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert recording.writes == [b"last frame"]


async def test_abort_drops_what_is_queued() -> None:
    async with connection() as (transport, recording, reader):
        transport.write(b"never sent")
        assert transport.get_write_buffer_size() == 10
        transport.abort()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert recording.writes == []
        assert await asyncio.wait_for(reader.read(), 5) == b""


@pytest.mark.parametrize(("prefix", "suffix"), [(b"", b""), (b'{"id":"7","payload":', b"}}")])
def test_wrapped_frames_are_the_frames_websockets_writes(prefix: bytes, suffix: bytes) -> None:
    """Every length class of RFC 6455 (7-bit, 16-bit, 64-bit) and its edges, counting the
    prefix and suffix each message is wrapped in, byte for byte against websockets' own
    serialiser, and read back by a websockets client as the same messages in order."""
    from websockets.frames import OP_TEXT, Frame
    from websockets.protocol import CLIENT, Protocol, State

    fixed = len(prefix) + len(suffix)
    lengths = sorted({max(0, n - fixed) for n in [0, 1, 125, 126, 127, 65535, 65536, 70_000]})
    bodies = [b"x" * n for n in lengths]
    messages = [prefix + body + suffix for body in bodies]
    parts = wsprotocol.wrapped_frames(prefix, bodies, suffix)
    expected = [Frame(OP_TEXT, m).serialize(mask=False, extensions=[]) for m in messages]
    assert [b"".join(parts[i : i + 4]) for i in range(0, len(parts), 4)] == expected
    client = Protocol(CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(b"".join(parts))
    received = client.events_received()
    assert [event.data for event in received] == messages
    assert all(event.opcode is OP_TEXT and event.fin for event in received)
