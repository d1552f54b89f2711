"""Array storage: featurebot outputs as .npy files that any client can slice over HTTP.

Arrays are NumPy's own .npy format (version 1.0, C order, little-endian): `numpy.load` reads
one whole, and any client fetches frames [i, j) with ONE Range request, bytes
`dataOffset + i*rowBytes` to `dataOffset + j*rowBytes - 1` (rowBytes = item size times the
shape after the first axis). One bucket per bot (`cochlea-stft`), one object per source sound
(`<source-id>.npy`): a derived bot (mel) finds the stft array by name and reads it from the
store directly, not through the public URL (which a worker may not reach, and which the SSRF
guard rightly refuses when it points at loopback).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast
from urllib.parse import quote

import numpy as np
from minio import Minio
from minio.error import S3Error

BUCKET_PREFIX = "cochlea-"
NPY_VERSION = (1, 0)
CONTENT_TYPE = "application/octet-stream"
logger = logging.getLogger(__name__)

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class ArrayNotFound(LookupError):
    """No object under that bucket and key."""


class BucketNotFound(LookupError):
    """The bucket does not exist: call `ensure_bucket` first."""


def check_bucket(bucket: str) -> str:
    """Return `bucket` if it is a valid S3 bucket name we use (lowercase, digits, hyphens)."""
    if not _BUCKET.match(bucket) or "--" in bucket:
        raise ValueError(f"invalid bucket name {bucket!r}")
    return bucket


def check_key(key: str) -> str:
    """Return `key` if safe: `/`-separated segments of [A-Za-z0-9._-] starting alphanumeric
    (so no `..`, hidden or absolute path can escape `LocalArrayStore`'s directory)."""
    if len(key) > 512 or not _KEY.match(key):
        raise ValueError(f"invalid object key {key!r}")
    return key


def bucket_name(*, bot: str) -> str:
    """The bucket holding a bot's arrays: `cochlea-<bot>`."""
    return check_bucket(BUCKET_PREFIX + bot.lower())


def object_key(*, source_id: object) -> str:
    """The key of the array computed from one source sound: `<source-id>.npy`."""
    return check_key(f"{source_id}.npy")


def _storable(array: np.ndarray) -> np.ndarray:
    """C-contiguous, little-endian, non-object: bytes any client can read without numpy."""
    stored = np.ascontiguousarray(array)
    if stored.dtype.hasobject:
        raise ValueError("object arrays cannot be stored")
    if stored.dtype.byteorder == ">":
        stored = stored.astype(stored.dtype.newbyteorder("<"))
    return stored


def npy_parts(array: np.ndarray) -> tuple[bytes, memoryview]:
    """The .npy (version 1.0) file for `array` as two buffers, header and data, without
    copying the data: a store writes them one after the other (a 300 s STFT is 53 MB)."""
    stored = _storable(array)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(stored))
    return header.getvalue(), stored.reshape(-1).view(np.uint8).data


def npy_bytes(array: np.ndarray) -> tuple[bytes, int]:
    """The .npy (version 1.0) file for `array` and the byte offset where its data starts.

    The array is written C-order, little-endian; data_offset is the header length (a multiple
    of 64), so row i of a (rows, ...) array starts at data_offset + i * row_bytes.
    """
    header, data = npy_parts(array)
    return b"".join([header, data]), len(header)


