"""What runs in the worker's process pool: decode, compute, and serialise, off the event loop.

Everything here is CPU-bound and picklable (top-level functions, plain results), so the event
loop keeps heart-beating and serving other jobs meanwhile. The result already holds the `.npy`
bytes and the array's metadata: even the copy into the file format happens in the pool.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workers.audio import decode_audio, duration_seconds
from workers.errors import TooLong
from workers.features import FRAME_RATE, SAMPLE_RATE, bot_module, loudness
from workers.sdk.arrays import array_metadata, load_npy, npy_bytes

__all__ = ["AXES", "Computed", "from_audio", "from_stft", "warm_up"]

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
    y, sr = decode_audio(data)
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
