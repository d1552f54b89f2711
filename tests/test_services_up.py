"""The suite's backing services are real and reachable over real connections."""

import asyncpg
import redis.asyncio as aioredis
from minio import Minio

from api.db.engine import libpq_url


async def test_postgres_is_migrated(database_url: str) -> None:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        tables = {
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname='public'"
            )
        }
    finally:
        await connection.close()
    assert {"users", "api_keys", "sounds", "annotations", "alembic_version"} <= tables


async def test_redis_answers(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()


def test_s3_server_speaks_s3(s3_endpoint: str) -> None:
    client = Minio(s3_endpoint, access_key="test", secret_key="testtest", secure=False)
    client.make_bucket("cochlea-smoke")
    assert "cochlea-smoke" in {b.name for b in client.list_buckets()}
