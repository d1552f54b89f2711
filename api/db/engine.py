"""The async SQLAlchemy engine over asyncpg, built from a libpq-style URL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def asyncpg_url(url: str) -> str:
    """Turn `postgresql://…` (as users write it) into SQLAlchemy's `postgresql+asyncpg://…`.

    A unix-socket directory given as `?host=/path` (as pgserver reports it) is kept: asyncpg
    accepts it as a query parameter too.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    query = urlencode(parse_qsl(parts.query))
    return urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, query, parts.fragment))


def libpq_url(url: str) -> str:
    """The plain `postgresql://…` form, for tools that speak libpq or asyncpg directly."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def create_engine(
    url: str, *, pool_size: int = 10, statement_timeout_seconds: float = 0
) -> AsyncEngine:
    """An engine whose connections are checked before use, so a restarted database heals.

    With `statement_timeout_seconds`, PostgreSQL cancels any statement of these connections
    that runs longer (its `statement_timeout`, set once per connection)."""
    server_settings = {"application_name": "cochlea-api"}
    if statement_timeout_seconds > 0:
        server_settings["statement_timeout"] = str(max(1, round(statement_timeout_seconds * 1000)))
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": server_settings},
    )
