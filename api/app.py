"""The ASGI application: GraphQL at /graphql (GraphiQL in a browser), health, static files
(demo audio and locally stored arrays) served with byte-range and CORS support, and the web
explorer at / (`api.web`)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.db.engine import create_engine
from api.db.read_pool import ReadPool
from api.events import EventHub
from api.export import export_sound
from api.files import DataFiles
from api.graphql.view import CochleaGraphQL
from api.services.ratelimit import Limiter
from api.settings import Settings, get_settings
from api.web import web_routes


class BodyLimit:
    """Refuse request bodies over `max_bytes` (by Content-Length, or while streaming) with a
    GraphQL-shaped 413, before anything is parsed or written."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self) -> JSONResponse:
        message = f"the request body is over the limit of {self.max_bytes} bytes"
        body = {"errors": [{"message": message, "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]}
        return JSONResponse(body, status_code=413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refusal()(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refusal()(scope, receive, send)


class _TooLarge(Exception):
    pass


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None) -> Starlette:
    """The app for `settings` (default: from the environment)."""
    settings = settings or get_settings()
    if not settings.database_url:
        raise RuntimeError("COCHLEA_DATABASE_URL is not set (`cochlea up` starts an embedded one)")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = create_engine(
            settings.database_url or "",
            pool_size=settings.db_pool_size,
            statement_timeout_seconds=settings.statement_timeout_seconds,
        )
        app.state.reads = ReadPool(
            settings.database_url or "",
            size=settings.db_pool_size,
            statement_timeout_seconds=settings.statement_timeout_seconds,
        )
        await app.state.reads.start()
        app.state.events = EventHub(settings.redis_url, engine=app.state.engine)
        app.state.limiter = Limiter(settings.redis_url)
        await app.state.events.start()
        # What start-up made (the schema, SQLAlchemy's tables, the imported libraries) lives
        # as long as the process: out of the collector's sight, a full collection no longer
        # walks it, which stalled every request in flight for tens of milliseconds.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.events.stop()
            await app.state.limiter.close()
            await app.state.reads.close()
            await app.state.engine.dispose()

    files = Path(settings.data_dir) / "files"
    files.mkdir(parents=True, exist_ok=True)
    graphql = CochleaGraphQL(settings)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", health),
            Route("/export/sounds/{name}", export_sound, methods=["GET"]),
            Mount("/files", DataFiles(directory=files), name="files"),
            *web_routes(),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type", "range"],
                expose_headers=[
                    "accept-ranges",
                    "content-length",
                    "content-range",
                    "content-disposition",
                    # a browser client's rate limit (see `api.graphql.limits`)
                    "retry-after",
                    "x-ratelimit-limit",
                    "x-ratelimit-remaining",
                    "x-ratelimit-used",
                    "x-ratelimit-reset",
                ],
            ),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
