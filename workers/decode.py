"""Decoding a fetched sound into samples: libsndfile from memory, audioread as a fallback.

`decode_audio` tries libsndfile (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...) from memory and
falls back to audioread for other formats only when ffmpeg or GStreamer is installed.
libsndfile's frames are read in blocks of `BLOCK_FRAMES` and de-interleaved (or mixed) block by
block while they are in cache: one pass over the samples instead of decoding everything
interleaved and transposing it afterwards (a 300 s stereo file: 65 ms instead of 85 ms).
`decode_mono` mixes each block as it goes, for the bots, which analyse the mono mix only
(16-bit PCM in integers: the same floats, a third of the time).
Each function takes the file's bytes or a path: the worker spools a fetched sound to a file,
which libsndfile then reads in place (no copy of the body in memory).
"""

from __future__ import annotations

import functools
import io
import os
import re
import tempfile

import numpy as np
import soundfile as sf

from workers.errors import DecodeError, NotAudio

__all__ = ["BLOCK_FRAMES", "decode_audio", "decode_mono", "duration_seconds", "refuse_markup"]

Source = bytes | str | os.PathLike[str]
"""An audio file's bytes, or the path of the file."""
SNIFF_BYTES = 1024
BLOCK_FRAMES = 1 << 16
"""Frames libsndfile decodes at a time (256 KiB per channel of float32: stays in cache)."""
# Integer PCM (and the companded codes) cannot decode to NaN or infinity: no need to look.
_INTEGER_SUBTYPES = frozenset(
    {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ALAW", "ULAW", "DWVW_12", "DWVW_16"}
)
# libsndfile clamps a WAV/AIFF whose data chunk runs past the end of the file to what is
# there, logging "data : 176400 (should be 88178)"; sizes streaming writers leave unset
# (0xFFFFFFFF) are not truncation.
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
_PLACEHOLDER_SIZES = {0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFE}


def refuse_markup(prefix: bytes, *, what: str) -> None:
    """NotAudio if the bytes start like an HTML/XML document (no audio format starts with '<')."""
    head = prefix[:SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<") and b"\x00" not in head:
        raise NotAudio(f"{what} is an HTML or XML page, not audio")


def decode_audio(data: Source) -> tuple[np.ndarray, int]:
    """Decode a whole audio file held in memory.

    Returns
    -------
    y : np.ndarray, float32, shape (channels, samples), C-contiguous
        Channels first (librosa's multichannel layout), nominally in [-1, 1]; mono files
        give shape (1, samples). Mix with `y.mean(axis=0)` or pass it to a feature as is.
    sr : int
        Sample rate in Hz.

    Raises `NotAudio` for an HTML/XML page and `DecodeError` for empty, truncated,
    sample-less, non-finite or undecodable data; never anything else for bad input.
    """
    return _decode(data, mono=False)


def decode_mono(data: Source) -> tuple[np.ndarray, int]:
    """Decode a whole audio file held in memory into its mono mix.

    Returns
    -------
    y : np.ndarray, float32, shape (samples,), C-contiguous
        ``np.mean(decode_audio(data)[0], axis=0)`` bit for bit (what `librosa.to_mono` gives),
        computed block by block without the whole multichannel array.
    sr : int
        Sample rate in Hz.

    Raises like `decode_audio`.
    """
    return _decode(data, mono=True)


def _head(data: Source) -> bytes:
    """The first SNIFF_BYTES of the file (all of it when shorter)."""
    if isinstance(data, bytes):
        return data[:SNIFF_BYTES]
    with open(data, "rb") as file:
        return file.read(SNIFF_BYTES)


def _opened(data: Source) -> io.BytesIO | str:
    """What soundfile opens: the bytes as a file, or the path."""
    return io.BytesIO(data) if isinstance(data, bytes) else os.fspath(data)


def _decode(data: Source, *, mono: bool) -> tuple[np.ndarray, int]:
    head = _head(data)
    if not head:
        raise DecodeError("the file is empty (0 bytes)")
    refuse_markup(head, what="the file")
    try:
        return _decode_soundfile(data, mono=mono)
    except (sf.SoundFileError, RuntimeError, ValueError, EOFError) as exc:
        reason = getattr(exc, "error_string", None) or str(exc)
    y, sr = _decode_audioread(data, soundfile_reason=reason)
    return (_mix(y) if mono else y), sr


def _mix(y: np.ndarray) -> np.ndarray:
    """Mean of the channels of a C-contiguous (channels, n) block, as librosa.to_mono does."""
    return np.mean(y, axis=0)


def _decode_soundfile(data: Source, *, mono: bool) -> tuple[np.ndarray, int]:
    with sf.SoundFile(_opened(data)) as audio:
        declared, sr, log = audio.frames, audio.samplerate, audio.extra_info
        capacity = max(declared, 0)
        if mono and audio.subtype == "PCM_16" and audio.channels <= MAX_INTEGER_MIX:
            y = _read_pcm16_mono(audio, capacity=capacity)
        else:
            y = _read_blocks(audio, capacity=capacity, mono=mono)
        integer = audio.subtype in _INTEGER_SUBTYPES
    return _checked(y, sr, declared=declared, log=log, finite=integer)


def _room(out: np.ndarray, position: int, n: int) -> np.ndarray:
    """`out`, or a copy of its first `position` frames with room for `n` more (at least
    doubled) when the header undercounted the frames."""
    if position + n <= out.shape[-1]:
        return out
    grown = np.empty((*out.shape[:-1], max(2 * out.shape[-1], position + n)), np.float32)
    grown[..., :position] = out[..., :position]
    return grown


def _read_blocks(audio: sf.SoundFile, *, capacity: int, mono: bool) -> np.ndarray:
    """All frames, (channels, n) or mixed to (n,), into one array sized from the header (grown
    if the header undercounts)."""
    channels = audio.channels
    shape = (capacity,) if mono else (channels, capacity)
    out = np.empty(shape, dtype=np.float32)
    buffer = np.empty((BLOCK_FRAMES, channels), dtype=np.float32)
    position = 0
    while True:
        block = audio.read(BLOCK_FRAMES, dtype="float32", always_2d=True, out=buffer)
        n = len(block)
        if n == 0:
            break
        out = _room(out, position, n)
        planar = np.ascontiguousarray(block.T)
        if mono:
            out[position : position + n] = _mix(planar)
        else:
            out[:, position : position + n] = planar
        position += n
    return out[..., :position]


MAX_INTEGER_MIX = 256
"""Channels up to which a 16-bit mix is exact in float32 (sums of at most 2**23 steps)."""
_STEP = np.float32(2.0**-15)
"""libsndfile's float of a 16-bit sample is the sample times 2**-15 (exact in float32)."""


def _read_pcm16_mono(audio: sf.SoundFile, *, capacity: int) -> np.ndarray:
    """`_read_blocks(..., mono=True)` of a 16-bit PCM file, bit for bit, three times faster:
    the samples are read as integers (libsndfile copies them instead of converting each to
    float) and summed across channels in int32. The float mean of the channels is exact up
    to its one division (every partial sum is a multiple of 2**-15 within float32's 24 bits),
    so the integer sum times 2**-15, divided by the channel count, is the same float32."""
    channels = audio.channels
    out = np.empty(capacity, dtype=np.float32)
    buffer = np.empty((BLOCK_FRAMES, channels), dtype=np.int16)
    total = np.empty(BLOCK_FRAMES, dtype=np.int32)
    position = 0
    while True:
        block = audio.read(BLOCK_FRAMES, dtype="int16", always_2d=True, out=buffer)
        n = len(block)
        if n == 0:
            break
        out = _room(out, position, n)
        target = out[position : position + n]
        if channels == 1:
            np.multiply(block[:, 0], _STEP, out=target, dtype=np.float32)
        else:
            summed = total[:n]
            np.add(block[:, 0], block[:, 1], out=summed, dtype=np.int32)
            for channel in range(2, channels):
                summed += block[:, channel]
            np.multiply(summed, _STEP, out=target, dtype=np.float32)
            target /= np.float32(channels)
        position += n
    return out[:position]


def _checked(
    y: np.ndarray, sr: int, *, declared: int, log: str = "", finite: bool = False
) -> tuple[np.ndarray, int]:
    """`y` C-contiguous float32 after the truncation and (unless `finite`) NaN/inf checks."""
    read = y.shape[-1]
    if read == 0:
        raise DecodeError("the file contains no audio samples (empty or truncated)")
    for size, actual in _SHORT_CHUNK.findall(log):
        if int(size) not in _PLACEHOLDER_SIZES and int(size) > int(actual):
            raise DecodeError(f"truncated: header announces {size} audio bytes, {actual} remain")
    if declared > 0 and declared - read > max(declared // 100, 1):
        raise DecodeError(f"truncated: the header announces {declared} frames, {read} decoded")
    if not finite and not np.all(np.isfinite(y)):
        raise DecodeError("the file contains NaN or infinite samples")
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


@functools.cache
def _audioread_backends() -> tuple[type, ...]:
    """audioread decoders that add formats beyond libsndfile: ffmpeg, GStreamer (if present)."""
    from audioread import ffdec

    backends: list[type] = [ffdec.FFmpegAudioFile] if ffdec.available() else []
    try:
        from audioread import gstdec

        backends.append(gstdec.GstAudioFile)
    except Exception:  # PyGObject or GStreamer missing or broken
        pass
    return tuple(backends)


def _decode_audioread(data: Source, *, soundfile_reason: str) -> tuple[np.ndarray, int]:
    import audioread

    backends = _audioread_backends()
    if not backends:
        raise DecodeError(
            f"unsupported or corrupt audio ({soundfile_reason}); other formats need ffmpeg "
            "or GStreamer, and neither is installed"
        )
    with tempfile.NamedTemporaryFile(suffix=".audio") as tmp:
        if isinstance(data, bytes):
            tmp.write(data)
            tmp.flush()
        path = tmp.name if isinstance(data, bytes) else os.fspath(data)
        try:
            with audioread.audio_open(path, backends=list(backends)) as audio:
                sr, channels, duration = int(audio.samplerate), int(audio.channels), audio.duration
                pcm = b"".join(audio)
        except (audioread.DecodeError, OSError, EOFError, ValueError) as exc:
            raise DecodeError(f"unsupported or corrupt audio ({soundfile_reason}; {exc})") from None
    if channels <= 0 or sr <= 0:
        raise DecodeError(f"unsupported or corrupt audio ({soundfile_reason}; no audio stream)")
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    usable = len(samples) // channels * channels
    declared = int((duration or 0) * sr)  # from the container header, as ffmpeg reports it
    planar = samples[:usable].reshape(-1, channels).T
    return _checked(planar, sr, declared=declared, finite=True)  # from 16-bit integers


def duration_seconds(data: Source) -> float:
    """Duration of an audio file from its header (cheap: no full decode when libsndfile can).

    MP3 durations come from the Xing/LAME header or are estimated from the file size.
    Raises `DecodeError`/`NotAudio` like `decode_audio`.
    """
    try:
        info = sf.info(_opened(data))
        if info.samplerate > 0 and info.frames > 0:
            return float(info.frames) / float(info.samplerate)
    except (sf.SoundFileError, RuntimeError, ValueError, EOFError):
        pass
    y, sr = decode_audio(data)
    return y.shape[1] / sr
