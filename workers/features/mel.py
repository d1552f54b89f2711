"""The mel bot: a 128-band log-mel spectrogram derived from the STFT bot's array."""

from __future__ import annotations

import numpy as np

from workers.features import FRAME_RATE, N_FFT, SAMPLE_RATE, check_stft

__all__ = ["ABOUT", "NAME", "N_MELS", "PARAMS", "VERSION", "compute"]

NAME = "mel"
VERSION = 1
N_MELS = 128
TOP_DB = 80.0
AMIN = 1e-10

PARAMS: dict[str, object] = {
    "source": "stft",
    "sampleRate": SAMPLE_RATE,
    "nFft": N_FFT,
    "nMels": N_MELS,
    "fmin": 0.0,
    "fmax": SAMPLE_RATE / 2,
    "htk": False,
    "norm": "slaney",
    "power": 2.0,
    "ref": 1.0,
    "amin": AMIN,
    "topDb": TOP_DB,
}

ABOUT = (
    f"Log-mel spectrogram with {N_MELS} bands, computed from the stft bot's magnitude array "
    "(so its frames match the stft bot's frame for frame), not from the audio. "
    f"Power |X|^2 is projected on {N_MELS} Slaney-style mel filters (librosa.filters.mel, "
    f"sr {SAMPLE_RATE}, n_fft {N_FFT}, 0 Hz to {SAMPLE_RATE // 2} Hz, slaney area "
    "normalisation) and converted to decibels with librosa.power_to_db(ref=1.0, "
    f"amin={AMIN}, top_db={TOP_DB:g}): values are dB relative to power 1.0, floored at "
    f"{TOP_DB:g} dB below the sound's loudest bin. "
    f"Publishes one .npy array per sound: float32, shape (frames, {N_MELS}), "
    f'axes ["time", "mel"]; band 0 is the lowest. frameRate = {FRAME_RATE:.4f} Hz '
    "(frame i centred at t = i / frameRate seconds). Equals "
    f"librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr={SAMPLE_RATE})).T "
    "on the mono 22,050 Hz signal."
)


def power_mel(stft: np.ndarray) -> np.ndarray:
    """Mel power spectrogram, librosa layout (n_mels, frames), of an STFT bot array."""
    import librosa

    stft = check_stft(stft)
    return librosa.feature.melspectrogram(S=stft.T**2, sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)


def compute(*, stft: np.ndarray) -> np.ndarray:
    """Log-mel spectrogram from the STFT bot's magnitude array.

    Parameters
    ----------
    stft : np.ndarray, shape (frames, 1025)
        The stft bot's output: linear magnitudes, frames first.

    Returns
    -------
    np.ndarray, float32, C-contiguous, shape (frames, 128)
        ``librosa.power_to_db(melspectrogram(S=stft.T**2, sr=22050, n_fft=2048,
        n_mels=128), ref=1.0).T`` in dB (top_db 80 below the maximum).
    """
    import librosa

    log_mel = librosa.power_to_db(power_mel(stft), ref=1.0, amin=AMIN, top_db=TOP_DB)
    return np.ascontiguousarray(log_mel.T, dtype=np.float32)
