"""A long sound with a peaks array: the waveform draws from the peaks and the browser plays the
audio by Range requests, never downloading the whole file."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.factories import make_annotations, make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient
from tests.web.conftest import Watched
from tests.web.support import HostServer, feature_metadata, npy
from workers.features import peaks

pytestmark = pytest.mark.browser

MINUTES = 60
SR = 22_050
PATTERN = 256 * 86  # one block-aligned "bar" of audio, about 1 s


@dataclass
class Long:
    sound_id: str
    size: int
    audio_path: str


@pytest.fixture(scope="module")
async def long_sound(api_url: str, host: HostServer) -> AsyncIterator[Long]:
    t = np.arange(PATTERN) / SR
    bar = (0.6 * np.sin(2 * np.pi * 330 * t) * np.exp(-3 * t)).astype(np.float32)
    repeats = MINUTES * 60 * SR // PATTERN
    buffer = io.BytesIO()
    sf.write(buffer, bar, SR, format="WAV", subtype="PCM_U8")  # one bar: libsndfile's header...
    one = buffer.getvalue()
    samples = one[44:]
    assert one[36:40] == b"data" and len(samples) == PATTERN
    header = bytearray(one[:44])  # ...resized for the whole hour (RIFF and data chunk sizes)
    header[4:8] = (36 + PATTERN * repeats).to_bytes(4, "little")
    header[40:44] = (PATTERN * repeats).to_bytes(4, "little")
    audio = bytes(header) + samples * repeats
    envelope = np.tile(peaks.compute(y=bar, sr=SR), (repeats, 1))
    data, offset = npy(envelope)
    audio_url = host.add("/long.wav", audio)
    peaks_url = host.add("/long-peaks.npy", data)
    async with httpx.AsyncClient(timeout=30) as http:
        gql = GraphQLClient(http, api_url + "/graphql")
        dataset = await make_user(gql, "DATASET")
        bot = await make_user(gql, "FEATUREBOT", name=unique("peaks"))
        [sound] = await make_sounds(
            gql,
            dataset,
            [
                sound_input(
                    title="An hour of plucks",
                    audioUrl=audio_url,
                    durationSeconds=repeats * PATTERN / SR,
                )
            ],
        )
        metadata = feature_metadata(
            envelope, offset, frame_rate=peaks.FRAME_RATE, axes=["time", "minMax"]
        )
        await make_annotations(
            gql,
            bot,
            [
                {
                    "sound": sound["id"],
                    "startSeconds": 0,
                    "durationSeconds": sound["durationSeconds"],
                    "dataUrl": peaks_url,
                    "metadata": metadata,
                }
            ],
        )
    yield Long(sound_id=sound["id"], size=len(audio), audio_path="/long.wav")


async def test_a_long_sound_streams_and_is_never_fetched_whole(
    watched: Watched, api_url: str, host: HostServer, long_sound: Long
) -> None:
    page = watched.page
    await page.goto(f"{api_url}/sounds/{long_sound.sound_id}")
    await page.locator("[data-testid=waveform][data-phase=ready]").wait_for()
    await page.get_by_test_id("play").click()
    await page.wait_for_function("() => document.querySelector('audio').currentTime > 0.5")
    # seek far into the file: the browser asks for that range, it does not read up to it
    await page.evaluate("() => { const a = document.querySelector('audio'); a.currentTime = 900; }")
    await page.wait_for_function("() => document.querySelector('audio').currentTime > 900.3")
    served = host.paths[long_sound.audio_path]
    assert served.requests, "the audio was never requested"
    assert all(r and r.startswith("bytes=") for r in served.requests), served.requests
    assert any(r and not r.startswith("bytes=0-") for r in served.requests)  # the seek
    assert served.bytes_sent < long_sound.size / 2, (served.bytes_sent, long_sound.size)
    drawn = await page.evaluate(
        """() => { const c = document.querySelector('[data-testid=waveform] div').shadowRoot.querySelector('canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let ink = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++; return ink; }"""
    )
    assert drawn > 1000  # the envelope is painted from the peaks
    assert watched.console_errors == [] and watched.page_errors == [] and watched.blocked == []
