"""Aggregators under test run as real `cochlea aggregator NAME` processes against the session's
API, PostgreSQL and Redis; tests talk to them over HTTP, as the web explorer does."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import Settings
from tests.services import free_port


class Aggregator:
    """A running aggregator process: its GraphQL URL, and a small client for it."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, data_dir: Path) -> None:
        self.process = process
        self.url = url
        self.data_dir = data_dir

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = {"query": query, "variables": variables or {}}
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            response = await http.post(self.url, json=body)
        return response.json()

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = await self.raw(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first error's extensions (code, field...) of a request that must fail."""
        body = await self.raw(query, variables)
        assert body.get("errors"), body
        extensions: dict[str, Any] = body["errors"][0].get("extensions") or {}
        return extensions

    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = (
            await self(
                "{ status { ready cursor lag indexed skipped streams { stream cursor seen lag } } }"
            )
        )["status"]
        return status

    async def wait_caught_up(self, within: float = 60) -> dict[str, Any]:
        """Poll `status` until the aggregator is ready and nothing is left to read."""
        deadline = time.monotonic() + within
        while True:
            status = await self.status()
            if status["ready"] and status["lag"] == 0:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"still behind after {within}s: {status}")
            if self.process.poll() is not None:
                raise AssertionError(f"the aggregator exited with {self.process.returncode}")
            await asyncio.sleep(0.1)


def aggregator_env(settings: Settings, api_url: str, data_dir: Path) -> dict[str, str]:
    return os.environ | {
        "COCHLEA_DATABASE_URL": settings.database_url or "",
        "COCHLEA_REDIS_URL": settings.redis_url or "",
        "COCHLEA_DATA_DIR": str(data_dir),
        "COCHLEA_API_URL": api_url + "/graphql",
        "COCHLEA_PUBLIC_URL": api_url,
    }


@contextmanager
def running_aggregator(
    name: str, settings: Settings, api_url: str, data_dir: Path, *, stop: bool = True
) -> Iterator[Aggregator]:
    """`cochlea aggregator NAME --port P` in a subprocess; SIGTERM (exit 0) at the end."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "aggregator", name, "--port", str(port)],
        env=aggregator_env(settings, api_url, data_dir),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1, trust_env=False).json()["ready"]:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready (exit {process.returncode})")
            time.sleep(0.1)
        yield Aggregator(process, base + "/graphql", data_dir)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if stop else signal.SIGKILL)
            code = process.wait(timeout=30)
            if stop:
                assert code == 0, f"{name} exited with {code} after SIGTERM"


@pytest.fixture
def aggregator_data_dir(tmp_path: Path) -> Path:
    """A fresh data dir: an aggregator started with it has no index yet."""
    return tmp_path / "data"
