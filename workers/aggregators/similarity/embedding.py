"""The similarity aggregator's feature vector: one per short segment of a sound.

A segment is a span of frames `[i, j)` of the mfcc bot's array (frames, 20) and of the chroma
bot's array (frames, 12); both derive from the same stft array, so their frames line up. Its
raw feature (`RAW_DIM` = 92 values, in this order; `FEATURES` names each one) is

- the mean (20) and the standard deviation (20) of each MFCC over the segment's frames,
- the mean (20) and the standard deviation (20) of each MFCC's first difference (frame t+1
  minus frame t: how the timbre moves),
- the mean of each of the 12 chroma pitch classes (C to B).

The vector that is indexed is the raw feature minus a frozen mean, divided by a frozen spread
(`Standardiser`, fitted once on a sample of segments and stored with the index), then scaled to
unit length, so that cosine similarity is the dot product. Everything is float32 numpy with no
randomness: the same arrays always give the same vector.

Segments are fixed windows of `WINDOW_SECONDS` every `HOP_SECONDS` (1 s, 50 % overlap, from 0 s;
a sound shorter than a window gets one window over all of it) plus the onsets bot's segments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FEATURES",
    "HOP_SECONDS",
    "MIN_FRAMES",
    "N_CHROMA",
    "N_MFCC",
    "RAW_DIM",
    "WINDOW_SECONDS",
    "Standardiser",
    "frame_span",
    "raw_features",
    "unit_rows",
    "windows",
]

N_MFCC = 20
N_CHROMA = 12
RAW_DIM = 4 * N_MFCC + N_CHROMA
WINDOW_SECONDS = 1.0
HOP_SECONDS = 0.5
MIN_FRAMES = 3
"""Fewest frames a segment needs (two differences give a spread); shorter ones are skipped."""
SPREAD_FLOOR = 0.01
"""A frozen spread is at least this fraction of the median spread: a feature that happened to
be constant in the fitted sample must not blow up every later segment's vector."""

_PITCH = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FEATURES: tuple[str, ...] = (
    *(f"mfcc{k}.mean" for k in range(N_MFCC)),
    *(f"mfcc{k}.std" for k in range(N_MFCC)),
    *(f"delta{k}.mean" for k in range(N_MFCC)),
    *(f"delta{k}.std" for k in range(N_MFCC)),
    *(f"chroma.{p}.mean" for p in _PITCH),
)


def frame_span(start: float, end: float, *, frame_rate: float, frames: int) -> tuple[int, int]:
    """The frames `[i, j)` of a segment from `start` to `end` seconds, clipped to the array.

    Frame t is centred at t / frame_rate seconds, so frame i = round(start * frame_rate).
    """
    first = max(0, min(frames, round(start * frame_rate)))
    stop = max(first, min(frames, round(end * frame_rate)))
    return first, stop


def windows(frames: int, *, frame_rate: float) -> Iterator[tuple[float, float]]:
    """(start, end) seconds of the fixed windows over an array of `frames` frames."""
    length = frames / frame_rate
    if frames < MIN_FRAMES:
        return
    if length < WINDOW_SECONDS:
        yield 0.0, length
        return
    step = 0
    while (start := step * HOP_SECONDS) + WINDOW_SECONDS <= length + 1e-9:
        yield start, start + WINDOW_SECONDS
        step += 1


def raw_features(mfcc: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """The `RAW_DIM` raw features of one segment's frames (see the module docstring).

    Raises ValueError for arrays of the wrong shape, too few frames or non-finite values.
    """
    if mfcc.ndim != 2 or mfcc.shape[1] != N_MFCC:
        raise ValueError(f"mfcc frames must have shape (n, {N_MFCC}), got {mfcc.shape}")
    if chroma.ndim != 2 or chroma.shape[1] != N_CHROMA:
        raise ValueError(f"chroma frames must have shape (n, {N_CHROMA}), got {chroma.shape}")
    if len(mfcc) != len(chroma) or len(mfcc) < MIN_FRAMES:
        raise ValueError(f"{len(mfcc)} mfcc and {len(chroma)} chroma frames (need >= {MIN_FRAMES})")
    m = mfcc.astype(np.float64)
    delta = np.diff(m, axis=0)
    parts = (m.mean(0), m.std(0), delta.mean(0), delta.std(0), chroma.astype(np.float64).mean(0))
    raw = np.concatenate(parts).astype(np.float32)
    if not np.all(np.isfinite(raw)):
        raise ValueError("the frames contain NaN or infinite values")
    return raw


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (an all-zero row becomes the uniform unit vector)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    uniform = np.full_like(vectors, 1.0 / np.sqrt(vectors.shape[-1]))
    safe = np.where(norms > 1e-12, norms, 1.0)
    return np.where(norms > 1e-12, vectors / safe, uniform).astype(np.float32)


@dataclass(frozen=True)
class Standardiser:
    """Frozen per-feature statistics: `embed(raw) = unit((raw - mean) / spread)`."""

    mean: np.ndarray
    spread: np.ndarray

    @classmethod
    def fit(cls, raw: np.ndarray) -> Standardiser:
        """Mean and standard deviation of each feature over `raw` (segments, RAW_DIM)."""
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != RAW_DIM or len(raw) == 0:
            raise ValueError(f"need (segments, {RAW_DIM}) raw features, got {raw.shape}")
        spread = raw.std(0)
        floor = SPREAD_FLOOR * float(np.median(spread)) + 1e-6
        return cls(
            mean=raw.mean(0).astype(np.float32), spread=np.maximum(spread, floor).astype(np.float32)
        )

    @classmethod
    def identity(cls) -> Standardiser:
        """No scaling: what an empty index uses until it has segments to fit on."""
        return cls(mean=np.zeros(RAW_DIM, np.float32), spread=np.ones(RAW_DIM, np.float32))

    def embed(self, raw: np.ndarray) -> np.ndarray:
        """Unit vectors for raw features (RAW_DIM,) or (segments, RAW_DIM)."""
        return unit_rows((np.asarray(raw, dtype=np.float32) - self.mean) / self.spread)

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "spread": self.spread.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Standardiser:
        mean, spread = (np.asarray(data[k], dtype=np.float32) for k in ("mean", "spread"))
        if mean.shape != (RAW_DIM,) or spread.shape != (RAW_DIM,) or np.any(spread <= 0):
            raise ValueError("stored statistics do not match this embedding")
        return cls(mean=mean, spread=spread)
