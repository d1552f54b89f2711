"""Helpers of the browser tests: test media in the real formats, a second loopback HTTP server
for cross-origin and misbehaving array hosts, and the Chromium launch every module uses."""

from __future__ import annotations

import io
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from api.web import installed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (.ci/run installs it)"
    if not installed():
        return "the explorer's npm files are not installed (make install needs Node 20+ and npm)"
    return None


def tone_wav(*, seconds: float, sr: int = 22_050, hz: float = 440.0) -> bytes:
    """A mono 16-bit WAV of a sine with a short fade (libsndfile)."""
    t = np.arange(int(seconds * sr)) / sr
    y = 0.4 * np.sin(2 * np.pi * hz * t) * np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    buffer = io.BytesIO()
    sf.write(buffer, y.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def npy(array: np.ndarray) -> tuple[bytes, int]:
    """The .npy bytes of `array` and the offset of its data (after the header)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    data = buffer.getvalue()
    return data, len(data) - array.nbytes


def feature_metadata(
    array: np.ndarray, offset: int, *, frame_rate: float, axes: list[str]
) -> dict[str, Any]:
    """Metadata shaped as the featurebots publish it (workers.sdk.arrays.array_metadata)."""
    return {
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "axes": axes,
        "frameRate": frame_rate,
        "sampleRate": 22050,
        "dataOffset": offset,
        "params": {},
        "source": "test",
    }


@dataclass
class Served:
    body: bytes
    ranges: bool = True
    status: int = 200
    requests: list[str | None] = field(default_factory=list)
    bytes_sent: int = 0


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class HostServer:
    """A real HTTP server on 127.0.0.1 (another origin than the API) with CORS that exposes
    Content-Range. Each path honours single byte ranges, or ignores them (`ranges=False`), or
    answers a status; it counts the bytes it actually wrote per path."""

    def __init__(self) -> None:
        self.paths: dict[str, Served] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HostServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, path: str, body: bytes, **options: Any) -> str:
        self.paths[path] = Served(body=body, **options)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


def _handler(server: HostServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # a small send buffer, so `bytes_sent` is close to what the client really read
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)

        def do_GET(self) -> None:
            served = server.paths.get(self.path)
            cors = {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Expose-Headers": "Content-Range, Content-Length, Accept-Ranges",
            }
            if served is None:
                self._reply(404, b"not found", cors)
                return
            with server.lock:
                served.requests.append(self.headers.get("Range"))
            if served.status != 200:
                self._reply(served.status, b"no", cors, served)
                return
            body = served.body
            match = _RANGE.match(self.headers.get("Range", "")) if served.ranges else None
            if match and (match[1] or match[2]):
                size = len(body)
                start = int(match[1]) if match[1] else size - int(match[2])
                end = min(int(match[2]), size - 1) if match[1] and match[2] else size - 1
                headers = cors | {
                    "Content-Range": f"bytes {start}-{end}/{size}",
                    "Accept-Ranges": "bytes",
                }
                self._reply(206, body[start : end + 1], headers, served)
            else:
                self._reply(
                    200, body, cors | ({"Accept-Ranges": "bytes"} if served.ranges else {}), served
                )

        def _reply(
            self, status: int, body: bytes, headers: dict[str, str], served: Served | None = None
        ) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            view = memoryview(body)
            try:
                for first in range(0, len(body), 65536):
                    self.wfile.write(view[first : first + 65536])
                    if served is not None:
                        with server.lock:
                            served.bytes_sent += len(view[first : first + 65536])
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler
