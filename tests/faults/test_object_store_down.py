"""The object store unreachable: featurebot jobs fail as retryable (retried with backoff, never
recorded as failed), and once the store is back the same jobs succeed, each exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from arq.connections import RedisSettings, create_pool
from minio import Minio

from api.settings import Settings
from tests.factories import make_sounds, make_user, sound_input, unique
from tests.server import GraphQLClient
from tests.services import free_port, wait_http
from tests.workers.audio_server import AudioServer
from tests.workers.support import failures_by_source, running, tone_wav, wait_for
from workers.arq_settings import WorkerOptions
from workers.failures import RetryPolicy
from workers.sdk.arrays import bucket_name

NOTES = """query($id: ID!) { node(id: $id) { ... on Sound {
  annotations { edges { node { createdBy { name } dataUrl } } } } } }"""


class Moto:
    """An S3-compatible server on a fixed port, so the worker's endpoint stays valid across
    restarts. Moto keeps nothing across one (MinIO keeps its buckets): `start` recreates the
    bucket, as a restored store would have it."""

    def __init__(self, port: int, bucket: str) -> None:
        self.endpoint = f"127.0.0.1:{port}"
        self.port = port
        self.bucket = bucket
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(f"http://{self.endpoint}/moto-api/", timeout=30)
        store = Minio(self.endpoint, access_key="testing", secret_key="testing", secure=False)
        store.make_bucket(self.bucket)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


async def _stft_notes(gql: GraphQLClient, sound: str) -> list[dict[str, str]]:
    edges = (await gql(NOTES, {"id": sound}))["node"]["annotations"]["edges"]
    return [e["node"] for e in edges if e["node"]["createdBy"]["name"] == "stft"]


@pytest.mark.slow
async def test_jobs_retry_while_the_store_is_down_and_succeed_after(
    settings: Settings, api_url: str, gql: GraphQLClient
) -> None:
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    worker_settings = settings.model_copy(
        update={
            "public_url": api_url,
            "s3_endpoint": endpoint,
            "s3_access_key": "testing",
            "s3_secret_key": "testing",
        }
    )
    namespace = unique("faults-s3")
    policy = RetryPolicy(max_tries=30, backoff_seconds=0.5, max_backoff_seconds=2.0)
    options = WorkerOptions(namespace=namespace, processes=1, policy=policy)
    redis = await create_pool(RedisSettings.from_dsn(settings.redis_url or ""))
    dataset = await make_user(gql)
    await make_sounds(gql, dataset, [sound_input()])  # the listener starts after this one
    moto = Moto(port, bucket_name(bot="stft"))
    moto.start()
    try:
        with AudioServer() as audio:
            audio.add("/tone.wav", body=tone_wav())
            async with running(worker_settings, options, bot="stft"):
                moto.stop()  # the store goes away before the job runs
                [sound] = await make_sounds(
                    gql,
                    dataset,
                    [sound_input(audioUrl=audio.url("/tone.wav"), durationSeconds=1)],
                )
                retries = f"arq:retry:stft:{sound['id']}:*"

                async def retried() -> bool:
                    return bool(await redis.keys(retries))

                await wait_for(retried, within=60)
                await asyncio.sleep(2)  # a few more tries against the dead store
                assert await _stft_notes(gql, sound["id"]) == []
                assert sound["id"] not in await failures_by_source(worker_settings, namespace)

                await asyncio.to_thread(moto.start)  # back, on the same endpoint

                async def published() -> list[dict[str, str]]:
                    return await _stft_notes(gql, sound["id"])

                notes = await wait_for(published, within=90)
                assert len(notes) == 1
                assert notes[0]["dataUrl"].startswith(f"http://{endpoint}/")
                assert sound["id"] not in await failures_by_source(worker_settings, namespace)
    finally:
        moto.stop()
        await redis.aclose()
