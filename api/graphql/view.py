"""The Strawberry ASGI view: builds each request's context (engine, settings, key, loaders),
bounds each HTTP request's time (COCHLEA_REQUEST_TIMEOUT_SECONDS) and refuses a websocket whose
`connection_init` carries a bad key before any subscription starts."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from api.errors import Unauthenticated
from api.graphql import fastlane
from api.graphql.compiled import prepared
from api.graphql.context import Context, make_context
from api.graphql.limits.deadline import TimedOut, within
from api.graphql.schema import schema
from api.graphql.subscriptions.direct import TransportWSHandler
from api.settings import Settings
from api.web import graphiql_response


class _QuietDisconnects(logging.Filter):
    """A subscriber that goes away while an event is being sent is routine, not an error:
    Strawberry logs it with a traceback, which would bury real errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, WebSocketDisconnected)


logging.getLogger("strawberry.ws.task").addFilter(_QuietDisconnects())


class CochleaGraphQL(GraphQL[Context, None]):
    """GraphQL over HTTP (queries, mutations) and graphql-transport-ws (subscriptions)."""

    # Each operation's task knows its operation, so events can be written directly
    # (`api.graphql.subscriptions.direct`).
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(
            schema,
            graphql_ide="graphiql",
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=30),
            # Subscriptions are capped by QueryLimits, with a coded error.
            max_subscriptions_per_connection=None,
        )
        self.prepared = prepared.PreparedAnswers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        seconds = scope["app"].state.settings.request_timeout_seconds
        request = Request(scope=scope, receive=receive)
        try:
            response = await within(seconds, lambda: self.run(request), lambda: _abandon(scope))
        except HTTPException as error:  # a malformed request: still a GraphQL-shaped answer
            response = bad_request(error.reason, status_code=error.status_code)
        except TimedOut:
            response = timed_out(seconds)
        await response(scope, receive, send)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """A query already answered whole by compiled statements is answered by them again
        (`api.graphql.compiled.prepared`); anything else executes as usual."""
        key = None
        if request_adapter.method == "POST" and self.settings.compiled_reads:
            key = prepared.request_key(
                request_data.query, request_data.operation_name, request_data.variables
            )
            answered = await self.prepared.answer(key, context)
            if answered is not None:
                return answered
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        self.prepared.remember(key, context, result)
        return result

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """A key in `connection_init` must be good: a bad one closes the socket (4403)."""
        try:
            await context.viewer()
        except Unauthenticated:
            raise ConnectionRejectionError from None
        return UNSET

    async def render_graphql_ide(self, request: Request) -> Response:
        """A browser's GET of /graphql: the local GraphiQL (Strawberry's loads from a CDN)."""
        return graphiql_response()

    def encode_json(self, data: object) -> str:
        """orjson, which embeds compiled reads' JSON (`orjson.Fragment`) without re-encoding.
        As text: Strawberry sends bytes over a websocket as binary frames, which
        graphql-transport-ws clients (browsers' graphql-ws) cannot read."""
        return orjson.dumps(data).decode()

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """A batch mutation's body through the fast lane (`api.graphql.fastlane`) if it can."""
        if (
            self.settings.fast_batches
            and self._get_stream_transport_from_headers(request.headers) is None
        ):
            fast = await fastlane.parse_http_body(request)
            if fast is not None:
                return fast
        return await super().parse_http_body(request)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return super().decode_json(data)
        except RecursionError:
            raise HTTPException(400, "the request body nests JSON too deeply") from None
        except UnicodeDecodeError:  # json.loads decodes bytes itself; not valid UTF-8 text
            raise HTTPException(400, "the request body is not valid UTF-8 JSON") from None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state: Any = request.app.state
        authorization = request.headers.get("authorization")
        if isinstance(request, WebSocket):
            authorization = None  # subscriptions authenticate in connection_init
        context = make_context(
            engine=state.engine,
            settings=state.settings,
            events=state.events,
            authorization=authorization,
            limiter=state.limiter,
            client_address=request.client.host if request.client else None,
            http_response=None if isinstance(response, WebSocket) else response,
            reads=getattr(state, "reads", None),
        )
        request.scope["cochlea.context"] = context  # for the request timeout to clean up after
        return context


def _abandon(scope: Scope) -> None:
    context = scope.get("cochlea.context")
    if isinstance(context, Context):
        context.abandon()


def timed_out(seconds: float) -> JSONResponse:
    """The answer to a request that ran out of time (and was stopped: see `deadline`)."""
    message = (
        f"the request took longer than {seconds:g} s (COCHLEA_REQUEST_TIMEOUT_SECONDS) and was "
        "stopped; ask for less (smaller pages, fewer nested connections)"
    )
    body = {"errors": [{"message": message, "extensions": {"code": "TIMEOUT"}}]}
    return JSONResponse(body, status_code=504)


def bad_request(message: str, *, status_code: int = 400) -> JSONResponse:
    """A request GraphQL could not even start on (not JSON, no query, wrong method...)."""
    body = {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
    return JSONResponse(body, status_code=status_code)