def load_npy(data: bytes) -> np.ndarray:
    """Read .npy bytes (no pickles): the inverse of `npy_bytes`."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def array_metadata(
    *,
    array: np.ndarray,
    data_offset: int,
    axes: Sequence[str],
    frame_rate: float | None,
    sample_rate: int | None,
    params: Mapping[str, Any],
    source: Any,
) -> dict[str, Any]:
    """What a bot publishes about a stored array (JSON-able). `dtype` is the stored bytes'
    array-protocol string ("<f4" = little-endian float32), `axes` names each dimension
    (["time", "frequency"]), `frameRate` is rows per second (None without a time axis),
    `versions` the libraries that computed it, `source` whatever identifies the input."""
    stored_dtype = _storable(np.empty(0, dtype=array.dtype)).dtype
    if len(axes) != array.ndim:
        raise ValueError(f"{len(axes)} axis names for a {array.ndim}-dimensional array")
    return {
        "dtype": stored_dtype.str,
        "shape": [int(n) for n in array.shape],
        "axes": [str(a) for a in axes],
        "frameRate": None if frame_rate is None else float(frame_rate),
        "sampleRate": None if sample_rate is None else int(sample_rate),
        "dataOffset": int(data_offset),
        "params": dict(params),
        "versions": dict(_versions()),
        "source": source,
    }


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    """The computing libraries' versions (reading package metadata costs ~1 ms each)."""
    return tuple((name, version(name)) for name in ("librosa", "numpy", "soundfile"))


class ArrayStore(Protocol):
    """Where bots keep arrays: public, byte-range readable, one bucket per bot.

    `ensure_bucket` creates a bucket if needed, publicly readable (GET/HEAD/Range, CORS);
    `put` stores or replaces an object (`BucketNotFound` without `ensure_bucket`) and returns
    its public URL; `get` reads an object directly from the store (`ArrayNotFound`); `url` is
    an object's public URL whether or not it exists yet.

    `stage` and `commit` are `put` in two steps, so a computing process writes the bytes (no
    array crosses processes) and the waiting for durability happens elsewhere: `stage` is
    blocking and writes `parts` one after the other; `commit`, awaited in the worker's event
    loop, makes the object visible and returns its URL. A staged object that is never
    committed is not visible (the local store leaves a hidden temporary file behind).
    """

    async def ensure_bucket(self, bucket: str) -> None: ...

    async def put(self, *, bucket: str, key: str, data: bytes) -> str: ...

    async def get(self, *, bucket: str, key: str) -> bytes: ...

    def url(self, *, bucket: str, key: str) -> str: ...

    def stage(self, *, bucket: str, key: str, parts: Sequence[bytes | memoryview]) -> Staged: ...

    async def commit(self, staged: Staged) -> str: ...


@dataclass(frozen=True)
class Staged:
    """An object `stage` wrote: its public URL, and for the local store the temporary file that
    `commit` makes durable and renames to `final` (None when `stage` stored it already)."""

    url: str
    temp: str | None = None
    final: str | None = None


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
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
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
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
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


# minio-py (7.2) has no bucket-CORS API: PutBucketCors goes through the client's own signed
# request method (tests read it back). Community MinIO answers NotImplemented; it allows all.
CORS_CONFIGURATION = (
    '<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule>'
    "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
    "<AllowedMethod>HEAD</AllowedMethod><AllowedHeader>Range</AllowedHeader>"
    "<ExposeHeader>Content-Range</ExposeHeader><ExposeHeader>Content-Length</ExposeHeader>"
    "<ExposeHeader>Accept-Ranges</ExposeHeader><ExposeHeader>ETag</ExposeHeader>"
    "<MaxAgeSeconds>86400</MaxAgeSeconds></CORSRule></CORSConfiguration>"
)


