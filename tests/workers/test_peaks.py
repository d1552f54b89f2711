"""The peaks bot: min and max per block of 256 samples of the 22,050 Hz mono signal, as
audiowaveform computes them, published as a (blocks, 2) .npy array like the other bots."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest

from tests.workers.audio_server import encode
from workers.bots import BOTS
from workers.bots.compute import from_audio
from workers.features import peaks
from workers.sdk.arrays import load_npy


def test_min_and_max_of_each_block() -> None:
    y = np.zeros(1000, dtype=np.float32)
    y[10] = 0.5
    y[300] = -0.25
    y[999] = 0.75  # in the last, short block (768..999)
    got = peaks.compute(y=y, sr=22_050)
    assert got.dtype == np.float32 and got.shape == (4, 2)
    np.testing.assert_array_equal(got, [[0.0, 0.5], [-0.25, 0.0], [0.0, 0.0], [0.0, 0.75]])


def test_equals_a_direct_computation_after_resampling() -> None:
    t = np.arange(44_100 * 2) / 44_100
    y = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)]).astype(
        np.float32
    )
    mono = librosa.resample(librosa.to_mono(y), orig_sr=44_100, target_sr=22_050)
    blocks = -(-mono.size // 256)
    want = [
        [mono[i * 256 : (i + 1) * 256].min(), mono[i * 256 : (i + 1) * 256].max()]
        for i in range(blocks)
    ]
    got = peaks.compute(y=y, sr=44_100)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.all(got[:, 0] <= got[:, 1])
    assert got.shape[0] == pytest.approx(2 * peaks.FRAME_RATE, abs=1)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="samples_per_block"):
        peaks.compute(y=np.zeros(10, dtype=np.float32), sr=22_050, samples_per_block=0)
    with pytest.raises(ValueError, match="non-empty"):
        peaks.compute(y=np.zeros(0, dtype=np.float32), sr=22_050)


def test_the_bot_publishes_a_time_by_min_max_array() -> None:
    assert BOTS["peaks"].follows == "sound"
    t = np.arange(22_050) / 22_050
    wav = encode((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr=22_050, format="WAV")
    computed = from_audio("peaks", wav, "sound-1", 3600.0)
    assert computed.npy is not None and computed.metadata is not None
    array = load_npy(computed.npy)
    assert array.shape == (-(-22_050 // 256), 2)
    meta = computed.metadata
    assert meta["axes"] == ["time", "minMax"] and meta["dtype"] == "<f4"
    assert meta["shape"] == list(array.shape)
    assert meta["frameRate"] == pytest.approx(22_050 / 256)
    assert np.load(io.BytesIO(computed.npy))[:, 1].max() == pytest.approx(0.5, abs=0.01)
    assert computed.npy[meta["dataOffset"] :] == array.tobytes()
