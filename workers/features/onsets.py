"""The onsets bot: splits a sound into segments that start at each detected onset."""

from __future__ import annotations

import numpy as np

from workers.features import HOP_LENGTH, SAMPLE_RATE, prepare_audio

__all__ = ["ABOUT", "NAME", "PARAMS", "VERSION", "Segment", "compute"]

NAME = "onsets"
VERSION = 1

Segment = tuple[float, float]
"""(start_seconds, duration_seconds)."""

PARAMS: dict[str, object] = {
    "sampleRate": SAMPLE_RATE,
    "hopLength": HOP_LENGTH,
    "onsetStrength": "spectral flux of a 128-band log-mel spectrogram (librosa default)",
    "backtrack": True,
    "units": "seconds",
}

ABOUT = (
    "Onset segmentation. The sound is mixed to mono and resampled to "
    f"{SAMPLE_RATE} Hz; note onsets are found with librosa.onset.onset_detect(sr={SAMPLE_RATE}, "
    f"hop_length={HOP_LENGTH}, backtrack=True) with librosa's default onset strength and "
    "peak picking, each onset moved back to the preceding energy minimum. "
    "Publishes one segment per onset: start = the onset time in seconds, duration = seconds "
    "until the next onset (the last segment runs to the end of the sound). Audio before the "
    "first onset belongs to no segment; zero-length segments are dropped. Onset times are "
    f"quantised to the frame grid, {HOP_LENGTH}/{SAMPLE_RATE} s (about 23 ms)."
)


def compute(*, y: np.ndarray, sr: int) -> list[Segment]:
    """Segments between consecutive backtracked onsets.

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
        Audio samples, nominally in [-1, 1].
    sr : int
        Sample rate of `y` in Hz; resampled to 22,050 Hz if different.

    Returns
    -------
    list of (start_seconds, duration_seconds), floats, sorted by start
        One per onset from ``librosa.onset.onset_detect(y=y22k, sr=22050, hop_length=512,
        backtrack=True, units='time')``; each runs to the next onset, the last to
        ``len(y22k) / 22050``. Empty when no onset is found (e.g. silence).
    """
    import librosa

    y22k = prepare_audio(y=y, sr=sr)
    onsets = librosa.onset.onset_detect(
        y=y22k, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, backtrack=True, units="time"
    )
    end = len(y22k) / SAMPLE_RATE
    starts = sorted({float(t) for t in onsets if 0.0 <= t < end})
    if not starts:
        return []
    stops = [*starts[1:], end]
    pairs = zip(starts, stops, strict=True)
    return [(start, stop - start) for start, stop in pairs if stop > start]
