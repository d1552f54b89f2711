"""A sound's duration from its file header (soundfile, else mutagen): never by decoding it.

Remote files are read through `RangeFile`, a seekable file over HTTP byte ranges, so that
reading a WAV or FLAC header costs one small ranged GET (an Ogg file's length also needs its
last page: one more), however long the recording.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Any

import httpx
import mutagen
import soundfile

BLOCK = 64 * 1024
MAX_WHOLE_BYTES = 64 * 1024 * 1024  # a server without Range support: read at most this much
MIMES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
}
AUDIO_SUFFIXES = frozenset(MIMES)


class UnreadableHeader(Exception):
    """The file is not audio we can read the length of (the message says why)."""


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of `url`, fetched in 64 KiB blocks with Range requests."""

    def __init__(self, http: httpx.Client, url: str) -> None:
        self.http = http
        self.url = url
        self.position = 0
        self.blocks: dict[int, bytes] = {}
        status, headers, body = self._get(0)
        if status == 206:
            total = headers.get("content-range", "").rpartition("/")[2]
            if not total.isdigit():
                raise UnreadableHeader(f"{url}: a 206 answer without a total size")
            self.size = int(total)
            self.blocks[0] = body
        elif status == 200:  # no Range support: the whole body, up to a limit
            self.size = len(body)
            self.blocks = {i: body[i : i + BLOCK] for i in range(0, max(len(body), 1), BLOCK)}
        else:
            raise UnreadableHeader(f"{url} answered HTTP {status}")

    def _get(self, start: int) -> tuple[int, httpx.Headers, bytes]:
        """A ranged GET whose body is read up to the limit only (a server ignoring Range
        would otherwise send the whole file)."""
        headers = {"Range": f"bytes={start}-{start + BLOCK - 1}"}
        try:
            with self.http.stream("GET", self.url, headers=headers) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_WHOLE_BYTES:
                        raise UnreadableHeader(f"{self.url}: no byte-range support and over 64 MiB")
                return response.status_code, response.headers, bytes(body)
        except httpx.HTTPError as exc:
            raise UnreadableHeader(f"{self.url}: {type(exc).__name__}: {exc}") from exc

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def _block(self, index: int) -> bytes:
        if index not in self.blocks:
            status, _, body = self._get(index * BLOCK)
            if status != 206:
                raise OSError(f"{self.url}: ranged read answered HTTP {status}")
            self.blocks[index] = body
        return self.blocks[index]

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self.size - self.position)
        done = 0
        while done < wanted:
            index, offset = divmod(self.position, BLOCK)
            chunk = self._block(index)[offset : offset + wanted - done]
            if not chunk:
                break
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
            self.position += len(chunk)
        return done


def duration_of(file: str | Path | IO[bytes], *, name: str) -> float:
    """Seconds of audio according to the header: soundfile first (WAV, FLAC, Ogg, AIFF), then
    mutagen (MP3 frames' Xing/VBRI headers or bitrate; most other tagged formats)."""
    problems = []
    prefer_mutagen = name.lower().endswith(".mp3")  # libsndfile may scan a whole MP3
    for reader in (_mutagen, _soundfile) if prefer_mutagen else (_soundfile, _mutagen):
        try:
            if not isinstance(file, (str, Path)):
                file.seek(0)
            seconds = reader(file)
        except Exception as exc:  # each library has its own zoo of exceptions
            problems.append(f"{reader.__name__.strip('_')}: {exc}".strip())
            continue
        if seconds > 0:
            return seconds
        problems.append(f"{reader.__name__.strip('_')}: no audio frames")
    raise UnreadableHeader("cannot read the audio header (" + "; ".join(problems) + ")")


def _soundfile(file: str | Path | IO[bytes]) -> float:
    info = soundfile.info(file)
    return float(info.frames) / float(info.samplerate)


def _mutagen(file: str | Path | IO[bytes]) -> float:
    found = mutagen.File(file)
    if found is None or found.info is None:
        raise UnreadableHeader("not a format mutagen knows")
    return float(found.info.length)


def remote_duration(http: httpx.Client, url: str) -> float:
    """Duration of the audio at `url`, reading only the bytes its header needs."""
    name = httpx.URL(url).path
    return duration_of(io.BufferedReader(RangeFile(http, url), BLOCK), name=name)
