"""Arrays as files under a directory, which the API serves at `/files` (206, CORS): the
store of `cochlea up` and of a single machine. Writes are atomic (a hidden temporary file
beside the object, renamed into place), so a reader never sees a partial array; a worker
killed between `stage` and `commit` leaves its temporary file, which `sweep` removes.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from workers.sdk.arrays import ArrayNotFound, BucketNotFound, Staged, check_bucket, check_key

TEMP_PREFIX, TEMP_SUFFIX = ".tmp-", ".part"
STALE_SECONDS = 3600.0
"""Age after which a temporary file is a leftover: a staged array is committed within seconds."""


class LocalArrayStore:
    """Arrays as files `root/<bucket>/<key>`, served by the API at `public_base_url`."""

    def __init__(self, *, root: Path, public_base_url: str) -> None:
        self.root = Path(root)
        self.public_base_url = public_base_url.rstrip("/")

    def url(self, *, bucket: str, key: str) -> str:
        return f"{self.public_base_url}/{check_bucket(bucket)}/{quote(check_key(key))}"

    def path(self, *, bucket: str, key: str) -> Path:
        """The file an object lives in."""
        return self.root / check_bucket(bucket) / check_key(key)

    async def ensure_bucket(self, bucket: str) -> None:
        directory = self.root / check_bucket(bucket)
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)

    async def put(self, *, bucket: str, key: str, data: bytes) -> str:
        path = self.path(bucket=bucket, key=key)
        if not (self.root / bucket).is_dir():
            raise BucketNotFound(f"bucket {bucket!r} does not exist under {self.root}")
        await asyncio.to_thread(_write_atomically, path, data)
        return self.url(bucket=bucket, key=key)

    def stage(self, *, bucket: str, key: str, parts: Sequence[bytes | memoryview]) -> Staged:
        """Write `parts` to a hidden temporary file beside the object, without waiting for the
        disk: `commit` does that (fsync) and renames it into place."""
        path = self.path(bucket=bucket, key=key)
        if not (self.root / bucket).is_dir():
            raise BucketNotFound(f"bucket {bucket!r} does not exist under {self.root}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as file:
                for part in parts:
                    file.write(part)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return Staged(url=self.url(bucket=bucket, key=key), temp=temp, final=str(path))

    async def commit(self, staged: Staged) -> str:
        if staged.temp is not None and staged.final is not None:
            await asyncio.to_thread(_make_durable, Path(staged.temp), Path(staged.final))
        return staged.url

    async def sweep(self, *, older_than_seconds: float = STALE_SECONDS) -> int:
        """Remove temporary files left by writers killed mid-write (SIGKILL, OOM) that are
        older than `older_than_seconds` (a live writer's file is seconds old); how many."""
        return await asyncio.to_thread(_sweep, self.root, time.time() - older_than_seconds)

    async def get(self, *, bucket: str, key: str) -> bytes:
        path = self.path(bucket=bucket, key=key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ArrayNotFound(f"no object {key!r} in bucket {bucket!r}") from None


def _make_durable(temp: Path, path: Path) -> None:
    """fsync a staged file, make it world-readable and rename it over `path` (atomically)."""
    try:
        with temp.open("rb") as file:
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a hidden temp file in the same directory and rename: readers never see a
    partial file (a reader mid-download keeps the old inode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _sweep(root: Path, before: float) -> int:
    removed = 0
    if not root.is_dir():
        return 0
    for temp in root.rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        try:
            if temp.is_file() and temp.stat().st_mtime < before:
                temp.unlink()
                removed += 1
        except FileNotFoundError:  # committed or removed meanwhile
            continue
    return removed
