"""What runs in the worker's process pool: fetch, decode, compute, serialise and store.

`run_job` does a job's whole heavy part in the computing process: it fetches the sound
(SSRF-guarded) or reads the stft array from the store, computes, and writes the array to the
store itself, so neither audio nor arrays cross between processes: only the small `Job` goes
in and a `Computed` with the array's URL and metadata comes back. The store is pickled by its
configuration and built once per computing process (`S3ArrayStore.__reduce__`), so its
connections are reused across jobs; likewise each computing process keeps one event loop and
one set of keep-alive fetch clients (`workers.audio.FetchClients`) for all its jobs (a new
HTTP client per job cost ~15 ms, as much as librosa on a 10 s sound). The event loop of the
worker keeps heart-beating and serving other jobs meanwhile; it then creates the annotations
(idempotently, by key).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from minio.error import S3Error

from workers.audio import FetchClients, decode_mono, duration_seconds, fetch_audio
from workers.bots import DERIVED_FROM
from workers.errors import TooLong
from workers.features import FRAME_RATE, SAMPLE_RATE, bot_module, loudness
from workers.sdk.arrays import (
    ArrayStore,
    array_metadata,
    bucket_name,
    load_npy,
    npy_bytes,
    object_key,
)
from workers.ssrf import IPNetwork

__all__ = ["AXES", "Computed", "Job", "from_audio", "from_stft", "run_job", "warm_up"]

AXES: dict[str, tuple[str, ...]] = {
    "stft": ("time", "frequency"),
    "mel": ("time", "mel"),
    "chroma": ("time", "pitchClass"),
    "mfcc": ("time", "coefficient"),
    "loudness": ("time",),
    "peaks": ("time", "minMax"),
}
"""Axis names of each array bot's output (the onsets bot publishes segments, not arrays)."""


@dataclass(frozen=True)
class Computed:
    """A bot's output for one source: an array file with its metadata, or segments; and tags."""

    npy: bytes | None = None
    metadata: dict[str, Any] | None = None
    data_url: str | None = None
    """Where `run_job` stored the array (then `npy` is None)."""
    segments: list[tuple[float, float]] | None = None
    tags: list[str] = field(default_factory=list)


def warm_up() -> None:
    """Pool initializer: import librosa and run every feature once on a short noise burst, so
    the first real job does not pay for lazy imports and numba compilation (seconds)."""
    y = np.random.default_rng(0).standard_normal((1, 2 * SAMPLE_RATE)).astype(np.float32) * 0.1
    stft = bot_module("stft").compute(y=y, sr=SAMPLE_RATE)
    for name in ("mel", "chroma", "mfcc"):
        bot_module(name).compute(stft=stft)
    for name in ("onsets", "loudness"):
        bot_module(name).compute(y=y, sr=SAMPLE_RATE)


def _array_result(bot: str, array: np.ndarray, *, source: str, tags: list[str]) -> Computed:
    data, offset = npy_bytes(array)
    metadata = array_metadata(
        array=array,
        data_offset=offset,
        axes=AXES[bot],
        frame_rate=getattr(bot_module(bot), "FRAME_RATE", FRAME_RATE),  # peaks: blocks/s
        sample_rate=SAMPLE_RATE,
        params=bot_module(bot).PARAMS,
        source=source,
    )
    return Computed(npy=data, metadata=metadata, tags=tags)


def from_audio(bot: str, data: bytes, source: str, max_seconds: float) -> Computed:
    """Decode an audio file and compute `bot` (stft, onsets or loudness) on it.

    Raises `workers.errors.DecodeError` (or `NotAudio`) for bytes that are not decodable audio,
    and `TooLong` before decoding a sound longer than `max_seconds` (memory grows with it:
    an hour of audio is about 0.6 GB of STFT alone).
    """
    seconds = duration_seconds(data)
    if seconds > max_seconds:
        raise TooLong(f"the sound lasts {seconds:.0f} s, over the limit of {max_seconds:.0f} s")
    y, sr = decode_mono(data)  # the mix every bot analyses (what prepare_audio would make)
    module = bot_module(bot)
    if bot == "onsets":
        return Computed(segments=module.compute(y=y, sr=sr))
    array = module.compute(y=y, sr=sr)
    tags = loudness.summary_tags(rms_db=array) if bot == "loudness" else []
    return _array_result(bot, array, source=source, tags=tags)


def from_stft(bot: str, npy: bytes, source: str) -> Computed:
    """Compute a spectral bot (mel, chroma, mfcc) from an stft bot array file."""
    with warnings.catch_warnings():
        # Silence has no pitch to estimate tuning from; librosa then assumes 0, which is right.
        warnings.filterwarnings("ignore", "Trying to estimate tuning", UserWarning)
        array = bot_module(bot).compute(stft=load_npy(npy))
    return _array_result(bot, array, source=source, tags=[])


@dataclass(frozen=True)
class Job:
    """What the computing process needs for one job (small and picklable)."""

    bot: str
    source_id: str
    """The stream item the bot follows: a sound, or an stft annotation."""
    sound_id: str
    store: ArrayStore
    audio_url: str | None = None
    """Set for the bots that analyse audio; the spectral bots read the stft array instead."""
    allow_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 0
    max_seconds: float = 2 * 3600


@dataclass
class _Process:
    """What one computing process keeps between jobs: its event loop and fetch clients."""

    pid: int
    loop: asyncio.AbstractEventLoop
    clients: FetchClients


_process: _Process | None = None


def _this_process() -> _Process:
    global _process
    if _process is None or _process.pid != os.getpid():
        _process = _Process(os.getpid(), asyncio.new_event_loop(), FetchClients())
        atexit.register(_close, _process)
    return _process


def _close(process: _Process) -> None:
    """At exit: close the kept connections and the loop (no unclosed-socket warnings)."""
    if process.pid == os.getpid() and not process.loop.is_closed():
        process.loop.run_until_complete(process.clients.aclose())
        process.loop.close()


def run_job(job: Job) -> Computed:
    """A job's heavy part, in the computing process: input, compute, store the array.
    Not from a thread running an event loop (the pool's processes run none)."""
    here = _this_process()
    try:
        return here.loop.run_until_complete(_run_job(job, here.clients))
    except S3Error as exc:  # its pickling does not survive the way back: say it plainly
        raise OSError(f"storage error {exc.code}: {exc.message}") from None


async def _run_job(job: Job, clients: FetchClients) -> Computed:
    key = object_key(source_id=job.sound_id)
    if job.audio_url is not None:
        data = await fetch_audio(
            job.audio_url,
            allow_networks=list(job.allow_networks),
            max_bytes=job.max_bytes,
            clients=clients,
        )
        computed = from_audio(job.bot, data, job.source_id, job.max_seconds)
        del data
    else:
        stft = await job.store.get(bucket=bucket_name(bot=DERIVED_FROM), key=key)
        computed = from_stft(job.bot, stft, job.source_id)
        del stft
    if computed.npy is None:
        return computed
    url = await job.store.put(bucket=bucket_name(bot=job.bot), key=key, data=computed.npy)
    return replace(computed, npy=None, data_url=url)
