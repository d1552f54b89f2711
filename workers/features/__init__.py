"""The featurebots' pure computations: one module per bot, no I/O, no API.

Each module defines `NAME` (the bot's user name), `VERSION` (bumped whenever its output
changes), `PARAMS` (JSON-able, published with every array), `ABOUT` (the bot's public
`aboutMe`) and a keyword-only `compute(...)`.

All bots analyse the same signal: the sound mixed to mono (mean of the channels) and resampled
to 22,050 Hz, framed with 2048-sample windows every 512 samples, frames centred (frame i at
t = i * 512 / 22050 s). The STFT bot publishes the magnitude spectrogram; mel, chroma and MFCC
are derived from that array rather than from the audio, so they line up frame for frame.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

SAMPLE_RATE = 22_050
"""Hz: every bot analyses audio resampled to this rate."""
N_FFT = 2048
"""Samples per analysis window (Hann)."""
HOP_LENGTH = 512
"""Samples between frame centres."""
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
"""Frames per second of every per-frame array (about 43.07)."""
N_BINS = 1 + N_FFT // 2
"""Frequency bins of the STFT (0 Hz to SAMPLE_RATE / 2)."""

BOT_NAMES = ("stft", "mel", "chroma", "mfcc", "onsets", "loudness", "peaks")

__all__ = [
    "BOT_NAMES",
    "FRAME_RATE",
    "HOP_LENGTH",
    "N_BINS",
    "N_FFT",
    "SAMPLE_RATE",
    "bot_module",
    "check_stft",
    "prepare_audio",
]


def bot_module(name: str) -> ModuleType:
    """The feature module of the bot called `name` (one of `BOT_NAMES`)."""
    if name not in BOT_NAMES:
        raise KeyError(f"no featurebot called {name!r}")
    return importlib.import_module(f"{__name__}.{name}")


def prepare_audio(*, y: np.ndarray, sr: int) -> np.ndarray:
    """The analysed signal: mono (mean of channels), float32, resampled to `SAMPLE_RATE`.

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
        Audio samples, nominally in [-1, 1]; channels first as `workers.audio.decode_audio`
        and librosa return them.
    sr : int
        Sample rate of `y` in Hz.

    Returns
    -------
    np.ndarray, float32, shape (samples * SAMPLE_RATE / sr,)
        Resampled with librosa.resample (soxr_hq), as librosa.load(sr=22050) would.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2 and y.shape[0] > y.shape[1]:
        raise ValueError(f"y has shape {y.shape}: expected (channels, samples), not transposed")
    if y.ndim not in (1, 2) or y.shape[-1] == 0:
        raise ValueError(f"y must be non-empty (samples,) or (channels, samples), got {y.shape}")
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite samples")
    if y.ndim == 2:
        y = librosa.to_mono(y)
    if sr != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sr, target_sr=SAMPLE_RATE)
    return np.ascontiguousarray(y, dtype=np.float32)


def check_stft(stft: np.ndarray) -> np.ndarray:
    """Validate an STFT bot array (frames, N_BINS) and return it as float32."""
    stft = np.asarray(stft, dtype=np.float32)
    if stft.ndim != 2 or stft.shape[1] != N_BINS or stft.shape[0] == 0:
        raise ValueError(f"expected an STFT array of shape (frames, {N_BINS}), got {stft.shape}")
    return stft
