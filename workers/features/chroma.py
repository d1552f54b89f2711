"""The chroma bot: 12 pitch-class energies per frame, derived from the STFT bot's array."""

from __future__ import annotations

import numpy as np

from workers.features import FRAME_RATE, N_FFT, SAMPLE_RATE, check_stft

__all__ = ["ABOUT", "NAME", "N_CHROMA", "PARAMS", "TUNING", "VERSION", "compute"]

NAME = "chroma"
VERSION = 2
"""2: tuning fixed at 0.0 (version 1 estimated it per sound)."""
N_CHROMA = 12
TUNING = 0.0
"""Deviation from A440 tuning, in fractions of a chroma bin, used for every sound. Fixed
rather than estimated: librosa's estimate (a histogram peak over pitch tracks) has no clear
peak on percussive audio, so it flips with float precision (float32 vs float64 STFT) and a
user recomputing the chromagram got a different array (correlation 0.988 on an MP3 click
track). Recorded in every array's `params.tuning`."""
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

PARAMS: dict[str, object] = {
    "source": "stft",
    "sampleRate": SAMPLE_RATE,
    "nFft": N_FFT,
    "nChroma": N_CHROMA,
    "input": "power",
    "norm": "inf",
    "tuning": TUNING,
    "pitchClasses": list(PITCH_CLASSES),
}

ABOUT = (
    "Chromagram: energy of the 12 pitch classes per frame, computed from the stft bot's "
    "magnitude array (frames match the stft bot's). The power spectrogram |X|^2 goes through "
    f"librosa.feature.chroma_stft(S=power, sr={SAMPLE_RATE}, n_fft={N_FFT}, tuning={TUNING}), "
    "otherwise with its defaults: each frame scaled so its largest pitch class is 1 (norm=inf; "
    "all-zero frames stay 0). The tuning is fixed at 0.0 (A4 = 440 Hz, equal temperament) "
    "for every sound and recorded in each array's params.tuning, rather than estimated: the "
    "estimate is unstable on percussive audio, so an estimated array could not be reproduced. "
    "For a detuned recording, estimate it yourself (librosa.estimate_tuning) and recompute. "
    f"Publishes one .npy array per sound: float32, shape (frames, {N_CHROMA}), "
    f'axes ["time", "pitchClass"]; column 0 is C, then {", ".join(PITCH_CLASSES[1:])}. '
    f"Values are unitless in [0, 1]. frameRate = {FRAME_RATE:.4f} Hz. Equals "
    f"librosa.feature.chroma_stft(y=y, sr={SAMPLE_RATE}, tuning=params.tuning).T on the mono "
    "22,050 Hz signal."
)


def compute(*, stft: np.ndarray) -> np.ndarray:
    """Chromagram from the STFT bot's magnitude array.

    Parameters
    ----------
    stft : np.ndarray, shape (frames, 1025)
        The stft bot's output: linear magnitudes, frames first. It is squared: chroma is
        computed on power, which is what chroma_stft(y=...) does by default.

    Returns
    -------
    np.ndarray, float32, C-contiguous, shape (frames, 12)
        ``librosa.feature.chroma_stft(S=stft.T**2, sr=22050, n_fft=2048, tuning=TUNING).T``,
        each frame max-normalised to 1, columns C, C#, ..., B.
    """
    import librosa

    stft = check_stft(stft)
    chroma = librosa.feature.chroma_stft(S=stft.T**2, sr=SAMPLE_RATE, n_fft=N_FFT, tuning=TUNING)
    return np.ascontiguousarray(chroma.T, dtype=np.float32)
