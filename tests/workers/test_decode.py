"""Block-by-block decoding: the same samples as libsndfile's whole-file read, and a mono mix
that is `librosa.to_mono` of them bit for bit, for any channel count and length."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
import soundfile as sf

from tests.workers.audio_server import encode
from workers.bots.compute import from_audio
from workers.decode import BLOCK_FRAMES, decode_audio, decode_mono
from workers.errors import DecodeError
from workers.features import bot_module

SR = 44_100


def _noise(frames: int, channels: int) -> np.ndarray:
    """(frames, channels) float32 in [-0.9, 0.9], soundfile's layout."""
    rng = np.random.default_rng(channels * 1000 + frames)
    return (0.9 * rng.uniform(-1, 1, size=(frames, channels))).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
@pytest.mark.parametrize("frames", [1, BLOCK_FRAMES, 2 * BLOCK_FRAMES + 17])
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_blocks_give_the_whole_file_read(channels: int, frames: int, subtype: str) -> None:
    data = encode(_noise(frames, channels), sr=SR, format="WAV", subtype=subtype)
    whole, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    y, sr = decode_audio(data)
    assert sr == SR and y.shape == (channels, frames) and y.flags.c_contiguous
    assert np.array_equal(y, whole.T)
    mono, sr = decode_mono(data)
    assert sr == SR and mono.shape == (frames,) and mono.dtype == np.float32
    assert mono.flags.c_contiguous
    # bit for bit what librosa.load does with the same samples (to_mono of channels first)
    assert np.array_equal(mono, librosa.to_mono(np.ascontiguousarray(whole.T)))


@pytest.mark.parametrize("channels", [1, 2, 3, 5, 8])
def test_16_bit_mix_at_full_scale_is_librosas(channels: int) -> None:
    """16-bit PCM mixes in integers: at the extremes (-32768, 32767, one step, zero, in
    every combination across channels) it is still `librosa.to_mono` bit for bit."""
    rng = np.random.default_rng(channels)
    codes = np.array([-32768, -32767, -1, 0, 1, 32766, 32767], dtype=np.int16)
    frames = rng.choice(codes, size=(2 * BLOCK_FRAMES + 5, channels))
    frames[:7] = codes[:, None]  # all channels at each extreme together
    buffer = io.BytesIO()
    sf.write(buffer, frames, SR, format="WAV", subtype="PCM_16")
    whole, _ = sf.read(io.BytesIO(buffer.getvalue()), dtype="float32", always_2d=True)
    mono, _ = decode_mono(buffer.getvalue())
    assert np.array_equal(mono, librosa.to_mono(np.ascontiguousarray(whole.T)))
    assert mono[0] == -1.0 and mono[6] == np.float32(32767 / 32768)


def test_mono_of_a_float_file_with_nan_is_refused() -> None:
    y = _noise(1000, 2)
    y[500, 1] = np.nan
    data = encode(y, sr=SR, format="WAV", subtype="FLOAT")
    for decode in (decode_audio, decode_mono):
        with pytest.raises(DecodeError, match="NaN"):
            decode(data)


@pytest.mark.parametrize("bot", ["stft", "loudness", "peaks"])
def test_bots_on_the_mono_mix_equal_the_bots_on_all_channels(bot: str) -> None:
    """The job decodes straight to the mono mix: same array as computing on every channel."""
    data = encode(_noise(3 * SR, 2), sr=SR, format="FLAC", subtype="PCM_16")
    y, sr = decode_audio(data)
    expected = bot_module(bot).compute(y=y, sr=sr)
    computed = from_audio(bot, data, "sound-1", 600.0)
    assert computed.npy is not None
    stored = np.load(io.BytesIO(computed.npy))
    assert stored.dtype == np.float32 and np.array_equal(stored, expected)
