"""Why a featurebot could not get usable audio from a URL: one exception tree for the workers.

Every failure to fetch or decode a sound is a `FetchError`, so the bot runtime needs a single
`except FetchError as exc:` and then reads `exc.reason` (a human-readable sentence it may
publish), `exc.code` (a stable machine name) and `exc.retryable` (whether trying again later can
help: a 503 may, a 404 or an HTML page will not).

    FetchError
    ├── InvalidUrl          not http(s), no host, unparseable
    ├── BlockedAddress      the host is, or resolves to, an address the SSRF guard refuses
    ├── NetworkError        DNS failure, connection refused or reset, TLS failure
    │   └── FetchTimeout    connect/read timeout or the whole fetch took too long
    ├── HttpStatusError     a non-2xx answer (retryable for 5xx and 429)
    ├── TooManyRedirects    more hops than allowed, or a redirect loop
    ├── TooLarge            Content-Length or the bytes read exceed the limit
    ├── TooLong             the audio lasts longer than the limit (checked before decoding)
    └── DecodeError         the bytes are not audio we can decode (truncated, empty, unknown)
        └── NotAudio        the bytes are obviously something else (an HTML page)
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BlockedAddress",
    "DecodeError",
    "FetchError",
    "FetchTimeout",
    "HttpStatusError",
    "InvalidUrl",
    "NetworkError",
    "NotAudio",
    "TooLarge",
    "TooLong",
    "TooManyRedirects",
]


class FetchError(Exception):
    """Base class: the audio at a URL could not be fetched or decoded."""

    code: ClassVar[str] = "fetch_error"
    retryable_by_default: ClassVar[bool] = False

    def __init__(self, reason: str, *, retryable: bool | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = self.retryable_by_default if retryable is None else retryable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, retryable={self.retryable})"

    def __reduce__(self) -> tuple[object, ...]:
        # Pickle by state, not by constructor arguments: job queues (arq) pickle exceptions,
        # and subclasses take different keyword arguments.
        return (_restore, (type(self), self.reason, dict(self.__dict__)))


def _restore(cls: type[FetchError], reason: str, state: dict[str, object]) -> FetchError:
    error = cls.__new__(cls)
    Exception.__init__(error, reason)
    error.__dict__.update(state)
    return error


class InvalidUrl(FetchError):
    """The URL is not an absolute http(s) URL with a host."""

    code = "invalid_url"


class BlockedAddress(FetchError):
    """The host is, or resolves to, a private/loopback/metadata/... address (SSRF guard)."""

    code = "blocked_address"


class NetworkError(FetchError):
    """The server could not be reached or the connection broke; usually transient."""

    code = "network_error"
    retryable_by_default = True


class FetchTimeout(NetworkError):
    """Connecting or reading took longer than allowed."""

    code = "timeout"


class HttpStatusError(FetchError):
    """The server answered with a non-2xx status."""

    code = "http_status"

    def __init__(self, reason: str, *, status_code: int) -> None:
        super().__init__(reason, retryable=status_code >= 500 or status_code == 429)
        self.status_code = status_code


class TooManyRedirects(FetchError):
    """The redirect chain is longer than allowed or loops."""

    code = "too_many_redirects"


class TooLarge(FetchError):
    """The body is larger than the configured maximum."""

    code = "too_large"


class TooLong(FetchError):
    """The audio lasts longer than the configured maximum (checked before decoding)."""

    code = "too_long"


class DecodeError(FetchError):
    """The bytes could not be decoded as audio (empty, truncated, unsupported format)."""

    code = "decode_error"


class NotAudio(DecodeError):
    """The bytes are obviously not audio (an HTML or XML page)."""

    code = "not_audio"
