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

import functools
import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Protocol

import numpy as np

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
