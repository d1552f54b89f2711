"""A real uvicorn server running the app on loopback, and a small GraphQL client for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.settings import Settings
from api.wsprotocol import websocket_options
from tests.services import free_port


@contextmanager
def running_api(settings: Settings) -> Iterator[str]:
    """Serve `settings`' app on 127.0.0.1 in a thread; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        **websocket_options(settings.ws_compression),  # as `cochlea serve` runs it
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class GraphQLClient:
    """Posts GraphQL over real HTTP; `token` becomes `Authorization: Bearer <token>`."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            self.url, json={"query": query, "variables": variables or {}}, headers=headers
        )
        return response.json()

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        """The `data` of a request that must not fail."""
        body = await self.raw(query, variables, token=token)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> Any:
        """The first error of a request that must fail; returns (code, message)."""
        body = await self.raw(query, variables, token=token)
        assert body.get("errors"), body
        first = body["errors"][0]
        return first.get("extensions", {}).get("code"), first["message"]


@contextmanager
def api_process(settings: Settings) -> Iterator[str]:
    """Serve the API from a separate uvicorn *process* (another API instance sharing the same
    PostgreSQL and Redis); yield its base URL."""
    import os
    import subprocess
    import sys

    from tests.services import wait_http

    port = free_port()
    env = os.environ | {
        "COCHLEA_DATABASE_URL": settings.database_url or "",
        "COCHLEA_REDIS_URL": settings.redis_url or "",
        "COCHLEA_DATA_DIR": str(settings.data_dir),
        "COCHLEA_PUBLIC_READ": str(settings.public_read).lower(),
    }
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        env=env,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)
