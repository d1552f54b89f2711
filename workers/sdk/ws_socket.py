"""The websocket under the SDK's subscriptions: picows (Cython), messages queued as bytes.

A bot catching up receives one message per item, tens of thousands a second. The websockets
library parses each frame and hands it over through a future in Python; picows parses in C and
calls `on_ws_frame`, which only queues the payload. The reader (`receive`) takes everything
queued at once, so the event loop is entered once per socket read, not once per message.
From the same bare server (`bench.wsfloor`), the SDK received 140,000 to 147,000 messages/s
through websockets and 184,000/s through this (docs/performance.md, eighth round).

Flow control is the transport's: past `HIGH_WATER` bytes queued the socket stops being read
(the server's writes then wait, as with any slow reader) until the reader takes them.
Frames arrive whole from Cochlea's server; fragmented ones are joined anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from picows import WSCloseCode, WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

HIGH_WATER = 4 << 20
"""Bytes queued past which the socket stops being read until `receive` takes them."""
_TEXT = WSMsgType.TEXT
MAX_MESSAGE_BYTES = 64 << 20
"""The largest message accepted (a batched page of 500 edges with metadata is a few MB)."""
PICOWS_LOG = logging.getLogger(f"{__name__}.picows")
"""picows' own messages: warnings and errors; its line per connection opened is at INFO."""
PICOWS_LOG.setLevel(logging.WARNING)
NORMAL = frozenset({1000, 1001, 1005})
"""Close codes of a connection ended on purpose: normal, going away, and none given (RFC
6455 7.1.5: a close frame without a code reads as 1005), as websockets counts them."""


class SocketClosed(ConnectionError):
    """The connection ended without a normal close (code 1000/1001), or never opened; an
    `OSError`, so followers that retry after network errors retry after this too."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class _Receiver(WSListener):
    """Queues text payloads; remembers how the connection closed."""

    def __init__(self) -> None:
        self.queue: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.ended = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.waiter: asyncio.Future[None] | None = None
        self._fragments: list[bytes] = []
        self._transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is _TEXT and frame.fin:  # the common case, inlined: one call per message
            payload = frame.get_payload_as_bytes()
            self.queue.append(payload)
            self.buffered += len(payload)
            if self.buffered > HIGH_WATER:
                self._pause()
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind is WSMsgType.TEXT or kind is WSMsgType.CONTINUATION:
            self._fragments.append(frame.get_payload_as_bytes())
            if sum(map(len, self._fragments)) > MAX_MESSAGE_BYTES:
                self._end(transport, WSCloseCode.MESSAGE_TOO_BIG, "message too big")
            elif frame.fin:
                payload, self._fragments = b"".join(self._fragments), []
                self._queue(payload)
        elif kind is WSMsgType.CLOSE:
            code = frame.get_close_code() if frame.payload_size >= 2 else 1005
            code = int(code.value if isinstance(code, WSCloseCode) else code)
            self.close_code = code or 1005  # picows peers send 0 for "no code"
            reason = frame.get_close_message()  # None when the frame has no reason
            self.close_reason = reason.decode("utf-8", "replace") if reason else ""
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        # pings are answered by picows (enable_auto_pong); binary frames are not ours

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.ended = True
        self._wake()

    def _queue(self, payload: bytes) -> None:
        self.queue.append(payload)
        self.buffered += len(payload)
        if self.buffered > HIGH_WATER:
            self._pause()
        self._wake()

    def _pause(self) -> None:
        if not self.paused and self._transport is not None:
            self.paused = True
            self._transport.underlying_transport.pause_reading()

    def _end(self, transport: WSTransport, code: WSCloseCode, reason: str) -> None:
        self.close_code, self.close_reason = int(code.value), reason
        transport.send_close(code, reason.encode())
        transport.disconnect()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class TextSocket:
    """A client websocket that sends text and yields each text message received as bytes."""

    def __init__(self, transport: WSTransport, receiver: _Receiver) -> None:
        self._transport = transport
        self._receiver = receiver

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        subprotocol: str,
        timeout: float,  # noqa: ASYNC109 (the handshake's own timeout too)
    ) -> TextSocket:
        """Open `url` (ws:// or wss://) offering `subprotocol`; raises `SocketClosed`."""
        try:
            async with asyncio.timeout(timeout):
                transport, receiver = await ws_connect(
                    _Receiver,
                    url,
                    websocket_handshake_timeout=timeout,
                    extra_headers={"Sec-WebSocket-Protocol": subprotocol},
                    max_frame_size=MAX_MESSAGE_BYTES,
                    enable_auto_pong=True,
                    logger_name=PICOWS_LOG,
                )
        except WSError as exc:
            raise SocketClosed(f"{url}: the websocket handshake failed: {exc}") from None
        except TimeoutError:
            raise SocketClosed(f"{url}: no websocket after {timeout:g} s") from None
        assert isinstance(receiver, _Receiver)
        return cls(transport, receiver)

    def send(self, text: bytes) -> None:
        self._transport.send(WSMsgType.TEXT, text)

    async def receive(self) -> list[bytes]:
        """The text messages received since the last call, in order, waiting for one if there
        are none; [] once the server has closed normally. Raises `SocketClosed` for any other
        end. (A list per socket read, not a message per call: the caller loops in its own
        frame, and a replay costs one await per read instead of one per message.)"""
        receiver = self._receiver
        while not receiver.queue:
            if receiver.ended:
                if receiver.close_code in NORMAL:
                    return []
                raise SocketClosed(self.describe_close(), receiver.close_code)
            receiver.waiter = asyncio.get_running_loop().create_future()
            try:
                await receiver.waiter
            finally:
                receiver.waiter = None
        batch, receiver.queue, receiver.buffered = receiver.queue, [], 0
        if receiver.paused:
            receiver.paused = False
            self._transport.underlying_transport.resume_reading()
        return batch

    def unread(self, messages: list[bytes]) -> None:
        """Put `messages` back in front of what is queued (the next `receive` returns them)."""
        if messages:
            self._receiver.queue[:0] = messages

    @property
    def close_code(self) -> int | None:
        return self._receiver.close_code

    def describe_close(self) -> str:
        code, reason = self._receiver.close_code, self._receiver.close_reason
        if code is None:
            return "the connection was lost without a closing handshake"
        return f"the server closed the connection ({code}{': ' + reason if reason else ''})"

    async def close(self, *, timeout: float = 1.0) -> None:  # noqa: ASYNC109
        """Say goodbye (code 1000) and hang up, waiting at most `timeout` for the peer."""
        transport: Any = self._transport
        if not self._receiver.ended:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        try:
            async with asyncio.timeout(timeout):
                await transport.wait_disconnected()
        except TimeoutError:
            transport.disconnect(graceful=False)
