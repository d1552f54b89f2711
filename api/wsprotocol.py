"""uvicorn's websocket protocol, with the frames a subscription sends in a burst written to the
socket in one system call.

A commit of five annotations reaches each subscriber as five graphql-transport-ws `next`
messages, and a catch-up page as up to 500, sent one after another without the task ever
yielding; uvicorn writes each frame to the socket on its own, and on loopback a `send` also
does the receiving side's TCP work. With 1,000 subscribers those writes were 45 % of an API
process's CPU time (py-spy, `bench.streams`).

Here a connection's frames queue in its `CoalescingTransport` and go out joined when the
subscription has sent what it has and is about to wait (`flush_connection`, called by the
subscription resolvers between pages), or else at the end of the event-loop step (so a frame
no resolver flushes, an ack or a ping, is never held longer). Same bytes, same order; one
system call and one TCP segment per page instead of one per message. Flushing only at the
end of the loop step would hold every subscriber's frames until the whole fan-out of a commit
had run: measured, that cost more latency than the saved CPU won back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

_CONNECTION: ContextVar[CoalescingWebSocketsProtocol | None] = ContextVar(
    "connection", default=None
)
"""The websocket whose ASGI task (and the tasks it starts: one per subscription) is running."""


class CoalescingTransport:
    """Wraps a transport: `write`s queue until `flush`, at the latest at the end of the
    current loop step. Closing flushes first; everything else is the wrapped transport's."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Write what is queued now (nothing when nothing is)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def close(self) -> None:
        self.flush()  # a close frame queued in this step goes out before the socket closes
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def current_connection() -> CoalescingWebSocketsProtocol | None:
    """The websocket connection of the running task, if it is one of ours."""
    return _CONNECTION.get()


def flush_connection() -> None:
    """Send what the current websocket connection has queued (nothing outside one)."""
    connection = _CONNECTION.get()
    if connection is not None:
        connection.transport.flush()


class CoalescingWebSocketsProtocol(WebSocketsSansIOProtocol):
    """`ws="websockets-sansio"` (what uvicorn's `auto` picks) on a `CoalescingTransport`."""

    transport: CoalescingTransport  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[arg-type]

    async def run_asgi(self) -> None:
        _CONNECTION.set(self)
        await super().run_asgi()

    async def send_texts(self, messages: Sequence[bytes]) -> bool:
        """Text messages (UTF-8) onto the socket in one write; False when the connection is
        closed or closing (nothing is written)."""
        return await self.send_wrapped(b"", messages, b"")

    async def send_wrapped(self, prefix: bytes, bodies: Sequence[bytes], suffix: bytes) -> bool:
        """One text message `prefix + body + suffix` (UTF-8) per body, onto the socket in one
        write; False when the connection is closed or closing (nothing is written). Framed by
        the websockets protocol when an extension (permessage-deflate) is on; else the frames
        are `wrapped_frames`: the same bytes, without building a `Frame` per message (that was
        a fifth of an API process's time in a per-item replay), or the messages themselves."""
        await self.writable.wait()  # flow control, as `send`
        conn = self.conn
        if self.disconnected or self.close_sent or conn.state is not State.OPEN:
            return False
        if conn.extensions or conn.expect_continuation_frame:
            for body in bodies:
                conn.send_text(prefix + body + suffix)
            data = b"".join(conn.data_to_send())
        else:
            data = b"".join([*conn.data_to_send(), *wrapped_frames(prefix, bodies, suffix)])
        self.transport.write(data)
        self.transport.flush()
        return True


_SHORT_HEADERS = [bytes((0x81, length)) for length in range(126)]


def wrapped_frames(prefix: bytes, bodies: Sequence[bytes], suffix: bytes) -> list[bytes]:
    """Each message `prefix + body + suffix` as one final, unmasked text frame (RFC 6455 5.2:
    FIN and opcode 1, then the payload length in 7, 7+16 or 7+64 bits), as parts to join: what
    `websockets.frames.Frame(OP_TEXT, m).serialize(mask=False, extensions=[])` writes, without
    building the messages."""
    parts: list[bytes] = []
    extend = parts.extend
    headers = _SHORT_HEADERS
    fixed = len(prefix) + len(suffix)
    for body in bodies:
        length = fixed + len(body)
        if length < 126:
            header = headers[length]
        elif length < 65536:
            header = b"\x81\x7e" + length.to_bytes(2, "big")
        else:
            header = b"\x81\x7f" + length.to_bytes(8, "big")
        extend((header, prefix, body, suffix))
    return parts


def websocket_options(ws_compression: bool) -> dict[str, Any]:
    """The `uvicorn.Config` websocket options the API is served with (`cochlea serve`, its
    workers, and the tests' server): this protocol, and permessage-deflate if configured."""
    return {"ws": CoalescingWebSocketsProtocol, "ws_per_message_deflate": ws_compression}
