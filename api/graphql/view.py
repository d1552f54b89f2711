"""The Strawberry ASGI view: builds each request's context (engine, settings, key, loaders)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.graphql.context import Context, make_context
from api.graphql.schema import schema


class _QuietDisconnects(logging.Filter):
    """A subscriber that goes away while an event is being sent is routine, not an error:
    Strawberry logs it with a traceback, which would bury real errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, WebSocketDisconnected)


logging.getLogger("strawberry.ws.task").addFilter(_QuietDisconnects())


class CochleaGraphQL(GraphQL[Context, None]):
    """GraphQL over HTTP (queries, mutations) and graphql-transport-ws (subscriptions)."""

    def __init__(self) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=30),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:  # a malformed request: still a GraphQL-shaped answer
            response = bad_request(error.reason, status_code=error.status_code)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return super().decode_json(data)
        except RecursionError:
            raise HTTPException(400, "the request body nests JSON too deeply") from None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state: Any = request.app.state
        authorization = request.headers.get("authorization")
        if isinstance(request, WebSocket):
            authorization = None  # subscriptions authenticate in connection_init
        return make_context(
            engine=state.engine,
            settings=state.settings,
            events=state.events,
            authorization=authorization,
        )


def bad_request(message: str, *, status_code: int = 400) -> JSONResponse:
    """A request GraphQL could not even start on (not JSON, no query, wrong method...)."""
    body = {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
    return JSONResponse(body, status_code=status_code)
