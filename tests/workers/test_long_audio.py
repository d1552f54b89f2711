"""An hour of silence: a clean result where it fits the limit, a recorded failure where not."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import soundfile as sf

from api.settings import Settings
from tests.factories import make_sounds, make_user, sound_input
from tests.server import GraphQLClient
from tests.workers.audio_server import AudioServer
from tests.workers.support import failures_by_source, running, wait_for
from workers.arq_settings import WorkerOptions

HOUR = 3600.0
NOTES = """query($id: ID!) { node(id: $id) { ... on Sound {
  annotations { edges { node { createdBy { name } tags metadata } } } } } }"""


def hour_of_silence() -> bytes:
    """One hour of digital silence at 8 kHz as FLAC: tiny on the wire, 28.8 M samples."""
    out = io.BytesIO()
    sf.write(out, np.zeros(int(HOUR) * 8000, dtype=np.int16), 8000, format="FLAC")
    return out.getvalue()


async def test_an_hour_of_silence_is_analysed_and_tagged_silent(
    worker_settings: Settings, gql: GraphQLClient, namespace: str
) -> None:
    dataset = await make_user(gql)
    await make_sounds(gql, dataset, [sound_input()])  # the stream is not empty
    options = WorkerOptions(namespace=namespace, processes=1, poll_delay=0.05)
    with AudioServer() as server:
        server.add("/hour.flac", body=hour_of_silence())
        async with running(worker_settings, options, bot="loudness"):
            [sound] = await make_sounds(
                gql, dataset, [sound_input(audioUrl=server.url("/hour.flac"), durationSeconds=HOUR)]
            )

            async def annotated() -> list[dict[str, Any]]:
                edges = (await gql(NOTES, {"id": sound["id"]}))["node"]["annotations"]["edges"]
                return [e["node"] for e in edges if e["node"]["createdBy"]["name"] == "loudness"]

            [note] = await wait_for(annotated, within=120)
    assert note["tags"] == ["silent"]
    frames = note["metadata"]["shape"][0]
    assert abs(frames - HOUR * note["metadata"]["frameRate"]) <= 2


async def test_a_sound_over_the_duration_limit_is_a_recorded_failure(
    worker_settings: Settings, gql: GraphQLClient, namespace: str
) -> None:
    limited = worker_settings.model_copy(update={"fetch_max_seconds": 600.0})
    dataset = await make_user(gql)
    await make_sounds(gql, dataset, [sound_input()])
    options = WorkerOptions(namespace=namespace, processes=1, poll_delay=0.05)
    with AudioServer() as server:
        server.add("/hour.flac", body=hour_of_silence())
        async with running(limited, options):
            [sound] = await make_sounds(
                gql, dataset, [sound_input(audioUrl=server.url("/hour.flac"), durationSeconds=HOUR)]
            )

            async def failed() -> dict[str, Any]:
                return await failures_by_source(limited, namespace)

            failure = (await wait_for(failed))[sound["id"]]
    assert (failure.code, failure.tries) == ("too_long", 1)
    assert "3600 s" in failure.reason and "600 s" in failure.reason
