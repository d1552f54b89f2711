"""What a benchmark runs against: a migrated PostgreSQL and the real API in its own process.

The API runs as `cochlea serve [--workers N]` (`python -m api.cli serve`), configured only
through `COCHLEA_*` variables, exactly as it is deployed; measuring it in-process would let the
client and the server share one event loop and one GIL, which flatters neither.
"""

from __future__ import annotations

import asyncio
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

from api.db.migrate import upgrade
from api.embedded import postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database() -> Iterator[tuple[str, bool]]:
    """A migrated PostgreSQL: `COCHLEA_DATABASE_URL` if set, else an embedded one in a
    temporary directory. Yields (url, embedded)."""
    url = os.environ.get("COCHLEA_DATABASE_URL")
    if url:
        asyncio.run(upgrade(url))
        yield url, False
        return
    with tempfile.TemporaryDirectory(prefix="cochlea-bench-pg-") as tmp:
        with postgres(Path(tmp) / "pg") as embedded_url:
            asyncio.run(upgrade(embedded_url))
            yield embedded_url, True


@contextmanager
def api_process(
    database_url: str, *, pool_size: int = 10, processes: int = 1, redis_url: str | None = None
) -> Iterator[str]:
    """The API on a free loopback port in `processes` worker processes (connections dealt to
    them in turn: `api.serving`); yields its GraphQL URL. With `redis_url`, stream wake-ups
    travel between API processes over Redis."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cochlea-bench-data-") as data_dir:
        env = {
            **os.environ,
            "COCHLEA_DATABASE_URL": database_url,
            "COCHLEA_DATA_DIR": data_dir,
            "COCHLEA_DB_POOL_SIZE": str(pool_size),
        }
        env.pop("COCHLEA_REDIS_URL", None)
        if redis_url:
            env["COCHLEA_REDIS_URL"] = redis_url
        command = [sys.executable, "-m", "api.cli", "serve", "--workers", str(processes)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        # Its own session, as a service runs and as the peer (`bench.peer`) runs: with the
        # kernel's autogroup scheduling, a session is what CPU time is shared fairly between,
        # so sharing the load generator's session would halve the API's share against
        # PostgreSQL's, and the peer's would not be halved.
        process = subprocess.Popen(command, env=env, start_new_session=True)
        try:
            _wait_ready(f"http://127.0.0.1:{port}/healthz", process, timeout=60)
            yield f"http://127.0.0.1:{port}/graphql"
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def redis() -> Iterator[str]:
    """A Redis URL: `COCHLEA_REDIS_URL` if set, else an embedded one in a temporary directory."""
    url = os.environ.get("COCHLEA_REDIS_URL")
    if url:
        yield url
        return
    from api.embedded import redis as embedded_redis

    with tempfile.TemporaryDirectory(prefix="cochlea-bench-redis-") as tmp:
        with embedded_redis(Path(tmp)) as embedded_url:
            yield embedded_url


def _wait_ready(url: str, process: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the API process exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.1)
