"""Getting a user's sound: fetch the bytes behind a URL safely (decoding is `workers.decode`).

`fetch_audio` treats every URL as hostile. Before each connection (the first request and every
redirect hop) it resolves the host and checks ALL its addresses with the SSRF guard, then
connects to a checked address itself: the request goes to `http(s)://<ip>:<port>/...` with the
original `Host` header and, for https, the original name as TLS SNI and certificate hostname
(httpcore's `sni_hostname` extension): no DNS lookup after the check, so no DNS rebinding.
A client's pool keys connections by that IP, so a connection opened (and its certificate
checked) for one name could serve another name on the same address: with a caller's `client`
or none, every request says `Connection: close`. `FetchClients` keeps connections alive
safely instead: one client per origin asked for, so a pooled connection only ever serves the
name it was opened for (a job process reuses them across jobs). Proxies are not used (they
resolve names themselves): a caller passing its own `client` should create it with
`trust_env=False`. Error reasons omit URL queries and userinfo.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import BinaryIO

import httpx

from workers.decode import (
    SNIFF_BYTES,
    decode_audio,
    decode_mono,
    duration_seconds,
    refuse_markup,
)
from workers.errors import (
    FetchTimeout,
    HttpStatusError,
    InvalidUrl,
    NetworkError,
    TooLarge,
    TooManyRedirects,
)
from workers.ssrf import IPNetwork, resolve_and_check

__all__ = ["FetchClients", "decode_audio", "decode_mono", "duration_seconds", "fetch_audio"]

KEEP_ALIVE_HEADERS = {
    "User-Agent": "Cochlea-featurebot/1",
    "Accept": "audio/*, application/ogg, application/octet-stream;q=0.9, */*;q=0.1",
    "Accept-Encoding": "identity",  # the byte limit counts decoded bytes anyway
}
HEADERS = {**KEEP_ALIVE_HEADERS, "Connection": "close"}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_TOTAL_TIMEOUT = 900.0  # s; a server dripping a byte per read timeout cannot stall us


async def fetch_audio(
    url: str,
    *,
    allow_networks: Sequence[IPNetwork],
    max_bytes: int,
    timeout: float = 30,  # noqa: ASYNC109 (per connect/read, not for the whole call)
    max_redirects: int = 5,
    client: httpx.Client | None = None,
    total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
    clients: FetchClients | None = None,
    into: BinaryIO | None = None,
) -> bytes:
    """Download the body behind an http(s) URL, guarding against SSRF and oversized bodies.

    `timeout` bounds connecting and each read; `total_timeout` bounds the whole fetch.
    Redirects (301/302/303/307/308) are followed by hand, at most `max_redirects` hops, each
    re-checked by the guard. Raises a `workers.errors.FetchError`: `InvalidUrl`,
    `BlockedAddress` (before any connection), `NetworkError`/`FetchTimeout`, `HttpStatusError`
    (retryable for 5xx and 429), `TooManyRedirects` (also for loops), `TooLarge` (from
    Content-Length up front, or as soon as the body passes `max_bytes`), `NotAudio` (an HTML
    or XML page). An empty body is returned as b"" (`decode_audio` refuses it).
    With `clients` (and no `client`), each hop uses that origin's keep-alive client.
    With `into`, the body is written to that file as it arrives and b"" is returned: the
    worker spools a sound to a file its computing process decodes in place, so the body is
    never joined in memory nor pickled across processes (a 300 s WAV is 53 MB).

    The fetch runs in a thread, with httpx's blocking client: a 1.76 MB WAV from a loopback
    server took 2.7-4.0 ms of CPU against 4.9-5.1 ms through the async stack (whose anyio and
    httpcore machinery runs per chunk received), and none of it, nor the spool writes, on the
    event loop. Cancelling the call stops the thread at its next read (within `timeout`):
    it writes nothing more and hangs up.
    """
    budget = _Budget(total_timeout)
    fetch = functools.partial(
        _fetch, url, allow=allow_networks, max_bytes=max_bytes, limit=timeout,
        max_redirects=max_redirects, client=client, clients=clients, into=into, budget=budget,
    )  # fmt: skip
    try:
        return await asyncio.to_thread(fetch)
    except BaseException:
        budget.abandoned.set()  # cancelled: the thread stops before it writes another chunk
        raise


class _Budget:
    """The whole fetch's deadline, and whether its caller has gone (checked between reads)."""

    def __init__(self, total: float | None) -> None:
        self.total = total
        self.deadline = None if total is None else time.monotonic() + total
        self.abandoned = threading.Event()

    def limit(self, per_read: float) -> float:
        """The timeout of the next connect or read: `per_read`, or less near the deadline."""
        self.check()
        return per_read if self.deadline is None else min(per_read, self._left())

    def check(self) -> None:
        if self.abandoned.is_set():
            raise FetchTimeout("the fetch was abandoned by its caller")
        if self.deadline is not None and self._left() <= 0:
            raise FetchTimeout(f"the fetch took longer than {self.total} s")

    def _left(self) -> float:
        assert self.deadline is not None
        return self.deadline - time.monotonic()


