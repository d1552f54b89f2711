"""Session-wide real services: PostgreSQL (migrated), Redis and an S3-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
import redis as redis_sync

from api.db.engine import libpq_url
from api.db.migrate import upgrade
from api.settings import Settings
from tests import services
from tests.factories import Account, make_sounds, make_user, sound_input
from tests.server import GraphQLClient, running_api


async def _reset_and_migrate(url: str) -> None:
    connection = await asyncpg.connect(libpq_url(url))
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()
    await upgrade(url)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated, empty PostgreSQL database for this test session."""
    with services.postgres() as url:
        asyncio.run(_reset_and_migrate(url))
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A flushed Redis database for this test session."""
    with services.redis() as url:
        client = redis_sync.Redis.from_url(url)
        client.flushdb()
        client.close()
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """host:port of an S3-compatible server reached over plain http."""
    with services.s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path_factory.mktemp("cochlea-data"),
        public_read=True,
        fetch_allow_networks="127.0.0.0/8",
    )


@pytest.fixture(scope="session")
def api_url(settings: Settings) -> Iterator[str]:
    """Base URL of a real uvicorn server running the API against the test services."""
    with running_api(settings) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient, api_url: str) -> GraphQLClient:
    return GraphQLClient(http, api_url + "/graphql")


@pytest.fixture
async def dataset(gql: GraphQLClient) -> tuple[Account, list[str]]:
    """A fresh dataset user with three sounds of 10, 20 and 30 seconds."""
    user = await make_user(gql, "DATASET")
    made = await make_sounds(gql, user, [sound_input(durationSeconds=s) for s in (10, 20, 30)])
    return user, [s["id"] for s in made]
