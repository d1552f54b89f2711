"""The MFCC bot: 20 mel-frequency cepstral coefficients per frame, from the STFT bot's array."""

from __future__ import annotations

import numpy as np

from workers.features import FRAME_RATE, SAMPLE_RATE, mel

__all__ = ["ABOUT", "NAME", "N_MFCC", "PARAMS", "VERSION", "compute"]

NAME = "mfcc"
VERSION = 1
N_MFCC = 20

PARAMS: dict[str, object] = {
    "source": "stft",
    "nMfcc": N_MFCC,
    "dctType": 2,
    "dctNorm": "ortho",
    "lifter": 0,
    "logMel": {k: v for k, v in mel.PARAMS.items() if k != "source"},
}

ABOUT = (
    f"{N_MFCC} mel-frequency cepstral coefficients per frame, computed from the stft bot's "
    "magnitude array (frames match the stft bot's): the same 128-band log-mel spectrogram "
    f"the mel bot publishes (power, Slaney mel filters, power_to_db ref 1.0, top_db "
    f"{mel.TOP_DB:g}), then an orthonormal type-II DCT over the bands, no liftering "
    f"(librosa.feature.mfcc(S=log_mel, n_mfcc={N_MFCC})). "
    f"Publishes one .npy array per sound: float32, shape (frames, {N_MFCC}), "
    'axes ["time", "coefficient"]; coefficient 0 tracks overall log energy. '
    f"frameRate = {FRAME_RATE:.4f} Hz. Equals librosa.feature.mfcc(y=y, sr={SAMPLE_RATE}, "
    f"n_mfcc={N_MFCC}).T on the mono 22,050 Hz signal."
)


def compute(*, stft: np.ndarray) -> np.ndarray:
    """MFCCs from the STFT bot's magnitude array.

    Parameters
    ----------
    stft : np.ndarray, shape (frames, 1025)
        The stft bot's output: linear magnitudes, frames first.

    Returns
    -------
    np.ndarray, float32, C-contiguous, shape (frames, 20)
        ``librosa.feature.mfcc(S=power_to_db(melspectrogram(S=stft.T**2, ...)), n_mfcc=20).T``
        (unitless cepstral coefficients of the dB log-mel spectrogram).
    """
    import librosa

    log_mel = librosa.power_to_db(mel.power_mel(stft), ref=1.0, amin=mel.AMIN, top_db=mel.TOP_DB)
    coefficients = librosa.feature.mfcc(S=log_mel, sr=SAMPLE_RATE, n_mfcc=N_MFCC)
    return np.ascontiguousarray(coefficients.T, dtype=np.float32)
