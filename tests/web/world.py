"""The data the browser tests look at, made through the public API as clients make it: a
dataset with enough sounds to page, a short tone with human segments and a synthetic feature
array, and files served by the API's own /files (same origin) or by a second origin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from api.settings import Settings
from tests.factories import Account, make_annotations, make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient
from tests.web.support import HostServer, feature_metadata, npy, tone_wav

FEATURE_FRAMES = 120
FEATURE_BINS = 12
FEATURE_RATE = 40.0  # frames per second: 120 frames = 3 s


def synthetic_feature() -> np.ndarray:
    """(120, 12) float32 in [0, 1]: bins rise in the first half, fall in the second."""
    ramp = np.arange(FEATURE_BINS, dtype=np.float32) / (FEATURE_BINS - 1)
    array = np.empty((FEATURE_FRAMES, FEATURE_BINS), dtype=np.float32)
    array[: FEATURE_FRAMES // 2] = ramp
    array[FEATURE_FRAMES // 2 :] = 1 - ramp
    return array


@dataclass
class World:
    api: str
    dataset: Account
    human: Account
    bot: Account
    password: str
    tone_id: str
    tone_url: str
    feature_url: str
    sound_ids: list[str]


async def build_world(api: str, settings: Settings, host: HostServer) -> World:
    files = Path(settings.data_dir) / "files" / "web"
    files.mkdir(parents=True, exist_ok=True)
    (files / "tone.wav").write_bytes(tone_wav(seconds=3.0))
    tone_url = f"{api}/files/web/tone.wav"
    feature = synthetic_feature()
    data, offset = npy(feature)
    feature_url = host.add("/feature.npy", data)
    async with httpx.AsyncClient(timeout=30) as http:
        gql = GraphQLClient(http, api + "/graphql")
        dataset = await make_user(gql, "DATASET")
        human = await make_user(gql, "HUMAN")
        bot = await make_user(gql, "FEATUREBOT", name=unique("chroma"))
        tone = (
            await make_sounds(
                gql,
                dataset,
                [
                    sound_input(
                        title="Tone for the browser",
                        audioUrl=tone_url,
                        durationSeconds=3.0,
                        tags=["tone", "a4"],
                    )
                ],
            )
        )[0]
        many = await make_sounds(
            gql,
            dataset,
            [
                sound_input(
                    title=f"Paged sound {i:02d}",
                    audioUrl=f"{tone_url}?copy={i}",
                    durationSeconds=3.0,
                    tags=["paged"],
                )
                for i in range(30)
            ],
        )
        await make_annotations(
            gql,
            human,
            [
                {
                    "sound": tone["id"],
                    "startSeconds": 0.5,
                    "durationSeconds": 0.5,
                    "tags": ["note", "a4"],
                },
                {
                    "sound": tone["id"],
                    "startSeconds": 1.8,
                    "durationSeconds": 0.6,
                    "tags": ["fade"],
                },
            ],
        )
        metadata: dict[str, Any] = feature_metadata(
            feature, offset, frame_rate=FEATURE_RATE, axes=["time", "pitchClass"]
        )
        await make_annotations(
            gql,
            bot,
            [
                {
                    "sound": tone["id"],
                    "startSeconds": 0,
                    "durationSeconds": 3.0,
                    "dataUrl": feature_url,
                    "metadata": metadata,
                }
            ],
        )
    return World(
        api=api,
        dataset=dataset,
        human=human,
        bot=bot,
        password="correct horse battery",
        tone_id=tone["id"],
        tone_url=tone_url,
        feature_url=feature_url,
        sound_ids=[tone["id"], *(s["id"] for s in many)],
    )
