"""The chroma bot's array is reproducible from its metadata: the tuning it used is recorded, and
it does not flip with float precision on percussive audio decoded from MP3."""

from __future__ import annotations

import io

import librosa
import numpy as np
import soundfile as sf

from workers.bots.compute import from_audio, from_stft
from workers.features import chroma
from workers.sdk.arrays import load_npy

SR = 44_100
SECONDS = 3.0
CLICKS = (0.5, 1.1, 1.7, 2.4)


def click_track_mp3() -> bytes:
    """Decaying noise bursts over near-silence, encoded as a real MP3 (libsndfile's LAME)."""
    rng = np.random.default_rng(2)
    y = rng.standard_normal(int(SECONDS * SR)) * 1e-4
    burst = rng.standard_normal(int(0.03 * SR)) * np.exp(-np.linspace(0, 8, int(0.03 * SR)))
    for at in CLICKS:
        start = int(at * SR)
        y[start : start + len(burst)] += 0.8 * burst
    out = io.BytesIO()
    sf.write(out, y.astype(np.float32), SR, format="MP3", subtype="MPEG_LAYER_III")
    return out.getvalue()


def bot_chroma(data: bytes) -> tuple[np.ndarray, dict[str, object]]:
    """What the runtime publishes: the stft bot's array file, then chroma computed from it."""
    stft = from_audio("stft", data, "sound-1", 600.0)
    assert stft.npy is not None
    result = from_stft("chroma", stft.npy, "stft-note-1")
    assert result.npy is not None and result.metadata is not None
    return load_npy(result.npy), result.metadata


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_a_user_reproduces_the_array_from_its_metadata() -> None:
    data = click_track_mp3()
    array, metadata = bot_chroma(data)
    params = metadata["params"]
    assert isinstance(params, dict)
    tuning = params["tuning"]
    assert isinstance(tuning, float) and tuning == chroma.TUNING

    # The user's script: decode, mono, 22,050 Hz, everything in float64, the recorded tuning.
    samples, sr = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    y22 = librosa.resample(librosa.to_mono(samples.T), orig_sr=sr, target_sr=22_050)
    expected = librosa.feature.chroma_stft(y=y22, sr=22_050, tuning=tuning).T
    assert array.shape == expected.shape == (1 + len(y22) // 512, 12)
    assert correlation(array, expected) > 0.999
    np.testing.assert_allclose(array, expected, atol=1e-3)


def test_precision_does_not_change_the_array() -> None:
    """The same STFT in float32 and float64 gives the same chroma (no estimate to flip)."""
    stft = from_audio("stft", click_track_mp3(), "sound-1", 600.0)
    assert stft.npy is not None
    magnitude = load_npy(stft.npy)
    from32 = chroma.compute(stft=magnitude)
    from64 = librosa.feature.chroma_stft(
        S=magnitude.T.astype(np.float64) ** 2, sr=22_050, tuning=chroma.TUNING
    ).T
    np.testing.assert_allclose(from32, from64, atol=1e-5)


def test_the_tuning_is_documented() -> None:
    assert chroma.VERSION >= 2  # version 1 estimated the tuning per sound
    assert chroma.PARAMS["tuning"] == 0.0
    assert "params.tuning" in chroma.ABOUT and "tuning=0.0" in chroma.ABOUT
