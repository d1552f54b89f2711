"""Each featurebot's output equals what a user computes directly with librosa on the same audio."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest

from workers import features
from workers.features import chroma, loudness, mel, mfcc, onsets, stft

SR44 = 44_100
SR22 = 22_050
SECONDS = 3.0
CLICKS = (0.5, 1.1, 1.7, 2.4)


def _t(sr: int) -> np.ndarray:
    return np.arange(int(SECONDS * sr)) / sr


def sine(*, sr: int, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * _t(sr))).astype(np.float32)


def stereo(*, sr: int) -> np.ndarray:
    """(2, samples): an A4 chord-ish left, noise plus a fifth right."""
    noise = np.random.default_rng(1).standard_normal(len(_t(sr))) * 0.05
    right = sine(sr=sr, hz=660.0, amplitude=0.3) + noise.astype(np.float32)
    return np.stack([sine(sr=sr), right])


def click_track(*, sr: int) -> np.ndarray:
    """Short decaying noise bursts at CLICKS seconds over near-silence."""
    rng = np.random.default_rng(2)
    y = rng.standard_normal(len(_t(sr))) * 1e-4
    burst = rng.standard_normal(int(0.03 * sr)) * np.exp(-np.linspace(0, 8, int(0.03 * sr)))
    for at in CLICKS:
        start = int(at * sr)
        y[start : start + len(burst)] += 0.8 * burst
    return y.astype(np.float32)


def reference_mono22k(y: np.ndarray, sr: int) -> np.ndarray:
    """What a user does first: librosa.load(sr=22050, mono=True) on decoded samples."""
    mono = librosa.to_mono(y) if y.ndim == 2 else y
    return mono if sr == SR22 else librosa.resample(mono, orig_sr=sr, target_sr=SR22)


SIGNALS = {
    "sine-44k-mono": (sine(sr=SR44), SR44),
    "sine-22k-mono": (sine(sr=SR22), SR22),
    "stereo-44k": (stereo(sr=SR44), SR44),
    "stereo-22k": (stereo(sr=SR22), SR22),
    "clicks-44k": (click_track(sr=SR44), SR44),
}


@pytest.fixture(scope="module", params=list(SIGNALS), ids=list(SIGNALS))
def signal(request: pytest.FixtureRequest) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """(y, sr, mono 22.05 kHz reference, stft bot output) for each test signal."""
    y, sr = SIGNALS[request.param]
    return y, sr, reference_mono22k(y, sr), stft.compute(y=y, sr=sr)


def _frames(y22: np.ndarray) -> int:
    return 1 + len(y22) // 512


def test_stft_matches_librosa(signal: tuple[np.ndarray, int, np.ndarray, np.ndarray]) -> None:
    _, _, y22, spectrogram = signal
    expected = np.abs(librosa.stft(y22, n_fft=2048, hop_length=512)).T
    assert spectrogram.shape == (_frames(y22), 1025) == expected.shape
    assert spectrogram.dtype == np.float32 and spectrogram.flags.c_contiguous
    np.testing.assert_array_equal(spectrogram, expected)  # the same steps, frames first


def test_mel_from_stft_matches_librosa_from_audio(
    signal: tuple[np.ndarray, int, np.ndarray, np.ndarray],
) -> None:
    _, _, y22, spectrogram = signal
    result = mel.compute(stft=spectrogram)
    expected = librosa.power_to_db(librosa.feature.melspectrogram(y=y22, sr=SR22, n_mels=128)).T
    assert result.shape == (_frames(y22), 128) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-3)


def test_chroma_from_stft_matches_librosa_from_audio(
    signal: tuple[np.ndarray, int, np.ndarray, np.ndarray],
) -> None:
    _, _, y22, spectrogram = signal
    result = chroma.compute(stft=spectrogram)
    expected = librosa.feature.chroma_stft(y=y22, sr=SR22, tuning=chroma.PARAMS["tuning"]).T
    assert result.shape == (_frames(y22), 12) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-4)


def test_mfcc_from_stft_matches_librosa_from_audio(
    signal: tuple[np.ndarray, int, np.ndarray, np.ndarray],
) -> None:
    _, _, y22, spectrogram = signal
    result = mfcc.compute(stft=spectrogram)
    expected = librosa.feature.mfcc(y=y22, sr=SR22, n_mfcc=20).T
    assert result.shape == (_frames(y22), 20) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-2)


def test_loudness_matches_librosa(signal: tuple[np.ndarray, int, np.ndarray, np.ndarray]) -> None:
    y, sr, y22, _ = signal
    result = loudness.compute(y=y, sr=sr)
    rms = librosa.feature.rms(y=y22, frame_length=2048, hop_length=512)[0]
    expected = librosa.amplitude_to_db(rms, ref=1.0, top_db=None)
    assert result.shape == (_frames(y22),) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-3)


def test_onsets_match_librosa(signal: tuple[np.ndarray, int, np.ndarray, np.ndarray]) -> None:
    y, sr, y22, _ = signal
    segments = onsets.compute(y=y, sr=sr)
    times = librosa.onset.onset_detect(y=y22, sr=SR22, backtrack=True, units="time")
    end = len(y22) / SR22
    assert [start for start, _ in segments] == pytest.approx(sorted(set(times.tolist())))
    for (start, duration), following in zip(segments, [*segments[1:], (end, 0.0)], strict=True):
        assert duration > 0
        assert start + duration == pytest.approx(following[0])
    assert all(isinstance(v, float) for segment in segments for v in segment)


def test_stereo_is_the_mean_of_its_channels() -> None:
    y = stereo(sr=SR22)
    np.testing.assert_allclose(
        stft.compute(y=y, sr=SR22), stft.compute(y=y.mean(axis=0), sr=SR22), atol=1e-4
    )


def test_spectral_content_is_where_it_should_be() -> None:
    spectrogram = stft.compute(y=sine(sr=SR44, hz=440.0, amplitude=1.0), sr=SR44)
    middle = spectrogram[20:-20]
    assert set(np.argmax(middle, axis=1).tolist()) == {round(440 * 2048 / SR22)}
    assert 350 < float(middle.max()) <= 512  # Hann window: a full-scale sine peaks near 512
    pitch = chroma.compute(stft=spectrogram)[20:-20]
    assert set(np.argmax(pitch, axis=1).tolist()) == {chroma.PITCH_CLASSES.index("A")}


def test_onsets_land_on_the_clicks() -> None:
    segments = onsets.compute(y=click_track(sr=SR44), sr=SR44)
    assert len(segments) == len(CLICKS)
    for (start, _), click in zip(segments, CLICKS, strict=True):
        assert click - 0.05 <= start <= click + 0.01
    last_start, last_duration = segments[-1]
    assert last_start + last_duration == pytest.approx(SECONDS, abs=1e-3)


def test_silence() -> None:
    silence = np.zeros(int(SECONDS * SR44), dtype=np.float32)
    levels = loudness.compute(y=silence, sr=SR44)
    assert np.all(levels == pytest.approx(-100.0))
    assert loudness.summary_tags(rms_db=levels) == ["silent"]
    assert onsets.compute(y=silence, sr=SR44) == []


def test_loudness_tags() -> None:
    hiss = np.random.default_rng(3).standard_normal(SR22).astype(np.float32) * 10 ** (-70 / 20)
    assert loudness.summary_tags(rms_db=loudness.compute(y=hiss, sr=SR22)) == ["silent"]
    speech_level = sine(sr=SR22, amplitude=0.1)  # about -23 dB
    levels = loudness.compute(y=speech_level, sr=SR22)
    assert float(np.median(levels)) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.1)
    assert loudness.summary_tags(rms_db=levels) == []
    full_scale = sine(sr=SR22, amplitude=1.0)  # -3 dB
    assert loudness.summary_tags(rms_db=loudness.compute(y=full_scale, sr=SR22)) == ["loud"]
    assert loudness.summary_tags(rms_db=np.array([], dtype=np.float32)) == ["silent"]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="channels, samples"):
        stft.compute(y=stereo(sr=SR22).T, sr=SR22)  # soundfile's (samples, channels) layout
    with pytest.raises(ValueError):
        stft.compute(y=np.zeros(0, dtype=np.float32), sr=SR22)
    with pytest.raises(ValueError, match="NaN"):
        loudness.compute(y=np.full(4096, np.nan, dtype=np.float32), sr=SR22)
    for bot in (mel, chroma, mfcc):
        with pytest.raises(ValueError, match="1025"):
            bot.compute(stft=np.zeros((10, 1024), dtype=np.float32))


@pytest.mark.parametrize("name", features.BOT_NAMES)
def test_bot_metadata(name: str) -> None:
    module = features.bot_module(name)
    assert module.NAME == name
    assert isinstance(module.VERSION, int) and module.VERSION >= 1
    assert json.loads(json.dumps(module.PARAMS)) == module.PARAMS
    assert isinstance(module.ABOUT, str) and len(module.ABOUT) > 200
    assert callable(module.compute)
    with pytest.raises(KeyError):
        features.bot_module("nonsense")


def test_frame_rate_constants() -> None:
    assert stft.FRAME_RATE == pytest.approx(22050 / 512)
    assert stft.SAMPLE_RATE == 22050
