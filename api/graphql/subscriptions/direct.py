"""Subscription events written straight onto the subscriber's socket, past Strawberry's
per-event pipeline, when their JSON needs no GraphQL execution.

An event whose edge JSON is already written (a catch-up page PostgreSQL rendered, or a live
item the compiled renderer writes, once for every subscriber sharing the selection) still went
through graphql-core's event mapping, Strawberry's `_stream` (its result handling and the
extensions' hooks), the graphql-transport-ws handler's `send_next`, Starlette's websocket and
uvicorn's `send`, once per event and subscriber: with 1,000 subscribers at 50 items/s that was
about half of the API's samples (py-spy). Here the subscription resolver itself frames such
events as graphql-transport-ws `next` messages (`{"id", "type": "next", "payload": {"data":
{key: edge}}}`, what Strawberry would send: the events carry no errors and no extensions) and
hands a page of them to the connection (`api.wsprotocol`) in one write.

Everything else goes the usual way: setting up the operation (parsing, validation, limits,
permissions) and its errors, events that need the resolvers (viewer fields), the `complete`
message, and any subscription not served by this API's websocket protocol. An operation the
client has completed is never written to, and a closed socket ends the subscription as a
failed send would.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import orjson
import strawberry
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from api.wsprotocol import current_connection

_OPERATION: ContextVar[Operation[Any, Any] | None] = ContextVar("operation", default=None)
"""The graphql-transport-ws operation whose task is running."""


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """Strawberry's graphql-transport-ws handler; each operation's task knows its operation."""

    async def run_operation(self, operation: Operation[Any, None]) -> None:
        _OPERATION.set(operation)  # in this operation's own task (and context)
        await super().run_operation(operation)


class DirectSender:
    """Writes `next` messages of one operation from its events' edge JSON."""

    __slots__ = ("connection", "operation", "prefix")

    def __init__(self, connection: Any, operation: Operation[Any, Any], root_key: str) -> None:
        self.connection = connection
        self.operation = operation
        self.prefix = (
            b'{"id":'
            + orjson.dumps(operation.id)
            + b',"type":"next","payload":{"data":{'
            + orjson.dumps(root_key)
            + b":"
        )

    async def send(self, edges: Sequence[bytes]) -> None:
        """One `next` message per edge JSON (an edge, or a list of them), in one write."""
        operation = self.operation
        if operation.completed or operation.handler.operations.get(operation.id) is not operation:
            return  # the client completed it: its task is being cancelled
        if not await self.connection.send_wrapped(self.prefix, edges, b"}}}"):
            raise WebSocketDisconnected


def direct_sender(info: strawberry.Info, root_key: str) -> DirectSender | None:
    """A sender for this subscription's events, if it runs on the API's websocket protocol
    under Strawberry's graphql-transport-ws handler; None: yield events as usual."""
    connection = current_connection()
    operation = _OPERATION.get()
    if connection is None or operation is None:
        return None
    return DirectSender(connection, operation, root_key)