def _fetch(
    url: str,
    *,
    allow: Sequence[IPNetwork],
    max_bytes: int,
    limit: float,
    max_redirects: int,
    client: httpx.Client | None,
    clients: FetchClients | None,
    into: BinaryIO | None,
    budget: _Budget,
) -> bytes:
    """`fetch_audio`'s work, blocking: hop by hop until a body."""
    own_client = client is None and clients is None
    if client is None and clients is None:
        client = _new_client()
    try:
        current = _parse_url(url)
        seen = {str(current)}
        for _ in range(max_redirects + 1):
            if client is not None:
                hop, headers = client, HEADERS
            else:
                assert clients is not None
                hop, headers = clients.for_url(current), KEEP_ALIVE_HEADERS
            result = _fetch_once(
                hop, current, allow=allow, max_bytes=max_bytes, limit=limit, headers=headers,
                into=into, budget=budget,
            )  # fmt: skip
            if isinstance(result, bytes):
                return result
            current = result
            if str(current) in seen:
                raise TooManyRedirects(f"redirect loop back to {_shown(current)}")
            seen.add(str(current))
        raise TooManyRedirects(f"more than {max_redirects} redirects")
    finally:
        if own_client and client is not None:
            client.close()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verification (certifi), built once: loading it takes ~15 ms."""
    return httpx.create_ssl_context(trust_env=False)


def _new_client() -> httpx.Client:
    return httpx.Client(trust_env=False, follow_redirects=False, verify=_ssl_context())


class FetchClients:
    """Keep-alive clients for `fetch_audio`, one per origin (scheme, host, port) asked for, the
    `max_origins` most recently used kept. Shared by the fetch threads; `close` at the end."""

    def __init__(self, *, max_origins: int = 16) -> None:
        self.max_origins = max_origins
        self._clients: OrderedDict[tuple[str, str, int | None], httpx.Client] = OrderedDict()
        self._lock = threading.Lock()

    def for_url(self, url: httpx.URL) -> httpx.Client:
        """The client for `url`'s origin (made on first use; the oldest closed past the cap)."""
        origin = (url.scheme, url.host, url.port)
        with self._lock:
            client = self._clients.pop(origin, None) or _new_client()
            self._clients[origin] = client
            while len(self._clients) > self.max_origins:
                self._clients.popitem(last=False)[1].close()
        return client

    def close(self) -> None:
        with self._lock:
            while self._clients:
                self._clients.popitem()[1].close()


def _shown(url: httpx.URL) -> str:
    """The URL for error messages: no credentials, no query (it may hold a signed token)."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


def _parse_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidUrl(f"invalid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidUrl(f"only http and https URLs can be fetched, not {parsed.scheme!r}")
    if not parsed.host:
        raise InvalidUrl("the URL has no host")
    return parsed


def _fetch_once(
    client: httpx.Client,
    url: httpx.URL,
    *,
    allow: Sequence[IPNetwork],
    max_bytes: int,
    limit: float,
    headers: dict[str, str],
    into: BinaryIO | None,
    budget: _Budget,
) -> bytes | httpx.URL:
    """One hop: the body, or where a redirect points. Tries each checked address in turn."""
    host, shown = url.raw_host.decode("ascii"), _shown(url)
    port = url.port or (443 if url.scheme == "https" else 80)
    headers = {"Host": url.netloc.decode("ascii"), **headers}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    failure: Exception | None = None
    for address in resolve_and_check(host, port, allow=allow):
        target = url.copy_with(host=str(address))
        request = client.build_request(
            "GET", target, headers=headers, extensions=extensions,
            timeout=httpx.Timeout(budget.limit(limit)),
        )  # fmt: skip
        try:
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                return _handle(response, url=url, max_bytes=max_bytes, into=into, budget=budget)
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = exc  # nothing was sent: the next address is safe to try
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{shown} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise NetworkError(f"{shown}: {type(exc).__name__}: {exc}") from None
    if isinstance(failure, httpx.ConnectTimeout):
        raise FetchTimeout(f"connecting to {host}:{port} timed out")
    raise NetworkError(f"cannot connect to {host}:{port}: {failure}")


def _handle(
    response: httpx.Response,
    *,
    url: httpx.URL,
    max_bytes: int,
    into: BinaryIO | None,
    budget: _Budget,
) -> bytes | httpx.URL:
    status, shown = response.status_code, _shown(url)
    if status in REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location:
            raise HttpStatusError(
                f"{shown} answered {status} without a Location", status_code=status
            )
        try:
            return _parse_url(url.join(location))
        except httpx.InvalidURL as exc:
            raise InvalidUrl(f"{shown} redirects to an invalid URL: {exc}") from None
    if not response.is_success:
        reason = f"{shown} answered HTTP {status} {response.reason_phrase}"
        raise HttpStatusError(reason, status_code=status)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"{shown} is {declared} bytes, more than the limit of {max_bytes}")
    chunks: list[bytes] = []  # all of them, or (with `into`) the first SNIFF_BYTES
    size = 0
    for chunk in response.iter_bytes():
        budget.check()
        if size < SNIFF_BYTES <= size + len(chunk):
            refuse_markup(b"".join([*chunks, chunk]), what=shown)
        if into is None or size < SNIFF_BYTES:
            chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"{shown} sent more than the limit of {max_bytes} bytes")
        if into is not None:
            into.write(chunk)
    body = b"".join(chunks)
    if size < SNIFF_BYTES:
        refuse_markup(body, what=shown)
    return body if into is None else b""
