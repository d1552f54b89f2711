"""Read a published `.npy` array over HTTP: whole, or frames [i, j) with ONE Range request.

An annotation's `dataUrl` names the file and its `metadata` says how it is laid out
(`dtype`, `shape`, `dataOffset`: see `workers.sdk.arrays`). Frames i..j-1 of a (rows, ...)
array are the bytes `dataOffset + i*rowBytes` .. `dataOffset + j*rowBytes - 1`. A whole read
checks the file's own .npy header against the metadata; a Range read checks the size of the
whole file (`Content-Range: bytes a-b/total`) against it, which catches a truncated file and a
shape or dtype that does not match the bytes, without a second request.

Every problem is an `ArrayReadError` with a stable `code` and `retryable`, so a follower can
record the input as skipped (`missing`, `truncated`, wrong `dtype` or `shape`) or retry later
(`unavailable`), and never crash on someone else's bad array.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import numpy as np

__all__ = [
    "ArrayDtypeMismatch",
    "ArrayLayout",
    "ArrayMissing",
    "ArrayReadError",
    "ArrayShapeMismatch",
    "ArrayTruncated",
    "ArrayUnavailable",
    "BadArrayMetadata",
    "read_array",
]

MAGIC = b"\x93NUMPY"


class ArrayReadError(Exception):
    """Base class: the array behind a dataUrl could not be read as its metadata says."""

    code: ClassVar[str] = "array_error"
    retryable: ClassVar[bool] = False


class ArrayMissing(ArrayReadError):
    """The URL answers 404/403/410: there is no such object (or it is not public)."""

    code = "array_missing"


class ArrayUnavailable(ArrayReadError):
    """Network error, timeout or 5xx: worth trying again later."""

    code = "array_unavailable"
    retryable = True


class ArrayTruncated(ArrayReadError):
    """The file holds fewer bytes than its metadata promises."""

    code = "array_truncated"


class ArrayDtypeMismatch(ArrayReadError):
    """The file's dtype is not the metadata's, or not a plain little-endian number type."""

    code = "array_dtype"


class ArrayShapeMismatch(ArrayReadError):
    """The file's shape (or size) is not the metadata's."""

    code = "array_shape"


class BadArrayMetadata(ArrayReadError):
    """The metadata lacks `dtype`/`shape`/`dataOffset` or they make no sense."""

    code = "array_metadata"


@dataclass(frozen=True, slots=True)
class ArrayLayout:
    """Where an array's bytes are, from an annotation's metadata."""

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    data_offset: int

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> ArrayLayout:
        if not isinstance(metadata, Mapping):
            raise BadArrayMetadata("the annotation has no metadata describing its array")
        try:
            dtype = np.dtype(str(metadata["dtype"]))
            shape = tuple(int(n) for n in metadata["shape"])
            offset = int(metadata["dataOffset"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadArrayMetadata(f"metadata needs dtype, shape and dataOffset: {exc}") from None
        if dtype.hasobject or dtype.byteorder == ">" or dtype.kind not in "biuf":
            raise ArrayDtypeMismatch(f"dtype {dtype.str!r} is not a little-endian number type")
        if any(n < 0 for n in shape) or offset < 10:
            raise BadArrayMetadata(f"impossible shape {list(shape)} or dataOffset {offset}")
        return cls(dtype=dtype, shape=shape, data_offset=offset)

    @property
    def row_bytes(self) -> int:
        return self.dtype.itemsize * math.prod(self.shape[1:])

    @property
    def file_bytes(self) -> int:
        return self.data_offset + self.dtype.itemsize * math.prod(self.shape)


async def read_array(
    url: str,
    metadata: Mapping[str, Any] | None,
    *,
    frames: tuple[int, int] | None = None,
    check_header: bool = False,
    client: httpx.AsyncClient | None = None,
) -> np.ndarray:
    """The array at `url` (whole), or its frames [i, j) along the first axis (clipped to the
    array's length), read with one GET. A whole read always checks the file's header; a
    frames read checks the file's size, and with `check_header` also its header, by asking
    for bytes 0 to the end of frame j (one request still, but frames [0, i) come along).
    The array is read-only (a view of the bytes received). Raises an `ArrayReadError`."""
    layout = ArrayLayout.from_metadata(metadata)
    headers: dict[str, str] = {}
    span = (0, 0, 0)  # first row, rows, first byte asked for
    if frames is not None:
        if not layout.shape:
            raise BadArrayMetadata("a 0-dimensional array has no frames")
        if frames[0] < 0 or frames[1] < frames[0]:
            raise ValueError(f"frames must be 0 <= i <= j, not {frames}")
        start, stop = frames[0], min(frames[1], layout.shape[0])
        rows = max(0, stop - start)
        if rows == 0 or layout.row_bytes == 0:
            return np.empty((0, *layout.shape[1:]), dtype=layout.dtype)
        first = layout.data_offset + start * layout.row_bytes
        begin = 0 if check_header else first
        headers["Range"] = f"bytes={begin}-{first + rows * layout.row_bytes - 1}"
        span = (start, rows, begin)
    owned = client is None
    http = client or httpx.AsyncClient(timeout=60, trust_env=False, follow_redirects=True)
    try:
        response = await http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise ArrayUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc
    finally:
        if owned:
            await http.aclose()
    _check_status(url, response)
    if frames is None:
        return _whole(url, response.content, layout)
    return _frames(url, response, layout, span)


def _check_status(url: str, response: httpx.Response) -> None:
    status = response.status_code
    if status in (403, 404, 410):
        raise ArrayMissing(f"{url} answered HTTP {status}")
    if status == 416:
        raise ArrayTruncated(f"{url} has fewer bytes than the frames asked for (HTTP 416)")
    if status >= 500 or status == 429:
        raise ArrayUnavailable(f"{url} answered HTTP {status}")
    if status not in (200, 206):
        raise ArrayMissing(f"{url} answered HTTP {status}")


def _check_header(url: str, data: bytes, layout: ArrayLayout) -> None:
    dtype, shape, offset = _parse_header(url, data)
    if dtype != layout.dtype:
        raise ArrayDtypeMismatch(f"{url} holds {dtype.str}, its metadata says {layout.dtype.str}")
    if shape != layout.shape:
        raise ArrayShapeMismatch(f"{url} holds shape {list(shape)}, metadata {list(layout.shape)}")
    if offset != layout.data_offset:
        raise BadArrayMetadata(f"{url}: data starts at byte {offset}, not {layout.data_offset}")


def _whole(url: str, data: bytes, layout: ArrayLayout) -> np.ndarray:
    _check_header(url, data, layout)
    if len(data) < layout.file_bytes:
        raise ArrayTruncated(f"{url} has {len(data)} bytes, its header needs {layout.file_bytes}")
    if len(data) > layout.file_bytes:
        raise ArrayShapeMismatch(f"{url} has {len(data) - layout.file_bytes} bytes too many")
    return np.frombuffer(data, dtype=layout.dtype, offset=layout.data_offset).reshape(layout.shape)


def _parse_header(url: str, data: bytes) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """The .npy header (versions 1-3), read without numpy's pickling paths."""
    if len(data) < 10 or not data.startswith(MAGIC):
        raise ArrayTruncated(f"{url} is not a .npy file (no magic string)")
    major = data[6]
    size_bytes = 2 if major == 1 else 4
    start = 8 + size_bytes
    length = int.from_bytes(data[8:start], "little")
    if len(data) < start + length:
        raise ArrayTruncated(f"{url} ends inside its .npy header")
    try:
        header = ast.literal_eval(data[start : start + length].decode("latin1"))
        dtype = np.dtype(header["descr"])
        shape = tuple(int(n) for n in header["shape"])
        fortran = bool(header["fortran_order"])
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise BadArrayMetadata(f"{url} has an unreadable .npy header: {exc}") from None
    if fortran:
        raise ArrayShapeMismatch(f"{url} is stored in Fortran order; frames need C order")
    return dtype, shape, start + length


def _frames(
    url: str, response: httpx.Response, layout: ArrayLayout, span: tuple[int, int, int]
) -> np.ndarray:
    start, rows, begin = span
    body = response.content
    if response.status_code != 206:  # no Range support: the whole file came; check it all
        return _whole(url, body, layout)[start : start + rows].copy()
    total = response.headers.get("content-range", "").rpartition("/")[2]
    if total.isdigit() and int(total) < layout.file_bytes:
        raise ArrayTruncated(f"{url} has {total} bytes, its metadata needs {layout.file_bytes}")
    if total.isdigit() and int(total) > layout.file_bytes:
        raise ArrayShapeMismatch(
            f"{url} has {total} bytes, more than a {layout.dtype.str} array of shape "
            f"{list(layout.shape)} at offset {layout.data_offset} ({layout.file_bytes})"
        )
    if begin == 0:
        _check_header(url, body, layout)
    skip = layout.data_offset + start * layout.row_bytes - begin
    expected = skip + rows * layout.row_bytes
    if len(body) < expected:
        raise ArrayTruncated(f"{url} sent {len(body)} bytes for {rows} frames, not {expected}")
    if len(body) > expected:
        raise ArrayShapeMismatch(f"{url} sent {len(body)} bytes for {rows} frames, not {expected}")
    return np.frombuffer(body, dtype=layout.dtype, offset=skip).reshape(rows, *layout.shape[1:])
