"""The Strawberry ASGI view: builds each request's context (engine, settings, key, loaders)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.graphql.context import Context, make_context
from api.graphql.schema import schema


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
            authorization=authorization,
            request=request,
            services=state,
        )
