"""Array storage: .npy bytes, metadata, and both stores against real servers on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
import uuid
from importlib.metadata import version
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.workers.audio_server import AudioServer
from workers.sdk.arrays import (
    ArrayNotFound,
    BucketNotFound,
    array_metadata,
    bucket_name,
    check_bucket,
    check_key,
    load_npy,
    npy_bytes,
    npy_parts,
    object_key,
)
from workers.sdk.local_arrays import LocalArrayStore
from workers.sdk.s3_arrays import S3ArrayStore

SPECTROGRAM = np.random.default_rng(0).random((100, 1025), dtype=np.float32)


def _row_bytes(array: np.ndarray) -> int:
    return array.itemsize * int(np.prod(array.shape[1:]))


@pytest.mark.parametrize(
    "array",
    [
        SPECTROGRAM,
        np.arange(37, dtype=np.float32) - 5.5,
        np.arange(24, dtype=np.int16).reshape(2, 3, 4),
        np.asfortranarray(SPECTROGRAM[:10, :7]),
        SPECTROGRAM[::2, ::3],  # a non-contiguous view
        np.zeros((0, 12), dtype=np.float32),
    ],
    ids=["spectrogram", "1d", "3d-int16", "fortran", "strided", "empty"],
)
def test_npy_round_trip_and_data_offset(array: np.ndarray) -> None:
    data, offset = npy_bytes(array)
    assert data[:8] == b"\x93NUMPY\x01\x00"  # format version 1.0
    assert offset % 64 == 0 and len(data) == offset + array.nbytes
    loaded = np.load(io.BytesIO(data))
    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == array.dtype and loaded.flags.c_contiguous
    np.testing.assert_array_equal(load_npy(data), array)
    row = _row_bytes(array)
    for i in range(min(len(array), 5)):
        frame = data[offset + i * row : offset + (i + 1) * row]
        assert frame == np.ascontiguousarray(array[i]).tobytes()


def test_big_endian_input_is_stored_little_endian() -> None:
    array = np.arange(6, dtype=">f4").reshape(3, 2)
    data, offset = npy_bytes(array)
    assert np.frombuffer(data[offset:], dtype="<f4").tolist() == [0, 1, 2, 3, 4, 5]
    metadata = array_metadata(
        array=array,
        data_offset=offset,
        axes=["time", "x"],
        frame_rate=None,
        sample_rate=None,
        params={},
        source=None,
    )
    assert metadata["dtype"] == "<f4"


def test_object_arrays_are_refused() -> None:
    with pytest.raises(ValueError):
        npy_bytes(np.array([{"a": 1}], dtype=object))


def test_array_metadata() -> None:
    _, offset = npy_bytes(SPECTROGRAM)
    metadata = array_metadata(
        array=SPECTROGRAM,
        data_offset=offset,
        axes=("time", "frequency"),
        frame_rate=22050 / 512,
        sample_rate=22050,
        params={"nFft": 2048},
        source={"resourceId": "abc", "url": "https://example.org/a.wav"},
    )
    assert set(metadata) == {
        "dtype",
        "shape",
        "axes",
        "frameRate",
        "sampleRate",
        "dataOffset",
        "params",
        "versions",
        "source",
    }
    assert metadata["dtype"] == "<f4"
    assert metadata["shape"] == [100, 1025]
    assert metadata["axes"] == ["time", "frequency"]
    assert metadata["frameRate"] == pytest.approx(43.06640625)
    assert metadata["sampleRate"] == 22050
    assert metadata["dataOffset"] == offset
    assert metadata["versions"] == {
        "librosa": version("librosa"),
        "numpy": np.__version__,
        "soundfile": version("soundfile"),
    }
    assert json.loads(json.dumps(metadata)) == metadata
    with pytest.raises(ValueError, match="axis names"):
        array_metadata(
            array=SPECTROGRAM,
            data_offset=offset,
            axes=["time"],
            frame_rate=None,
            sample_rate=None,
            params={},
            source=None,
        )


def test_names() -> None:
    assert bucket_name(bot="stft") == "cochlea-stft"
    assert bucket_name(bot="MFCC") == "cochlea-mfcc"
    assert object_key(source_id="4f1c0f6e-2b9a-4c57-9a3e-1f2d3c4b5a69").endswith(".npy")
    assert object_key(source_id=42) == "42.npy"
    assert check_key("a/b-c_d.e/f.npy") == "a/b-c_d.e/f.npy"
    for bad in ("../x.npy", "/abs.npy", ".hidden", "a/../b", "a//b", "", "a b", "a/./b", "x\\y"):
        with pytest.raises(ValueError):
            check_key(bad)
    for bad in ("under_score", "-leading", "trailing-", "x" * 70, "a..b", "a b", "a.b"):
        with pytest.raises(ValueError):
            bucket_name(bot=bad)
    for bad in ("ab", "Upper-case", "cochlea_stft", "x" * 64):
        with pytest.raises(ValueError):
            check_bucket(bad)


def _range(i: int, j: int, *, offset: int, array: np.ndarray) -> str:
    row = _row_bytes(array)
    return f"bytes={offset + i * row}-{offset + j * row - 1}"


async def test_local_store(tmp_path: Path) -> None:
    store = LocalArrayStore(root=tmp_path, public_base_url="http://127.0.0.1:8000/arrays/")
    bucket, key = bucket_name(bot="stft"), object_key(source_id="src-1")
    data, _ = npy_bytes(SPECTROGRAM)
    with pytest.raises(BucketNotFound):
        await store.put(bucket=bucket, key=key, data=data)
    await store.ensure_bucket(bucket)
    await store.ensure_bucket(bucket)  # idempotent
    url = await store.put(bucket=bucket, key=key, data=data)
    assert url == "http://127.0.0.1:8000/arrays/cochlea-stft/src-1.npy"
    assert store.url(bucket=bucket, key=key) == url
    path = tmp_path / "cochlea-stft" / "src-1.npy"
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o644 == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["src-1.npy"]  # no temp files left
    assert await store.get(bucket=bucket, key=key) == data
    smaller, _ = npy_bytes(SPECTROGRAM[:3])
    await store.put(bucket=bucket, key=key, data=smaller)  # replaced atomically
    assert await store.get(bucket=bucket, key=key) == smaller
    with pytest.raises(ArrayNotFound):
        await store.get(bucket=bucket, key="missing.npy")
    with pytest.raises(ValueError):
        await store.get(bucket=bucket, key="../../etc/passwd")


async def test_local_store_served_over_http_with_range(tmp_path: Path) -> None:
    with AudioServer(root=tmp_path) as server:
        store = LocalArrayStore(root=tmp_path, public_base_url=server.url(""))
        await store.ensure_bucket("cochlea-mel")
        data, offset = npy_bytes(SPECTROGRAM)
        url = await store.put(bucket="cochlea-mel", key="s/1.npy", data=data)
        async with httpx.AsyncClient(trust_env=False) as client:
            whole = await client.get(url)
            np.testing.assert_array_equal(np.load(io.BytesIO(whole.content)), SPECTROGRAM)
            headers = {"Range": _range(10, 14, offset=offset, array=SPECTROGRAM)}
            part = await client.get(url, headers=headers)
        assert part.status_code == 206
        frames = np.frombuffer(part.content, dtype="<f4").reshape(4, 1025)
        np.testing.assert_array_equal(frames, SPECTROGRAM[10:14])


@pytest.fixture
def s3_store(s3_endpoint: str) -> S3ArrayStore:
    return S3ArrayStore(
        endpoint=s3_endpoint, access_key="testing", secret_key="testing", secure=False
    )


async def test_s3_store(s3_store: S3ArrayStore, s3_endpoint: str) -> None:
    bucket = f"cochlea-test-{uuid.uuid4().hex[:12]}"
    key = object_key(source_id=uuid.uuid4())
    data, offset = npy_bytes(SPECTROGRAM)
    with pytest.raises(BucketNotFound):
        await s3_store.put(bucket=bucket, key=key, data=data)
    await s3_store.ensure_bucket(bucket)
    await s3_store.ensure_bucket(bucket)  # idempotent
    url = await s3_store.put(bucket=bucket, key=key, data=data)
    assert url == f"http://{s3_endpoint}/{bucket}/{key}"
    assert await s3_store.get(bucket=bucket, key=key) == data
    with pytest.raises(ArrayNotFound):
        await s3_store.get(bucket=bucket, key="missing.npy")

    # Anonymous clients: a whole read, and frames [20, 25) with one Range request.
    async with httpx.AsyncClient(trust_env=False) as anonymous:
        whole = await anonymous.get(url)
        headers = {"Range": _range(20, 25, offset=offset, array=SPECTROGRAM)}
        part = await anonymous.get(url, headers=headers)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "application/octet-stream"
    np.testing.assert_array_equal(np.load(io.BytesIO(whole.content)), SPECTROGRAM)
    assert part.status_code == 206
    np.testing.assert_array_equal(
        np.frombuffer(part.content, dtype="<f4").reshape(5, 1025), SPECTROGRAM[20:25]
    )

    # The bucket policy and CORS configuration, read back (moto answers CORS preflights the
    # same with or without a configuration, so reading it back is the meaningful check).
    policy = json.loads(s3_store.client.get_bucket_policy(bucket))
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] in ("s3:GetObject", ["s3:GetObject"])
    assert statement["Resource"] in (f"arn:aws:s3:::{bucket}/*", [f"arn:aws:s3:::{bucket}/*"])
    assert statement["Principal"] in ("*", {"AWS": "*"}, {"AWS": ["*"]})
    boto3 = pytest.importorskip("boto3")
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://{s3_endpoint}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    [rule] = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rule["AllowedOrigins"] == ["*"]
    assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD"]
    assert rule["AllowedHeaders"] == ["Range"]
    assert "Content-Range" in rule["ExposeHeaders"]


async def test_local_store_sweeps_what_a_killed_writer_left(tmp_path: Path) -> None:
    store = LocalArrayStore(root=tmp_path, public_base_url="http://127.0.0.1:8000/arrays/")
    bucket = bucket_name(bot="stft")
    await store.ensure_bucket(bucket)
    parts = npy_parts(SPECTROGRAM)
    done = store.stage(bucket=bucket, key="done.npy", parts=parts)
    await store.commit(done)
    # Staged, never committed: the worker died in between (hours ago, and just now).
    old = store.stage(bucket=bucket, key="old.npy", parts=parts)
    fresh = store.stage(bucket=bucket, key="fresh.npy", parts=parts)
    assert old.temp is not None and fresh.temp is not None
    hours_ago = time.time() - 3 * 3600
    os.utime(old.temp, (hours_ago, hours_ago))
    assert await store.sweep() == 1
    assert not await asyncio.to_thread(os.path.exists, old.temp)
    fresh_kept = await asyncio.to_thread(os.path.exists, fresh.temp)
    assert fresh_kept, "a writer's file of seconds ago may still be committed"
    assert await store.get(bucket=bucket, key="done.npy") == b"".join(bytes(p) for p in parts)
    assert await store.sweep() == 0
    await store.commit(fresh)  # the live writer finishes as if nothing happened
    assert await store.get(bucket=bucket, key="fresh.npy") == b"".join(bytes(p) for p in parts)
