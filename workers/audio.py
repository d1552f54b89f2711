"""Getting a user's sound: fetch the bytes behind a URL safely, then decode them into samples.

`fetch_audio` treats every URL as hostile. Before each connection (the first request and every
redirect hop) it resolves the host and checks ALL its addresses with the SSRF guard, then
connects to a checked address itself: the request goes to `http(s)://<ip>:<port>/...` with the
original `Host` header and, for https, the original name as TLS SNI and certificate hostname
(httpcore's `sni_hostname` extension): no DNS lookup after the check, so no DNS rebinding.
`Connection: close` stops a pooled connection opened for one name serving another name on the
same address. Proxies are not used (they resolve names themselves): a caller passing its own
`client` should create it with `trust_env=False`. Error reasons omit URL queries and userinfo.

`decode_audio` tries libsndfile (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...) from memory and
falls back to audioread for other formats only when ffmpeg or GStreamer is installed.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
import tempfile
from collections.abc import Sequence

import httpx
import numpy as np
import soundfile as sf

from workers.errors import (
    DecodeError,
    FetchTimeout,
    HttpStatusError,
    InvalidUrl,
    NetworkError,
    NotAudio,
    TooLarge,
    TooManyRedirects,
)
from workers.ssrf import IPNetwork, resolve_and_check

__all__ = ["decode_audio", "duration_seconds", "fetch_audio"]

HEADERS = {
    "User-Agent": "Cochlea-featurebot/1",
    "Accept": "audio/*, application/ogg, application/octet-stream;q=0.9, */*;q=0.1",
    "Accept-Encoding": "identity",  # the byte limit counts decoded bytes anyway
    "Connection": "close",
}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SNIFF_BYTES = 1024
DEFAULT_TOTAL_TIMEOUT = 900.0  # s; a server dripping a byte per read timeout cannot stall us


async def fetch_audio(
    url: str,
    *,
    allow_networks: Sequence[IPNetwork],
    max_bytes: int,
    timeout: float = 30,  # noqa: ASYNC109 (per connect/read, not for the whole call)
    max_redirects: int = 5,
    client: httpx.AsyncClient | None = None,
    total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
) -> bytes:
    """Download the body behind an http(s) URL, guarding against SSRF and oversized bodies.

    `timeout` bounds connecting and each read; `total_timeout` bounds the whole fetch.
    Redirects (301/302/303/307/308) are followed by hand, at most `max_redirects` hops, each
    re-checked by the guard. Raises a `workers.errors.FetchError`: `InvalidUrl`,
    `BlockedAddress` (before any connection), `NetworkError`/`FetchTimeout`, `HttpStatusError`
    (retryable for 5xx and 429), `TooManyRedirects` (also for loops), `TooLarge` (from
    Content-Length up front, or as soon as the body passes `max_bytes`), `NotAudio` (an HTML
    or XML page). An empty body is returned as b"" (`decode_audio` refuses it).
    """
    own_client = client is None
    if client is None:
        client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
    try:
        async with asyncio.timeout(total_timeout):
            current = _parse_url(url)
            seen = {str(current)}
            for _ in range(max_redirects + 1):
                result = await _fetch_once(
                    client, current, allow=allow_networks, max_bytes=max_bytes, limit=timeout
                )
                if isinstance(result, bytes):
                    return result
                current = result
                if str(current) in seen:
                    raise TooManyRedirects(f"redirect loop back to {_shown(current)}")
                seen.add(str(current))
            raise TooManyRedirects(f"more than {max_redirects} redirects")
    except TimeoutError:
        raise FetchTimeout(f"the fetch took longer than {total_timeout} s") from None
    finally:
        if own_client:
            await client.aclose()


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


async def _fetch_once(
    client: httpx.AsyncClient,
    url: httpx.URL,
    *,
    allow: Sequence[IPNetwork],
    max_bytes: int,
    limit: float,
) -> bytes | httpx.URL:
    """One hop: the body, or where a redirect points. Tries each checked address in turn."""
    host, shown = url.raw_host.decode("ascii"), _shown(url)
    port = url.port or (443 if url.scheme == "https" else 80)
    headers = {"Host": url.netloc.decode("ascii"), **HEADERS}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    failure: Exception | None = None
    for address in await resolve_and_check(host, port, allow=allow):
        target = url.copy_with(host=str(address))
        request = client.build_request(
            "GET", target, headers=headers, extensions=extensions, timeout=httpx.Timeout(limit)
        )
        try:
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                return await _handle(response, url=url, max_bytes=max_bytes)
            finally:
                await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = exc  # nothing was sent: the next address is safe to try
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{shown} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise NetworkError(f"{shown}: {type(exc).__name__}: {exc}") from None
    if isinstance(failure, httpx.ConnectTimeout):
        raise FetchTimeout(f"connecting to {host}:{port} timed out")
    raise NetworkError(f"cannot connect to {host}:{port}: {failure}")


async def _handle(response: httpx.Response, *, url: httpx.URL, max_bytes: int) -> bytes | httpx.URL:
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
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        if size < SNIFF_BYTES <= size + len(chunk):
            _refuse_markup(b"".join([*chunks, chunk]), what=shown)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"{shown} sent more than the limit of {max_bytes} bytes")
    body = b"".join(chunks)
    if size < SNIFF_BYTES:
        _refuse_markup(body, what=shown)
    return body


def _refuse_markup(prefix: bytes, *, what: str) -> None:
    """NotAudio if the bytes start like an HTML/XML document (no audio format starts with '<')."""
    head = prefix[:SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<") and b"\x00" not in head:
        raise NotAudio(f"{what} is an HTML or XML page, not audio")


# libsndfile clamps a WAV/AIFF whose data chunk runs past the end of the file to what is
# there, logging "data : 176400 (should be 88178)"; sizes streaming writers leave unset
# (0xFFFFFFFF) are not truncation.
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
_PLACEHOLDER_SIZES = {0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFE}


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a whole audio file held in memory.

    Returns
    -------
    y : np.ndarray, float32, shape (channels, samples), C-contiguous
        Channels first (librosa's multichannel layout), nominally in [-1, 1]; mono files
        give shape (1, samples). Mix with `y.mean(axis=0)` or pass it to a feature as is.
    sr : int
        Sample rate in Hz.

    Raises `NotAudio` for an HTML/XML page and `DecodeError` for empty, truncated,
    sample-less, non-finite or undecodable data; never anything else for bad input.
    """
    if not data:
        raise DecodeError("the file is empty (0 bytes)")
    _refuse_markup(data, what="the file")
    try:
        return _decode_soundfile(data)
    except (sf.SoundFileError, RuntimeError, ValueError, EOFError) as exc:
        reason = getattr(exc, "error_string", None) or str(exc)
    return _decode_audioread(data, soundfile_reason=reason)


