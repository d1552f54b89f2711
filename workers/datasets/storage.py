"""Where imported audio ends up, so that a collection on disk becomes playable.

- `--audio-base-url URL`: already hosted; a sound points at `URL/<path relative to DIR>`.
- `COCHLEA_S3_ENDPOINT` set: the dataset user's public-read, CORS-enabled bucket
  (`cochlea-<user>`, made like the bots' array buckets in `workers.sdk.arrays`).
- otherwise: files under `<data_dir>/files/datasets/<user>/`, which the API serves at
  `/files/datasets/<user>/...` with byte ranges and CORS.

A file already published with the same size is not sent again, so a re-run after a crash
costs a `stat` per file, not an upload.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from minio.error import S3Error

from api.settings import Settings
from workers.datasets.headers import MIMES
from workers.sdk.arrays import bucket_name, check_key
from workers.sdk.s3_arrays import S3ArrayStore

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def object_key(relative: str) -> str:
    """A store key for a file at `relative` (POSIX) in the source: each path segment with
    anything but [A-Za-z0-9._-] replaced, so it is a valid key and a clean URL."""
    parts = [_UNSAFE.sub("_", p).lstrip("._-") or "_" for p in relative.split("/") if p]
    return check_key("/".join(parts))


class AudioStore(Protocol):
    """Publishes a local file and answers the public URL it can be played at."""

    async def prepare(self) -> None: ...

    async def publish(self, path: Path, relative: str) -> str: ...

    def describe(self) -> str: ...


class HostedAudio:
    """The audio is already served at `base_url`, laid out as in the source directory."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def prepare(self) -> None:
        return None

    async def publish(self, path: Path, relative: str) -> str:
        return f"{self.base_url}/{quote(relative)}"

    def describe(self) -> str:
        return f"audio at {self.base_url}/"


class LocalAudioStore:
    """Copies into the directory the API serves at `<files_url>` (its `data_dir/files`)."""

    def __init__(self, *, root: Path, files_url: str, user: str) -> None:
        self.prefix = f"datasets/{object_key(user)}"
        self.root = root / self.prefix
        self.base_url = f"{files_url.rstrip('/')}/{self.prefix}"

    async def prepare(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def publish(self, path: Path, relative: str) -> str:
        key = object_key(relative)
        await asyncio.to_thread(_copy_once, path, self.root / key)
        return f"{self.base_url}/{quote(key)}"

    def describe(self) -> str:
        return f"audio copied to {self.root} (served at {self.base_url}/)"


def _copy_once(source: Path, target: Path) -> None:
    """Copy unless an equally long copy is there; via a temp file and rename (atomic)."""
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1024 * 1024)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class S3AudioStore:
    """Uploads into the dataset user's bucket, public-read with CORS (as the bots' buckets)."""

    def __init__(self, *, settings: Settings, user: str) -> None:
        self.arrays = S3ArrayStore(
            endpoint=settings.s3_endpoint or "",
            access_key=settings.s3_access_key or "",
            secret_key=settings.s3_secret_key or "",
            secure=settings.s3_secure,
            public_base_url=settings.s3_public_url,
        )
        self.bucket = bucket_name(bot=_UNSAFE.sub("-", user.replace("_", "-")).strip("-"))

    async def prepare(self) -> None:
        await self.arrays.ensure_bucket(self.bucket)

    async def publish(self, path: Path, relative: str) -> str:
        key = object_key(relative)
        await asyncio.to_thread(self._upload_once, path, key)
        return self.arrays.url(bucket=self.bucket, key=key)

    def _upload_once(self, path: Path, key: str) -> None:
        client = self.arrays.client
        try:
            if client.stat_object(self.bucket, key).size == path.stat().st_size:
                return
        except S3Error as exc:
            if exc.code not in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                raise
        mime = MIMES.get(path.suffix.lower(), "application/octet-stream")
        client.fput_object(self.bucket, key, str(path), content_type=mime)

    def describe(self) -> str:
        return f"audio uploaded to the bucket {self.bucket} at {self.arrays.public_base_url}"


def choose_store(
    *, settings: Settings, user: str, audio_base_url: str | None, files_url: str
) -> AudioStore:
    """`--audio-base-url` if given, else S3 when configured, else the API's local files."""
    if audio_base_url:
        return HostedAudio(audio_base_url)
    if settings.s3_endpoint:
        return S3AudioStore(settings=settings, user=user)
    return LocalAudioStore(root=Path(settings.data_dir) / "files", files_url=files_url, user=user)
