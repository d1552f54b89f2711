"""`cochlea serve --workers N`: N API processes behind one listening socket, with connections
dealt to them in turn, as Node's cluster module does.

With uvicorn's own `--workers`, every process accepts from one shared socket and whichever
wakes first takes the connection, so 16 keep-alive clients split unevenly (9/7 and 10/6 in
`bench.reads`) and the busier process's queue sets the tail latency; SO_REUSEPORT is no
better, the kernel picks a socket by hashing the client's address and port. Here the parent
accepts every connection and passes it to the next worker over a Unix socket (SCM_RIGHTS).
The worker serves it with uvicorn's own protocol, so HTTP, websockets, keep-alive and graceful
shutdown are uvicorn's; the parent costs one accept and one sendmsg per connection, nothing
per request.

Workers run in their own process groups and are stopped by the parent (SIGTERM, so each
drains and runs the app's shutdown once); a worker whose parent is gone sees its channel
close and stops too. A worker that dies is replaced, unless it dies within `EARLY_EXIT_SECONDS`
of starting (a start-up failure would only repeat): then everything stops with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

logger = logging.getLogger("cochlea.serving")
EARLY_EXIT_SECONDS = 10.0
STOP_SECONDS = 20.0
_spawn = multiprocessing.get_context("spawn")


class _HandedServer(uvicorn.Server):
    """uvicorn's server, fed connections over `channel` instead of listening itself."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        self.opening: set[asyncio.Task[Any]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan; no listener of its own
        loop = asyncio.get_running_loop()
        protocol = functools.partial(  # type: ignore[call-arg]
            self.config.http_protocol_class,
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._take, loop, protocol)
        with contextlib.suppress(OSError):
            self.channel.send(b"r")  # ready: deal me connections

    def _take(self, loop: asyncio.AbstractEventLoop, protocol: Any) -> None:
        """Serve every connection the parent has passed (one byte and one descriptor each)."""
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.channel, 1, 1)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data and not fds:  # the parent is gone: nothing more will come
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                connection = socket.socket(fileno=fd)
                connection.setblocking(False)
                if connection.family in (socket.AF_INET, socket.AF_INET6):
                    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                task = loop.create_task(loop.connect_accepted_socket(protocol, connection))
                self.opening.add(task)
                task.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[Any]) -> None:
        self.opening.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("a connection could not be served: %r", task.exception())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
        self.channel.close()  # the parent deals new connections to the others
        await super().shutdown(sockets=None)


def _worker(options: dict[str, Any], channel: socket.socket) -> None:
    """A worker process: its own group (a terminal's Ctrl-C reaches the parent, which stops
    the workers once), uvicorn's logging, then the server until SIGTERM or the parent's end."""
    os.setpgid(0, 0)
    config = uvicorn.Config(**options)
    _HandedServer(config, channel).run()


@dataclass
class _Worker:
    process: BaseProcess
    channel: socket.socket
    started: float = field(default_factory=time.monotonic)
    ready: bool = False  # its app has started: it says so with one byte on the channel


def _start_worker(options: dict[str, Any]) -> _Worker:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = _spawn.Process(target=_worker, args=(options, theirs), name="cochlea-api")
    process.start()
    theirs.close()
    ours.setblocking(False)  # a stalled worker must not stall the dealing
    return _Worker(process, ours)


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The listening socket, bound before any worker starts (so a taken port fails fast)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(backlog)
    listener.setblocking(False)
    return listener


