"""Arrays in an S3-compatible server (MinIO, AWS, ...): public-read buckets with CORS for
byte-range reads from browsers, objects uploaded whole (S3 makes them visible at once)."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import json
import logging
from collections.abc import Sequence
from typing import Any, BinaryIO, cast
from urllib.parse import quote

from minio import Minio
from minio.error import S3Error

from workers.sdk.arrays import (
    CONTENT_TYPE,
    ArrayNotFound,
    BucketNotFound,
    Staged,
    check_bucket,
    check_key,
)

logger = logging.getLogger(__name__)


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
