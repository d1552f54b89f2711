"""Session-wide real services: PostgreSQL (migrated), Redis and an S3-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest
import redis as redis_sync

from api.db.engine import libpq_url
from api.db.migrate import upgrade
from tests import services


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
