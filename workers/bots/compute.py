"""What runs in the worker's process pool: decode, compute, serialise and write the array.

The worker's event loop fetches a sound (SSRF-guarded, keep-alive) into a spool file while the
pool computes other jobs; `run_job` then decodes that file in place, computes, and writes the
array to the store itself (`ArrayStore.stage`), so neither audio nor arrays cross between
processes: only the small `Job` goes in and a `Computed` with the staged array's metadata
comes back. The pool only computes: waiting for the network (the fetch) or the disk (the
array's fsync, `ArrayStore.commit`) happens in the event loop, overlapping the next job's
computing, where a pool process fetching for itself sat idle for as long as it computed on
a 10 s sound. The spectral bots read the stft array from the store in the pool. The store is
pickled by its configuration and built once per computing process
(`S3ArrayStore.__reduce__`); each computing process keeps one event loop for all its jobs.
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

from workers.bots import DERIVED_FROM
from workers.decode import Source, decode_mono, duration_seconds
from workers.errors import TooLong
from workers.features import FRAME_RATE, SAMPLE_RATE, bot_module, loudness
from workers.heap import keep_heap
from workers.sdk.arrays import (
    ArrayStore,
    Staged,
    array_metadata,
    bucket_name,
    load_npy,
    npy_parts,
    object_key,
)

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
    """A bot's output for one source: an array with its metadata, or segments; and tags."""

    array: np.ndarray | None = None
    metadata: dict[str, Any] | None = None
    staged: Staged | None = None
    """Where `run_job` wrote the array (then `array` is None): commit it, then annotate."""
    segments: list[tuple[float, float]] | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def npy(self) -> bytes | None:
        """The array as a .npy file (what the store holds); None once written or for segments."""
        return None if self.array is None else b"".join(npy_parts(self.array))


def warm_up() -> None:
    """Pool initializer: one BLAS thread, then import librosa and run every feature once on a
    short noise burst, so the first real job does not pay for lazy imports and numba
    compilation (seconds). The pool has a process per core already: BLAS threads of its own
    (OpenBLAS's spin while waiting) only took CPU from the other processes and the event loop
    (an onsets job used 1.3 cores for a few ms of matrix products). The process also keeps
    its freed memory for the next job (`workers.heap`: no page faults per job)."""
    from threadpoolctl import threadpool_limits

    keep_heap()
    threadpool_limits(limits=1)
    y = np.random.default_rng(0).standard_normal((1, 2 * SAMPLE_RATE)).astype(np.float32) * 0.1
    stft = bot_module("stft").compute(y=y, sr=SAMPLE_RATE)
    for name in ("mel", "chroma", "mfcc"):
        bot_module(name).compute(stft=stft)
    for name in ("onsets", "loudness"):
        bot_module(name).compute(y=y, sr=SAMPLE_RATE)


def _array_result(bot: str, array: np.ndarray, *, source: str, tags: list[str]) -> Computed:
    header, _ = npy_parts(array)
    metadata = array_metadata(
        array=array,
        data_offset=len(header),
        axes=AXES[bot],
        frame_rate=getattr(bot_module(bot), "FRAME_RATE", FRAME_RATE),  # peaks: blocks/s
        sample_rate=SAMPLE_RATE,
        params=bot_module(bot).PARAMS,
        source=source,
    )
    return Computed(array=array, metadata=metadata, tags=tags)


def from_audio(bot: str, data: Source, source: str, max_seconds: float) -> Computed:
    """Decode an audio file (its bytes or its path) and compute `bot` (stft, onsets, loudness
    or peaks) on it.

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
    audio_path: str | None = None
    """The spooled sound, for the bots that analyse audio; the spectral bots read the stft
    array instead."""
    max_seconds: float = 2 * 3600


_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def _process_loop() -> asyncio.AbstractEventLoop:
    """The computing process's one event loop, for the store's reads (kept between jobs)."""
    global _loop
    if _loop is None or _loop[0] != os.getpid():
        _loop = (os.getpid(), asyncio.new_event_loop())
        atexit.register(_close, _loop)
    return _loop[1]


def _close(owned: tuple[int, asyncio.AbstractEventLoop]) -> None:
    if owned[0] == os.getpid() and not owned[1].is_closed():
        owned[1].close()


def run_job(job: Job) -> Computed:
    """A job's heavy part, in the computing process: decode or read the stft array, compute,
    write the array (staged: the worker commits it). Not from a thread running an event loop
    (the pool's processes run none)."""
    try:
        if job.audio_path is not None:
            computed = from_audio(job.bot, job.audio_path, job.source_id, job.max_seconds)
        else:
            key = object_key(source_id=job.sound_id)
            read = job.store.get(bucket=bucket_name(bot=DERIVED_FROM), key=key)
            stft = _process_loop().run_until_complete(read)
            computed = from_stft(job.bot, stft, job.source_id)
            del stft
        if computed.array is None:
            return computed
        staged = job.store.stage(
            bucket=bucket_name(bot=job.bot),
            key=object_key(source_id=job.sound_id),
            parts=npy_parts(computed.array),
        )
    except S3Error as exc:  # its pickling does not survive the way back: say it plainly
        raise OSError(f"storage error {exc.code}: {exc.message}") from None
    return replace(computed, array=None, staged=staged)
