"""The peaks bot: the waveform's envelope, min and max per fixed block of samples, as BBC's
audiowaveform computes it, so a browser draws a long sound's waveform from a few megabytes and
streams the audio by Range requests instead of downloading and decoding all of it."""

from __future__ import annotations

import numpy as np

from workers.features import SAMPLE_RATE, prepare_audio

__all__ = ["ABOUT", "FRAME_RATE", "NAME", "PARAMS", "SAMPLES_PER_BLOCK", "VERSION", "compute"]

NAME = "peaks"
VERSION = 1
SAMPLES_PER_BLOCK = 256
"""Samples (at 22,050 Hz) summarised by one [min, max] pair: audiowaveform's default zoom."""
FRAME_RATE = SAMPLE_RATE / SAMPLES_PER_BLOCK
"""Blocks per second (about 86.13)."""

PARAMS: dict[str, object] = {
    "sampleRate": SAMPLE_RATE,
    "samplesPerBlock": SAMPLES_PER_BLOCK,
    "channels": "mono (mean)",
    "units": "sample amplitude, full scale = 1.0",
}

ABOUT = (
    "Waveform peaks for drawing. The sound is mixed to mono and resampled to "
    f"{SAMPLE_RATE} Hz, then cut into blocks of {SAMPLES_PER_BLOCK} samples (the last one may "
    "be shorter); each block gives its smallest and its largest sample, as BBC's audiowaveform "
    f"does at --zoom {SAMPLES_PER_BLOCK}. "
    "Publishes one .npy array per sound: float32, shape (blocks, 2) = [min, max], axes "
    f'["time", "minMax"], in sample units (full scale 1.0), frameRate = {FRAME_RATE:.4f} Hz '
    f"(block i covers seconds [i, i + 1) * {SAMPLES_PER_BLOCK}/{SAMPLE_RATE}); "
    "blocks = ceil(samples / 256)."
)


def compute(*, y: np.ndarray, sr: int, samples_per_block: int = SAMPLES_PER_BLOCK) -> np.ndarray:
    """Min and max of each block of samples.

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
        Audio samples, nominally in [-1, 1].
    sr : int
        Sample rate of `y` in Hz; resampled to 22,050 Hz if different.
    samples_per_block : int
        Samples of the 22,050 Hz mono signal per block (default 256).

    Returns
    -------
    np.ndarray, float32, shape (ceil(len(y22k) / samples_per_block), 2)
        Column 0 the minimum, column 1 the maximum sample of each block, in the signal's
        own units (full scale 1.0); min <= max in every row.
    """
    if samples_per_block < 1:
        raise ValueError(f"samples_per_block must be at least 1, got {samples_per_block}")
    y22k = prepare_audio(y=y, sr=sr)
    blocks = -(-y22k.size // samples_per_block)
    padded = np.empty(blocks * samples_per_block, dtype=np.float32)
    padded[: y22k.size] = y22k
    padded[y22k.size :] = y22k[-1]  # repeat the last sample: it changes neither min nor max
    framed = padded.reshape(blocks, samples_per_block)
    return np.ascontiguousarray(
        np.stack([framed.min(axis=1), framed.max(axis=1)], axis=1), dtype=np.float32
    )
