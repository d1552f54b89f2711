"""One websocket message per item the plain ASGI way: a bare Starlette endpoint, on the same
uvicorn, that speaks just enough graphql-transport-ws to send `count` copies of a finished
`next` message (no GraphQL, no database), one `send_text` each, to the SDK's own client
(`workers.sdk.graphql_ws`).

It was the floor of a per-item replay while Cochlea's server also sent each message on its
own. Since the server frames a catch-up page itself and writes it at once (`api.wsprotocol`),
a replay runs faster than this endpoint, and the ratio `bench.streams` prints beside the one
against asyncpg says how much the framing gains over uvicorn's write per message; what is
left of the per-item cost is the client's receive and parse of each message.

    python -m uvicorn bench.wsfloor:app --port 8123
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from bench.services import free_port
from workers.sdk.graphql_ws import subscribe

EDGE = {
    "cursor": "YW5ub3RhdGlvbjowMWEyMzU4Ni1lMGNiLTcwZmMtYmU0NC03NjA1MTg1NzgyNmI",
    "node": {
        "id": "01a23586-e0cb-70fc-be44-76051857826b",
        "createdAt": "2026-12-02T07:00:00+00:00",
    },
}
"""An edge of the size the replay benchmark's selection (`cursor node { id createdAt }`) has."""


async def _feed(socket: WebSocket) -> None:
    await socket.accept(subprotocol="graphql-transport-ws")
    await socket.receive_text()  # connection_init
    await socket.send_text('{"type":"connection_ack"}')
    request = orjson.loads(await socket.receive_text())
    variables = request["payload"].get("variables") or {}
    count, field = int(variables["count"]), str(variables.get("field", "annotationCreated"))
    message = orjson.dumps(
        {"id": request["id"], "type": "next", "payload": {"data": {field: EDGE}}}
    ).decode()
    for _ in range(count):
        await socket.send_text(message)
    await socket.send_text(orjson.dumps({"id": request["id"], "type": "complete"}).decode())
    await socket.close()


async def _health(request: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[WebSocketRoute("/graphql", _feed), Route("/healthz", _health)])


@contextmanager
def floor_server() -> Iterator[str]:
    """The floor endpoint on a free loopback port, in its own uvicorn process: its http URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.wsfloor:app", "--port", str(port)]
    process = subprocess.Popen([*command, "--host", "127.0.0.1", "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the websocket floor server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        process.terminate()
        process.wait(timeout=15)


async def floor_rate(url: str, *, items: int) -> float:
    """Messages/s the SDK's client receives from the floor endpoint."""
    t = time.perf_counter()
    got = 0
    async for _ in subscribe(url, "subscription { floor }", {"count": items}):
        got += 1
    assert got == items, f"the floor server sent {got} of {items} messages"
    return items / (time.perf_counter() - t)


async def best_rate(url: str, *, items: int, passes: int = 3) -> float:
    """The best of `passes` floor runs (as the replay figures are)."""
    return max([await floor_rate(url, items=items) for _ in range(passes)])
