"""The loudness bot: RMS level per frame in dB, and coarse tags (silent, loud) per sound."""

from __future__ import annotations

import numpy as np

from workers.features import FRAME_RATE, HOP_LENGTH, N_FFT, SAMPLE_RATE, prepare_audio

__all__ = [
    "ABOUT",
    "LOUD_ABOVE_DB",
    "NAME",
    "PARAMS",
    "SILENT_BELOW_DB",
    "VERSION",
    "compute",
    "summary_tags",
]

NAME = "loudness"
VERSION = 1
AMIN = 1e-5
"""RMS floor: levels are clipped at 20*log10(1e-5) = -100 dB, so digital silence is -100."""
SILENT_BELOW_DB = -60.0
"""A sound whose loudest frame is below this is tagged "silent" (hiss of a quiet room)."""
LOUD_ABOVE_DB = -6.0
"""A sound with any frame above this is tagged "loud" (near full scale: -3 dB is a full sine)."""

PARAMS: dict[str, object] = {
    "sampleRate": SAMPLE_RATE,
    "frameLength": N_FFT,
    "hopLength": HOP_LENGTH,
    "center": True,
    "ref": 1.0,
    "amin": AMIN,
    "topDb": None,
    "silentBelowDb": SILENT_BELOW_DB,
    "loudAboveDb": LOUD_ABOVE_DB,
}

ABOUT = (
    "Loudness as RMS level per frame. The sound is mixed to mono and resampled to "
    f"{SAMPLE_RATE} Hz; librosa.feature.rms(frame_length={N_FFT}, hop_length={HOP_LENGTH}, "
    "centred) gives the root mean square of each frame, converted to decibels with "
    f"librosa.amplitude_to_db(ref=1.0, amin={AMIN:g}, top_db=None): dB relative to an RMS of 1.0 "
    "(a full-scale square wave; a full-scale sine reads -3 dB), floored at -100 dB, never "
    "clipped relative to the loudest frame. "
    'Publishes one .npy array per sound: float32, shape (frames,), axes ["time"], '
    f"frameRate = {FRAME_RATE:.4f} Hz (frames line up with the stft bot's). "
    f'Tags each sound "silent" when its loudest frame is below {SILENT_BELOW_DB:g} dB and '
    f'"loud" when any frame is above {LOUD_ABOVE_DB:g} dB.'
)


def compute(*, y: np.ndarray, sr: int) -> np.ndarray:
    """RMS level per frame in dB.

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
        Audio samples, nominally in [-1, 1].
    sr : int
        Sample rate of `y` in Hz; resampled to 22,050 Hz if different.

    Returns
    -------
    np.ndarray, float32, shape (frames,)
        ``librosa.amplitude_to_db(librosa.feature.rms(y=y22k, frame_length=2048,
        hop_length=512)[0], ref=1.0, amin=1e-5, top_db=None)``: dB re RMS 1.0, >= -100;
        frames = 1 + len(y22k) // 512.
    """
    import librosa

    y22k = prepare_audio(y=y, sr=sr)
    rms = librosa.feature.rms(y=y22k, frame_length=N_FFT, hop_length=HOP_LENGTH, center=True)
    rms_db = librosa.amplitude_to_db(rms[0], ref=1.0, amin=AMIN, top_db=None)
    return np.ascontiguousarray(rms_db, dtype=np.float32)


def summary_tags(*, rms_db: np.ndarray) -> list[str]:
    """Coarse tags for a whole sound from its per-frame levels (the output of `compute`).

    ``["silent"]`` when the loudest frame is below `SILENT_BELOW_DB` (-60 dB) or there are no
    frames, ``["loud"]`` when a frame exceeds `LOUD_ABOVE_DB` (-6 dB), ``[]`` otherwise.
    """
    levels = np.asarray(rms_db, dtype=np.float32)
    if levels.size == 0:
        return ["silent"]
    peak = float(np.max(levels))
    if peak < SILENT_BELOW_DB:
        return ["silent"]
    if peak > LOUD_ABOVE_DB:
        return ["loud"]
    return []
