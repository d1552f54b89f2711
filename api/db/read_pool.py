"""A plain asyncpg pool for the statements that only read: one round trip per statement.

Through SQLAlchemy's engine a read costs six round trips: the pre-ping (`BEGIN`, `;`,
`ROLLBACK`), the implicit `BEGIN`, the statement, the `ROLLBACK` on return. The compiled reads
(`api.graphql.compiled`) send one statement that builds the whole answer, so they take a
connection here instead, where a checkout sends nothing and a return sends nothing: no
transaction is ever opened (a lone `SELECT` is its own snapshot) and nothing in the session
is changed, so there is nothing to reset.

Without the pre-ping, a connection the server dropped (PostgreSQL restarted) is only found
when a statement fails on it. A read is safe to repeat, so `fetchval` retries it once on a
fresh connection; the pool then replaces its dead connections as they come back. Only when
the server is still unreachable does the error reach the client (SERVICE_UNAVAILABLE).

Connections carry the same `application_name` and `statement_timeout` as the engine's, so
the limits and what operators see in `pg_stat_activity` do not depend on the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from api.db.engine import libpq_url

# Errors that say the connection is gone or unusable, not that the statement was wrong. A
# connection whose operation was cut off as PostgreSQL went down can be left mid-protocol
# ("cannot switch to state 12; another operation (2) is in progress": InternalClientError).
_LOST = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on return: nothing to undo (see the module docstring), unless a
    statement was cancelled half-way inside a transaction."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class ReadPool:
    """Connections opened on first use, up to `size`; `fetchval`, `fetchrow` and `fetch` read."""

    def __init__(self, url: str, *, size: int, statement_timeout_seconds: float = 0) -> None:
        settings = {"application_name": "cochlea-api"}
        if statement_timeout_seconds > 0:
            settings["statement_timeout"] = str(max(1, round(statement_timeout_seconds * 1000)))
        self._url = libpq_url(url)
        self._size = size
        self._settings = settings
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        """Make the pool (it connects nothing yet: a database that is down fails reads, not
        the API's start)."""
        self._pool = await asyncpg.create_pool(
            self._url,
            min_size=0,
            max_size=self._size,
            reset=_keep_session,
            server_settings=self._settings,
        )

    async def fetchval(self, sql: str, args: Sequence[Any]) -> Any:
        """The first column of the first row of `sql` run with `args` ($1, $2… in order)."""
        return await self._run("fetchval", sql, args)

    async def fetchrow(self, sql: str, args: Sequence[Any]) -> asyncpg.Record | None:
        """The first row of `sql` run with `args`, or None."""
        row: asyncpg.Record | None = await self._run("fetchrow", sql, args)
        return row

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        """Every row of `sql` run with `args`."""
        rows: list[asyncpg.Record] = await self._run("fetch", sql, args)
        return rows

    async def _run(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        """`Connection.<method>` (fetchval, fetchrow, fetch) on a pooled connection, retried
        once on a fresh one when the first was lost (a read is safe to repeat)."""
        pool = self._pool
        if pool is None:
            raise RuntimeError("ReadPool.start() was not awaited")
        try:
            async with pool.acquire() as connection:
                return await getattr(connection, method)(sql, *args)
        except _LOST as error:
            pool.expire_connections()  # the others were opened before the same restart
            lost = error
        try:
            async with pool.acquire() as connection:
                return await getattr(connection, method)(sql, *args)
        except _LOST as again:  # still down: the lost connection says so (SERVICE_UNAVAILABLE)
            raise again from lost

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
