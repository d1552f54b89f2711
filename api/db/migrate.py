"""Apply Alembic migrations from code (`cochlea migrate`, `cochlea up`, the test suite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection

from api.db.engine import create_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: object, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`, holding an advisory lock so that several
    processes starting at once migrate one after another."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await _locked_upgrade(connection, revision)
    finally:
        await engine.dispose()


async def _locked_upgrade(connection: AsyncConnection, revision: str) -> None:
    from sqlalchemy import text

    await connection.execute(text("SELECT pg_advisory_xact_lock(7316001)"))
    await connection.run_sync(_upgrade, revision)


def upgrade_sync(url: str, revision: str = "head") -> None:
    asyncio.run(upgrade(url, revision))
