"""`FetchClients`: kept-alive connections, one client per origin asked for, so a connection
opened for one name never serves another name on the same address."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workers.audio import FetchClients, fetch_audio
from workers.ssrf import IPNetwork

BODY = b"RIFF" + bytes(range(256)) * 64


class KeepAliveServer:
    """An HTTP/1.1 server on 127.0.0.1 that keeps connections open and records, for each
    request, the client's port (one per connection) and the Host header."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.client_address[1], self.headers["Host"]))
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/a.wav"

    def __enter__(self) -> KeepAliveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def keep_alive_server() -> Iterator[KeepAliveServer]:
    with KeepAliveServer() as server:
        yield server


async def test_connections_are_reused_within_an_origin_only(
    keep_alive_server: KeepAliveServer, loopback: list[IPNetwork]
) -> None:
    clients = FetchClients()
    try:
        for host in ("127.0.0.1", "127.0.0.1", "127.0.0.1", "localhost"):
            data = await fetch_audio(
                keep_alive_server.url(host), allow_networks=loopback, max_bytes=1 << 20,
                clients=clients,
            )  # fmt: skip
            assert data == BODY
    finally:
        clients.close()
    ports = [port for port, _ in keep_alive_server.requests]
    hosts = [host for _, host in keep_alive_server.requests]
    assert len(set(ports[:3])) == 1  # one connection for the three fetches by IP
    assert ports[3] not in ports[:3]  # another name, same address: a connection of its own
    assert hosts == [f"{h}:{keep_alive_server.port}" for h in ["127.0.0.1"] * 3 + ["localhost"]]


async def test_without_clients_every_fetch_closes_its_connection(
    keep_alive_server: KeepAliveServer, loopback: list[IPNetwork]
) -> None:
    for _ in range(2):
        await fetch_audio(
            keep_alive_server.url("127.0.0.1"), allow_networks=loopback, max_bytes=1 << 20
        )
    ports = [port for port, _ in keep_alive_server.requests]
    assert len(set(ports)) == 2


async def test_the_least_recently_used_origin_is_closed_past_the_cap(
    keep_alive_server: KeepAliveServer, loopback: list[IPNetwork]
) -> None:
    clients = FetchClients(max_origins=1)
    try:
        for host in ("127.0.0.1", "localhost", "127.0.0.1"):
            await fetch_audio(
                keep_alive_server.url(host), allow_networks=loopback, max_bytes=1 << 20,
                clients=clients,
            )  # fmt: skip
    finally:
        clients.close()
    ports = [port for port, _ in keep_alive_server.requests]
    assert len(set(ports)) == 3  # each switch closed the other origin's client
