"""A job's heavy part runs whole in one computing process: fetch (or read the stft array),
compute and store; what crosses between processes is small, and the S3 store crosses by its
configuration, built once per process."""

from __future__ import annotations

import multiprocessing
import pickle
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.workers.audio_server import AudioServer, encode, stereo_tone
from workers.bots.compute import Job, run_job
from workers.errors import HttpStatusError
from workers.sdk.arrays import LocalArrayStore, S3ArrayStore, bucket_name, load_npy, object_key
from workers.ssrf import IPNetwork


def _store(root: Path) -> LocalArrayStore:
    return LocalArrayStore(root=root, public_base_url="http://127.0.0.1:9/files/arrays")


async def test_a_job_fetches_computes_and_stores_in_the_pool(
    tmp_path: Path, audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    store = _store(tmp_path)
    for bot in ("stft", "mel"):
        await store.ensure_bucket(bucket_name(bot=bot))
    audio_server.add("/tone.wav", body=encode(stereo_tone(seconds=2.0), format="WAV"))
    sound = str(uuid.uuid4())
    common = {"sound_id": sound, "store": store, "allow_networks": tuple(loopback)}
    audio_job = Job(bot="stft", source_id=sound, audio_url=audio_server.url("/tone.wav"),
                    max_bytes=1 << 24, **common)  # fmt: skip
    spectral_job = Job(bot="mel", source_id="stft-note", **common)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert len(pickle.dumps(audio_job)) < 2_000, "no audio or array goes into the pool"
        stft = pool.submit(run_job, audio_job).result(timeout=120)
        mel = pool.submit(run_job, spectral_job).result(timeout=120)
        with pytest.raises(HttpStatusError):
            missing = Job(bot="stft", source_id=sound, audio_url=audio_server.url("/nope.wav"),
                          max_bytes=1 << 24, **common)  # fmt: skip
            pool.submit(run_job, missing).result(timeout=60)
    key = object_key(source_id=sound)
    for computed, bot, width in ((stft, "stft", 1025), (mel, "mel", 128)):
        assert computed.npy is None, "the array stays in the computing process"
        assert computed.data_url == store.url(bucket=bucket_name(bot=bot), key=key)
        assert computed.metadata is not None and computed.metadata["shape"][1] == width
        array = load_npy(await store.get(bucket=bucket_name(bot=bot), key=key))
        assert list(array.shape) == computed.metadata["shape"]
    assert computed.metadata["source"] == "stft-note"


def test_an_s3_store_travels_by_configuration(s3_endpoint: str) -> None:
    store = S3ArrayStore(endpoint=s3_endpoint, access_key="testing", secret_key="testing")
    first, second = pickle.loads(pickle.dumps(store)), pickle.loads(pickle.dumps(store))
    assert first is second, "one store (and connection pool) per process"
    assert first.url(bucket="cochlea-stft", key="k.npy") == store.url(
        bucket="cochlea-stft", key="k.npy"
    )


async def test_the_copy_reads_what_the_original_wrote(s3_endpoint: str) -> None:
    store = S3ArrayStore(endpoint=s3_endpoint, access_key="testing", secret_key="testing")
    bucket = f"cochlea-test-{uuid.uuid4().hex[:12]}"
    await store.ensure_bucket(bucket)
    data = np.arange(12, dtype=np.float32).tobytes()
    await store.put(bucket=bucket, key="a.npy", data=data)
    copy: S3ArrayStore = pickle.loads(pickle.dumps(store))
    assert await copy.get(bucket=bucket, key="a.npy") == data