class Supervisor:
    """The parent: accepts, deals each connection to the next ready worker, replaces workers
    that exit. Connections wait in the listen backlog until every first worker is ready (so
    the first clients spread evenly too), later only while no worker is ready."""

    def __init__(
        self, options: dict[str, Any], workers: int, *, early_exit: float = EARLY_EXIT_SECONDS
    ) -> None:
        self.options = options
        self.early_exit = early_exit
        self.listener = listen(options["host"], options["port"])
        self.selector = selectors.DefaultSelector()
        self.pool = [self._add(_start_worker(options)) for _ in range(workers)]
        self.next = 0
        self.listening = False
        self.starting = True

    def _add(self, worker: _Worker) -> _Worker:
        self.selector.register(worker.channel, selectors.EVENT_READ, worker)
        return worker

    def _drop(self, worker: _Worker) -> None:
        worker.ready = False
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(worker.channel)
        worker.channel.close()

    def deal(self, connection: socket.socket) -> bool:
        """Pass `connection` to the next ready worker; False if none could take it."""
        for _ in range(len(self.pool)):
            worker = self.pool[self.next]
            self.next = (self.next + 1) % len(self.pool)
            if not worker.ready:
                continue
            try:
                socket.send_fds(worker.channel, [b"c"], [connection.fileno()])
                return True
            except OSError:
                continue  # full (stalled) or gone (exiting): the next one takes it
        return False

    def step(self, timeout: float) -> bool:
        """Wait up to `timeout` for connections and workers' news; False to stop (a worker
        died during its start-up)."""
        for key, _ in self.selector.select(timeout):
            if key.fileobj is self.listener:
                self._accept_all()
            elif isinstance(key.data, _Worker):
                self._hear(key.data)
            elif key.data is not None:
                key.data()
        if not self._replace_dead():
            return False
        self.starting = self.starting and not all(w.ready for w in self.pool)
        wanted = not self.starting and any(w.ready for w in self.pool)
        if wanted != self.listening:
            if wanted:
                self.selector.register(self.listener, selectors.EVENT_READ)
            else:
                self.selector.unregister(self.listener)
            self.listening = wanted
        return True

    def _hear(self, worker: _Worker) -> None:
        try:
            news = worker.channel.recv(64)
        except BlockingIOError:
            return
        except OSError:
            news = b""
        if not news:  # it is exiting; `_replace_dead` sees to it
            self._drop(worker)
        elif b"r" in news:
            worker.ready = True

    def _accept_all(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of descriptors, say: the client will retry
                logger.warning("accept failed: %s", error)
                return
            with connection:  # the worker holds its own copy once sent
                if not self.deal(connection):
                    logger.warning("no API worker could take a connection")

    def _replace_dead(self) -> bool:
        for i, worker in enumerate(self.pool):
            if worker.process.is_alive():
                continue
            self._drop(worker)
            if time.monotonic() - worker.started < self.early_exit:
                logger.error("an API worker exited during start-up (%s)", worker.process.exitcode)
                return False
            logger.warning("an API worker exited (%s); starting another", worker.process.exitcode)
            self.pool[i] = self._add(_start_worker(self.options))
        return True

    def close(self) -> None:
        """Stop listening, SIGTERM every worker (each drains), wait, kill what is left."""
        self.listener.close()
        for worker in self.pool:
            if worker.process.is_alive() and worker.process.pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for worker in self.pool:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            self._drop(worker)
        self.selector.close()


def run(options: dict[str, Any], *, workers: int) -> int:
    """Serve `options` (uvicorn.Config keyword arguments, `host` and `port` included) from
    `workers` processes until SIGINT or SIGTERM; the exit status."""
    stopping: list[int] = []
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    wake_r.setblocking(False)
    previous_wakeup = signal.set_wakeup_fd(wake_w.fileno())
    handlers = {sig: signal.signal(sig, lambda s, _f: stopping.append(s)) for sig in _STOPS}
    code = 0
    try:
        supervisor = Supervisor(options, workers)
        supervisor.selector.register(wake_r, selectors.EVENT_READ, lambda: wake_r.recv(64))
        try:
            while not stopping:
                if not supervisor.step(0.5):
                    code = 1
                    break
        finally:
            supervisor.close()
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        wake_r.close()
        wake_w.close()
    return code


_STOPS = (signal.SIGINT, signal.SIGTERM)
