"""Network helpers for the worker tests, all on loopback.

- `AudioServer`: a real HTTP(S) server on 127.0.0.1 in a background thread
  (`with AudioServer() as server:`). It records every request it receives (`received`,
  `request_count`), so a test can assert that a refused fetch never reached it, and serves
  routes added with `add()` (a body with Range support, a status, headers, a delay, a body
  dripped or streamed without Content-Length) and files under `root` with single-range
  `Range: bytes=` support, standing in for the API serving LocalArrayStore's directory.
- `LoopbackOnlyTransport`: a real httpx transport that refuses to connect beyond loopback.
- `stereo_tone`, `encode`: test sounds encoded by libsndfile.
"""

from __future__ import annotations

import io
import ipaddress
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import httpx
import numpy as np
import soundfile as sf

SR = 44_100


def stereo_tone(*, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    """(samples, 2) float32: 440 Hz left, 660 Hz right, soundfile's layout."""
    t = np.arange(int(seconds * sr)) / sr
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    right = 0.3 * np.sin(2 * np.pi * 660 * t)
    return np.stack([left, right], axis=1).astype(np.float32)


def encode(y: np.ndarray, *, sr: int = SR, format: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, y, sr, format=format, subtype=subtype)
    return buffer.getvalue()


class LoopbackOnlyTransport(httpx.BaseTransport):
    """A real transport that refuses, before connecting, any request not aimed at loopback.

    Not a fake server: requests to 127.0.0.0/8 go through the ordinary httpx transport. It is a
    tripwire so that a broken SSRF guard fails a test instead of sending traffic elsewhere.
    """

    def __init__(self, **transport_options: object) -> None:
        self._inner = httpx.HTTPTransport(**transport_options)  # type: ignore[arg-type]
        self.refused: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            is_loopback = ipaddress.ip_address(request.url.host).is_loopback
        except ValueError:
            is_loopback = False
        if not is_loopback:
            self.refused.append(str(request.url))
            raise AssertionError(f"test tried to connect beyond loopback: {request.url}")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = b"\x00\x01" * 32768


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0  # seconds between 1-byte writes of the body (no Content-Length)
    stream_bytes: int = 0  # > 0: send this many bytes without Content-Length
    bytes_sent: int = 0
    finished: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]


class AudioServer:
    """`server.url("/a.wav")`, `server.add("/a.wav", body=...)`, `server.received`."""

    def __init__(self, *, root: Path | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.root = root
        self.routes: dict[str, Route] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> AudioServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def add(self, path: str, **route: object) -> Route:
        self.routes[path] = Route(**route)  # type: ignore[arg-type]
        return self.routes[path]

    def redirect(self, path: str, location: str, *, status: int = 302) -> Route:
        return self.add(path, status=status, headers={"Location": location})

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.received)

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.received]

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)


def _handler(server: AudioServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the connection closes after each response

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, *, head: bool) -> None:
            path = urlsplit(self.path).path
            server._record(Received(self.command, path, dict(self.headers.items())))
            route = server.routes.get(path)
            if route is None:
                body = self._static(unquote(path))
                if body is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"}, head=head)
                    return
                route = Route(body=body, headers={"Content-Type": "application/octet-stream"})
            if route.delay:
                time.sleep(route.delay)
            try:
                if route.stream_bytes or route.drip:
                    self._stream(route)
                else:
                    self._send(route.status, route.body, route.headers, head=head, ranged=True)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
            finally:
                route.finished.set()

        def _static(self, path: str) -> bytes | None:
            if server.root is None:
                return None
            root = server.root.resolve()
            target = (root / path.lstrip("/")).resolve()
            if root not in target.parents or not target.is_file():
                return None
            return target.read_bytes()

        def _send(
            self,
            status: int,
            body: bytes,
            headers: dict[str, str],
            *,
            head: bool,
            ranged: bool = False,
        ) -> None:
            extra = {"Accept-Ranges": "bytes"} if ranged and status == 200 else {}
            header = self.headers.get("Range")
            if ranged and status == 200 and header:
                status, body, extra = _apply_range(header, body)
            self.send_response(status)
            for name, value in {**headers, **extra}.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _stream(self, route: Route) -> None:
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if route.drip:
                for byte in route.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    route.bytes_sent += 1
                    time.sleep(route.drip)
                return
            while route.bytes_sent < route.stream_bytes:
                chunk = _CHUNK[: route.stream_bytes - route.bytes_sent]
                self.wfile.write(chunk)
                route.bytes_sent += len(chunk)

    return Handler


def _apply_range(header: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
    """A single `bytes=a-b` / `a-` / `-n` range: 206 with Content-Range, or 416."""
    size = len(body)
    match = _RANGE.match(header.strip())
    if match and (match[1] or match[2]):
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:
            start, end = max(size - int(match[2]), 0), size - 1
        if start <= end < size:
            content_range = f"bytes {start}-{end}/{size}"
            return 206, body[start : end + 1], {"Content-Range": content_range}
    return 416, b"", {"Content-Range": f"bytes */{size}"}
