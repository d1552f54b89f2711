"""Fixtures for the worker tests: a local audio server, encoded test sounds, a safe client,
and what a worker needs: Redis, an API client, a key namespace of its own, its settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool

from api.settings import Settings
from tests.factories import unique
from tests.workers.audio_server import AudioServer, LoopbackOnlyTransport, encode, stereo_tone
from workers.sdk.client import ApiClient
from workers.ssrf import IPNetwork, parse_allow_networks


@pytest.fixture(scope="session")
def encoded() -> dict[str, bytes]:
    """One second of `stereo_tone()` as WAV, FLAC, OGG (Vorbis) and MP3, made by libsndfile."""
    y = stereo_tone()
    return {
        "wav": encode(y, format="WAV", subtype="PCM_16"),
        "flac": encode(y, format="FLAC", subtype="PCM_16"),
        "ogg": encode(y, format="OGG", subtype="VORBIS"),
        "mp3": encode(y, format="MP3", subtype="MPEG_LAYER_III"),
    }


@pytest.fixture
def audio_server() -> Iterator[AudioServer]:
    with AudioServer() as server:
        yield server


@pytest.fixture
def loopback() -> list[IPNetwork]:
    """The allow list that lets fetches reach the local test server (and nothing else)."""
    return parse_allow_networks("127.0.0.0/8")


@pytest.fixture
def tripwire() -> LoopbackOnlyTransport:
    return LoopbackOnlyTransport()


@pytest.fixture
def safe_client(tripwire: LoopbackOnlyTransport) -> Iterator[httpx.Client]:
    """An httpx client whose transport can only ever reach loopback addresses."""
    with httpx.Client(transport=tripwire, trust_env=False) as client:
        yield client


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    yield pool
    await pool.aclose()


@pytest.fixture
async def api(api_url: str) -> AsyncIterator[ApiClient]:
    async with ApiClient(url=api_url + "/graphql") as client:
        yield client


@pytest.fixture
def namespace() -> str:
    return unique("test-ns")


@pytest.fixture
def worker_settings(settings: Settings, api_url: str) -> Settings:
    """What a worker process would read from COCHLEA_*: the test services and this API."""
    return settings.model_copy(update={"public_url": api_url})
