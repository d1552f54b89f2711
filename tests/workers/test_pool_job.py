"""A job's heavy part runs whole in one computing process: decode the spooled sound (or read
the stft array), compute and write the array; what crosses between processes is small, the
array is committed by the worker afterwards, and the S3 store crosses by its configuration,
built once per process."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.workers.audio_server import AudioServer, encode, stereo_tone
from workers.bots import Namespace
from workers.bots.compute import Job, run_job
from workers.errors import DecodeError, HttpStatusError
from workers.jobs import Runtime, open_spool
from workers.sdk.arrays import bucket_name, load_npy, object_key
from workers.sdk.local_arrays import LocalArrayStore
from workers.sdk.s3_arrays import S3ArrayStore
from workers.ssrf import IPNetwork


def _contents(path: str) -> bytes | None:
    """The file's bytes, None when there is no such file."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def _store(root: Path) -> LocalArrayStore:
    return LocalArrayStore(root=root, public_base_url="http://127.0.0.1:9/files/arrays")


async def test_a_job_decodes_computes_and_writes_in_the_pool(tmp_path: Path) -> None:
    store = _store(tmp_path / "arrays")
    for bot in ("stft", "mel"):
        await store.ensure_bucket(bucket_name(bot=bot))
    spooled = tmp_path / "tone.audio"
    spooled.write_bytes(encode(stereo_tone(seconds=2.0), format="WAV"))
    sound = str(uuid.uuid4())
    common: dict[str, Any] = {"sound_id": sound, "store": store}
    audio_job = Job(bot="stft", source_id=sound, audio_path=str(spooled), **common)
    spectral_job = Job(bot="mel", source_id="stft-note", **common)
    key = object_key(source_id=sound)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert len(pickle.dumps(audio_job)) < 2_000, "no audio or array goes into the pool"
        stft = pool.submit(run_job, audio_job).result(timeout=120)
        assert not store.path(bucket=bucket_name(bot="stft"), key=key).exists(), "not yet"
        assert stft.staged is not None
        await store.commit(stft.staged)
        mel = pool.submit(run_job, spectral_job).result(timeout=120)
        assert mel.staged is not None
        await store.commit(mel.staged)
        with pytest.raises(DecodeError):
            garbage = tmp_path / "garbage.audio"
            garbage.write_bytes(b"\x01" * 4096)
            broken = Job(bot="stft", source_id=sound, audio_path=str(garbage), **common)
            pool.submit(run_job, broken).result(timeout=60)
    for computed, bot, width in ((stft, "stft", 1025), (mel, "mel", 128)):
        assert computed.array is None and computed.npy is None, "the array stays in the pool"
        assert computed.staged is not None
        assert computed.staged.url == store.url(bucket=bucket_name(bot=bot), key=key)
        assert computed.metadata is not None and computed.metadata["shape"][1] == width
        array = load_npy(await store.get(bucket=bucket_name(bot=bot), key=key))
        assert list(array.shape) == computed.metadata["shape"]
    assert computed.metadata is not None and computed.metadata["source"] == "stft-note"
    hidden = [p.name for p in (tmp_path / "arrays").rglob(".tmp-*")]
    assert hidden == [], "committed files were renamed into place"


async def test_the_runtime_spools_a_fetch_and_removes_it(
    tmp_path: Path, audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    body = encode(stereo_tone(seconds=1.0), format="WAV")
    audio_server.add("/tone.wav", body=body)
    runtime = Runtime(
        namespace=Namespace("spool-test"), store=_store(tmp_path), clients={},
        make_pool=partial(ProcessPoolExecutor, 1), allow_networks=loopback, max_bytes=1 << 24,
    )  # fmt: skip
    try:
        async with runtime.spooled(audio_server.url("/tone.wav")) as path:
            assert _contents(path) == body
        assert _contents(path) is None
        with pytest.raises(HttpStatusError):
            async with runtime.spooled(audio_server.url("/nope.wav")):
                pass
        assert list(Path(path).parent.iterdir()) == [], "a failed fetch leaves no spool file"
    finally:
        await runtime.aclose()
    assert not Path(path).parent.exists()


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
    staged = copy.stage(bucket=bucket, key="b.npy", parts=[b"header", memoryview(data)])
    assert await copy.commit(staged) == store.url(bucket=bucket, key="b.npy")
    assert await store.get(bucket=bucket, key="b.npy") == b"header" + data


def test_a_new_spool_removes_those_of_killed_workers(tmp_path: Path) -> None:
    # A worker killed by SIGKILL (its spool holds a sound it was fetching) and a live process's.
    script = (
        "import sys, time; from workers.jobs import open_spool; "
        "d = open_spool(sys.argv[1]); open(d + '/x.audio', 'wb').write(b'RIFF' * 1000); "
        "print(d, flush=True); time.sleep(60)"
    )
    command = [sys.executable, "-c", script, str(tmp_path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as worker:
        assert worker.stdout is not None
        killed = Path(worker.stdout.readline().strip())
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    assert (killed / "x.audio").exists()
    living = tmp_path / f"cochlea-spool-{os.getppid()}-abc"  # our parent: alive
    living.mkdir()
    unrelated = tmp_path / "cochlea-spool-notes"
    unrelated.mkdir()
    mine = Path(open_spool(str(tmp_path)))
    assert not killed.exists(), "the killed worker's spool is removed"
    assert living.is_dir() and unrelated.is_dir() and mine.is_dir()
    assert mine.name.startswith(f"cochlea-spool-{os.getpid()}-")
