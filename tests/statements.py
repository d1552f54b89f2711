"""Counting the statements the API sends, on every path: SQLAlchemy's engine (the resolvers,
the writes) and the read pool's plain asyncpg connections (the compiled reads). The API under
test runs in this process (`tests.server.running_api`), so both hooks see its traffic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def counting() -> Iterator[list[str]]:
    """The statements sent while the block runs, in order."""
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sent = asyncpg.Connection.fetchval, asyncpg.Connection.fetch

    async def counted_value(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
        statements.append(query)
        return await sent[0](self, query, *args, **kw)

    async def counted_rows(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
        statements.append(query)
        return await sent[1](self, query, *args, **kw)

    event.listen(Engine, "before_cursor_execute", count)
    asyncpg.Connection.fetchval = counted_value  # type: ignore[method-assign]
    asyncpg.Connection.fetch = counted_rows  # type: ignore[method-assign]
    try:
        yield statements
    finally:
        asyncpg.Connection.fetchval, asyncpg.Connection.fetch = sent  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", count)
