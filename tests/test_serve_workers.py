"""`cochlea serve --workers N` (`api.serving`): real processes, real sockets, real signals.

What matters to clients is that keep-alive connections are spread evenly over the workers
(uvicorn's shared socket left 16 connections split 11/5 or 10/6, and the busier process set
the tail latency), that every worker serves the real API, and that the whole stops cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from api import serving
from tests.services import free_port, wait_http

COCHLEA = shutil.which("cochlea", path=str(Path(sys.executable).parent))
COMMAND = [COCHLEA] if COCHLEA else [sys.executable, "-m", "api.cli"]
QUERY = b'{"query": "{ stats { users } }"}'


def _env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("COCHLEA_")} | extra


def _ask(connection: socket.socket, port: int) -> bytes:
    """POST one GraphQL query on a keep-alive connection; the whole answer."""
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(QUERY)}\r\n\r\n"
    )
    connection.sendall(head.encode() + QUERY)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head_part, _, body = answer.partition(b"\r\n\r\n")
    length = int(head_part.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += connection.recv(65536)
    assert head_part.startswith(b"HTTP/1.1 200"), head_part
    return body


@contextmanager
def _clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` keep-alive connections, opened one after another, each answered once."""
    connections = []
    try:
        for _ in range(count):
            connection = socket.create_connection(("127.0.0.1", port), timeout=30)
            connections.append(connection)
            assert b'"users"' in _ask(connection, port)
        yield connections
    finally:
        for connection in connections:
            connection.close()


def _holders(pids: list[int], port: int, clients: list[socket.socket]) -> Counter[int]:
    """How many of `clients`' connections each process holds (server side)."""
    ours = {c.getsockname()[1] for c in clients}
    held: Counter[int] = Counter()
    for pid in pids:
        for c in psutil.Process(pid).net_connections("tcp"):
            if c.laddr.port == port and c.raddr and c.raddr.port in ours:
                held[pid] += 1
    return held


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    return [p for p in parent.children() if "spawn_main" in " ".join(p.cmdline())]


def test_serve_deals_connections_evenly_and_stops_on_sigterm(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = _env(
        COCHLEA_DATABASE_URL=database_url,
        COCHLEA_REDIS_URL=redis_url,
        COCHLEA_DATA_DIR=str(tmp_path),
    )
    argv = [*COMMAND, "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(argv, env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        parent = psutil.Process(process.pid)
        workers = _workers(parent)
        assert len(workers) == 2
        with _clients(port, 16) as clients:
            held = _holders([process.pid, *(w.pid for w in workers)], port, clients)
            assert held == {workers[0].pid: 8, workers[1].pid: 8}
            for connection in clients:  # still open, still served by the same worker
                assert b'"users"' in _ask(connection, port)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    for worker in workers:
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


def test_serve_stops_when_a_worker_cannot_start(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "not-a-directory").write_text("")
    env = _env(
        COCHLEA_DATABASE_URL=database_url,
        COCHLEA_REDIS_URL=redis_url,
        COCHLEA_DATA_DIR=str(tmp_path / "not-a-directory"),  # the app cannot make files/ here
    )
    port = free_port()
    argv = [*COMMAND, "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 1
    assert "exited during start-up" in done.stderr


def test_serve_refuses_a_taken_port(database_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(COCHLEA_DATABASE_URL=database_url, COCHLEA_DATA_DIR=str(tmp_path))
        argv = [*COMMAND, "serve", "--workers", "2", "--port", str(port)]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "cannot listen" in done.stdout


@contextmanager
def _supervised(supervisor: serving.Supervisor) -> Iterator[None]:
    """Run the supervisor's loop in a thread (the test is the client meanwhile)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            supervisor.step(0.05)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        supervisor.close()


def _until(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_worker_that_dies_is_replaced_and_served_again(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _env(
        COCHLEA_DATABASE_URL=database_url,
        COCHLEA_REDIS_URL=redis_url,
        COCHLEA_DATA_DIR=str(tmp_path),
    ).items():
        monkeypatch.setenv(name, value)
    port = free_port()
    options = {"app": "api.app:create_app", "factory": True, "lifespan": "on"}
    options |= {"host": "127.0.0.1", "port": port, "log_level": "warning"}
    supervisor = serving.Supervisor(options, 2, early_exit=0)
    with _supervised(supervisor):
        _until(lambda: all(w.ready for w in supervisor.pool))
        victim = supervisor.pool[0].process
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        _until(lambda: supervisor.pool[0].process is not victim and supervisor.pool[0].ready)
        with _clients(port, 4) as clients:
            pids = [w.process.pid for w in supervisor.pool]
            assert sorted(_holders([p for p in pids if p], port, clients).values()) == [2, 2]