def public_read_policy(bucket: str) -> dict[str, Any]:
    """Bucket policy: anyone may GET objects (no listing, no writes)."""
    resource = f"arn:aws:s3:::{check_bucket(bucket)}/*"
    statement = {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"]}
    return {"Version": "2012-10-17", "Statement": [{**statement, "Resource": [resource]}]}


class S3ArrayStore:
    """Arrays in an S3-compatible server (MinIO, AWS, ...) via the blocking minio client, run
    in worker threads. URLs are `<scheme>://<endpoint>/<bucket>/<key>` (path style) unless
    `public_base_url` says where clients reach the server (a proxy or CDN)."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        secure: bool = False,
        public_base_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self._config = (endpoint, access_key, secret_key, secure, public_base_url, region)
        self.client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region
        )
        scheme = "https" if secure else "http"
        self.public_base_url = (public_base_url or f"{scheme}://{endpoint}").rstrip("/")

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to a worker's computing processes by its configuration: each process then
        # builds one store (and one connection pool) for all the jobs it runs.
        return (_shared_s3_store, self._config)

    def url(self, *, bucket: str, key: str) -> str:
        return f"{self.public_base_url}/{check_bucket(bucket)}/{quote(check_key(key))}"

    async def ensure_bucket(self, bucket: str) -> None:
        await asyncio.to_thread(self._ensure_bucket, check_bucket(bucket))

    def _ensure_bucket(self, bucket: str) -> None:
        try:
            if not self.client.bucket_exists(bucket):
                self.client.make_bucket(bucket)
        except S3Error as exc:
            if exc.code != "BucketAlreadyOwnedByYou":  # another worker won the race
                raise
        self.client.set_bucket_policy(bucket, json.dumps(public_read_policy(bucket)))
        self._put_cors(bucket)

    def _put_cors(self, bucket: str) -> None:
        body = CORS_CONFIGURATION.encode()
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        try:
            self.client._execute(
                "PUT", bucket, body=body, headers={"Content-MD5": md5}, query_params={"cors": ""}
            )
        except S3Error as exc:
            if exc.code != "NotImplemented":
                raise
            logger.info("%s: the S3 server has no bucket CORS (MinIO allows all origins)", bucket)

    async def put(self, *, bucket: str, key: str, data: bytes) -> str:
        url = self.url(bucket=bucket, key=key)
        body = io.BytesIO(data)
        try:
            await asyncio.to_thread(
                self.client.put_object, bucket, key, body, len(data), content_type=CONTENT_TYPE
            )
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                raise BucketNotFound(f"bucket {bucket!r} does not exist") from None
            raise
        return url

    def stage(self, *, bucket: str, key: str, parts: Sequence[bytes | memoryview]) -> Staged:
        """Upload at once (S3 makes an object visible whole); `commit` has nothing left to do."""
        url = self.url(bucket=bucket, key=key)
        body = _PartsReader(parts)
        try:
            self.client.put_object(
                bucket, key, cast(BinaryIO, body), body.size, content_type=CONTENT_TYPE
            )
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                raise BucketNotFound(f"bucket {bucket!r} does not exist") from None
            raise
        return Staged(url=url)

    async def commit(self, staged: Staged) -> str:
        return staged.url

    async def get(self, *, bucket: str, key: str) -> bytes:
        self.url(bucket=bucket, key=key)  # validates both names
        try:
            return await asyncio.to_thread(self._read, bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise ArrayNotFound(f"no object {key!r} in bucket {bucket!r}") from None
            raise

    def _read(self, bucket: str, key: str) -> bytes:
        response = self.client.get_object(bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()


class _PartsReader(io.RawIOBase):
    """Buffers read one after the other as one stream (minio reads its body in parts)."""

    def __init__(self, parts: Sequence[bytes | memoryview]) -> None:
        self._parts = [memoryview(part).cast("B") for part in parts]
        self.size = sum(len(part) for part in self._parts)
        self._index = self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        while self._index < len(self._parts):
            part = self._parts[self._index]
            n = min(len(target), len(part) - self._offset)
            if n:
                target[:n] = part[self._offset : self._offset + n]
                self._offset += n
                return n
            self._index, self._offset = self._index + 1, 0
        return 0


@functools.lru_cache(maxsize=8)
def _shared_s3_store(
    endpoint: str,
    access_key: str,
    secret_key: str,
    secure: bool,
    public_base_url: str | None,
    region: str | None,
) -> S3ArrayStore:
    """The process's store for one configuration (what an unpickled `S3ArrayStore` is)."""
    return S3ArrayStore(
        endpoint=endpoint,
        access_key=access_key,
        secret_key=secret_key,
        secure=secure,
        public_base_url=public_base_url,
        region=region,
    )
