"""An aggregator's HTTP app: its GraphQL at /graphql (GraphiQL in a browser), /healthz, and
CORS open to any origin so that the web explorer, served by the API elsewhere, can query it."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from workers.aggregators.runtime import Runtime


class AggregatorGraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.aggregator.schema(), graphql_ide="graphiql")
        self.runtime = runtime

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> dict[str, Any]:
        return {"request": request, "runtime": self.runtime, "aggregator": self.runtime.aggregator}


def build_app(runtime: Runtime) -> Starlette:
    graphql = AggregatorGraphQL(runtime)

    async def health(request: Request) -> JSONResponse:
        name = runtime.aggregator.name
        return JSONResponse({"ok": True, "name": name, "ready": runtime.ready.is_set()})

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", health),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["*"],
                max_age=86400,
            )
        ],
    )
