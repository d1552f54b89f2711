"""Two of everything on one machine: two API processes and two worker processes sharing one
PostgreSQL and Redis. Sounds written through either API get each bot's output exactly once
(the workers share the queues), and a follower of either API sees every annotation once, in
order, wherever it was written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import Settings
from tests.factories import make_sounds, make_user, sound_input
from tests.faults.traffic import MemoryCheckpoint, seed
from tests.server import GraphQLClient, api_process
from tests.workers.audio_server import AudioServer
from tests.workers.support import tone_wav, wait_for
from workers.bots import Namespace
from workers.sdk.stream import follow

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BOT = "loudness"
NOTES = """query($id: ID!) { node(id: $id) { ... on Sound {
  annotations { edges { node { id createdBy { name } } } } } } }"""


@contextmanager
def worker(settings: Settings, api_url: str, namespace: str, log: Path) -> Iterator[None]:
    """`python -m workers.main` for one bot, talking to `api_url`; SIGTERM on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCHLEA_")} | {
        "PYTHONPATH": str(ROOT),
        "COCHLEA_REDIS_URL": settings.redis_url or "",
        "COCHLEA_PUBLIC_URL": api_url,
        "COCHLEA_DATA_DIR": str(settings.data_dir),
        "COCHLEA_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",
    }
    argv = ["--namespace", namespace, "--bot", BOT, "--processes", "1"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.main", *argv],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def test_two_apis_two_workers_once_each(
    settings: Settings, api_url: str, gql: GraphQLClient, tmp_path: Path
) -> None:
    import redis.asyncio as aioredis

    namespace = f"scale-{os.getpid()}-{id(tmp_path) % 10_000}"
    dataset = await make_user(gql)
    [first] = await make_sounds(gql, dataset, [sound_input()])  # the listeners start after it
    with api_process(settings) as second_url, AudioServer() as audio:
        audio.add("/tone.wav", body=tone_wav())
        apis = [api_url, second_url]
        async with httpx.AsyncClient(timeout=60) as http:
            start = await seed(http, second_url, dataset.token, first["id"])
            seen: list[dict[str, Any]] = []

            async def listen() -> None:
                async for node in follow(
                    url=second_url + "/graphql",
                    field="annotationCreated",
                    selection="id sound { id } createdBy { name }",
                    checkpoint=MemoryCheckpoint(start),
                    filter={"creatorType": "FEATUREBOT"},
                    max_backoff=1.0,
                ):
                    seen.append(node)

            follower = asyncio.create_task(listen())
            redis = aioredis.Redis.from_url(settings.redis_url or "")
            with (
                worker(settings, apis[0], namespace, tmp_path / "w0.log"),
                worker(settings, apis[1], namespace, tmp_path / "w1.log"),
            ):

                async def listening() -> bool:
                    return bool(await redis.exists(Namespace(namespace).checkpoint(BOT)))

                await wait_for(listening, within=90)
                sounds = []
                for n in range(6):  # through either API, in turn
                    client = GraphQLClient(http, apis[n % 2] + "/graphql")
                    url = audio.url("/tone.wav") + f"?n={n}"  # one URL per sound
                    sounds += await make_sounds(
                        client, dataset, [sound_input(audioUrl=url, durationSeconds=1)]
                    )
                ids = {s["id"] for s in sounds}

                async def done() -> bool:
                    return len({n["sound"]["id"] for n in seen} & ids) == len(ids)

                await wait_for(done, within=120)
                await asyncio.sleep(2)  # anything doubled would show up by now
            await redis.aclose()
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

            mine = [n for n in seen if n["sound"]["id"] in ids]
            assert sorted(n["sound"]["id"] for n in mine) == sorted(ids), "one per sound"
            assert all(n["createdBy"]["name"] == BOT for n in mine)
            streamed = [n["id"] for n in seen]
            assert streamed == sorted(set(streamed)), "every annotation once, in order"
            for sound in sounds:  # and the database agrees, read through the other API
                edges = (await gql(NOTES, {"id": sound["id"]}))["node"]["annotations"]["edges"]
                by_bot = [e["node"]["id"] for e in edges if e["node"]["createdBy"]["name"] == BOT]
                assert len(by_bot) == 1, (sound, edges)