def _decode_soundfile(data: bytes) -> tuple[np.ndarray, int]:
    with sf.SoundFile(io.BytesIO(data)) as audio:
        declared, sr, log = audio.frames, audio.samplerate, audio.extra_info
        frames = audio.read(dtype="float32", always_2d=True)
    return _checked(frames.T, sr, declared=declared, log=log)


def _checked(y: np.ndarray, sr: int, *, declared: int, log: str = "") -> tuple[np.ndarray, int]:
    read = y.shape[1]
    if read == 0:
        raise DecodeError("the file contains no audio samples (empty or truncated)")
    for size, actual in _SHORT_CHUNK.findall(log):
        if int(size) not in _PLACEHOLDER_SIZES and int(size) > int(actual):
            raise DecodeError(f"truncated: header announces {size} audio bytes, {actual} remain")
    if declared > 0 and declared - read > max(declared // 100, 1):
        raise DecodeError(f"truncated: the header announces {declared} frames, {read} decoded")
    if not np.all(np.isfinite(y)):
        raise DecodeError("the file contains NaN or infinite samples")
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


@functools.cache
def _audioread_backends() -> tuple[type, ...]:
    """audioread decoders that add formats beyond libsndfile: ffmpeg, GStreamer (if present)."""
    from audioread import ffdec

    backends: list[type] = [ffdec.FFmpegAudioFile] if ffdec.available() else []
    try:
        from audioread import gstdec

        backends.append(gstdec.GstAudioFile)
    except Exception:  # PyGObject or GStreamer missing or broken
        pass
    return tuple(backends)


def _decode_audioread(data: bytes, *, soundfile_reason: str) -> tuple[np.ndarray, int]:
    import audioread

    backends = _audioread_backends()
    if not backends:
        raise DecodeError(
            f"unsupported or corrupt audio ({soundfile_reason}); other formats need ffmpeg "
            "or GStreamer, and neither is installed"
        )
    with tempfile.NamedTemporaryFile(suffix=".audio") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            with audioread.audio_open(tmp.name, backends=list(backends)) as audio:
                sr, channels, duration = int(audio.samplerate), int(audio.channels), audio.duration
                pcm = b"".join(audio)
        except (audioread.DecodeError, OSError, EOFError, ValueError) as exc:
            raise DecodeError(f"unsupported or corrupt audio ({soundfile_reason}; {exc})") from None
    if channels <= 0 or sr <= 0:
        raise DecodeError(f"unsupported or corrupt audio ({soundfile_reason}; no audio stream)")
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    usable = len(samples) // channels * channels
    declared = int((duration or 0) * sr)  # from the container header, as ffmpeg reports it
    return _checked(samples[:usable].reshape(-1, channels).T, sr, declared=declared)


def duration_seconds(data: bytes) -> float:
    """Duration of an audio file from its header (cheap: no full decode when libsndfile can).

    MP3 durations come from the Xing/LAME header or are estimated from the file size.
    Raises `DecodeError`/`NotAudio` like `decode_audio`.
    """
    try:
        info = sf.info(io.BytesIO(data))
        if info.samplerate > 0 and info.frames > 0:
            return float(info.frames) / float(info.samplerate)
    except (sf.SoundFileError, RuntimeError, ValueError, EOFError):
        pass
    y, sr = decode_audio(data)
    return y.shape[1] / sr
