"""Following a stream: replay everything after a cursor from the database, then stay live.

The same loop serves both phases, so there is no seam to lose or repeat an item at: read the
next page after the cursor; when the reader has caught up, sleep until a commit of this kind
wakes it (or a slow poll timer fires, in case a wake-up was lost). Ids follow commit order
(`api.services.streams`), so `id > cursor` never skips a committed item. A slow consumer only
slows its own loop: it holds at most one page in memory and no queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from api.services import cursors, streams
from api.services.pagination import PageRequest
from api.services.reading import Kind, list_page

R = TypeVar("R")

PAGE_SIZE = 500
POLL_SECONDS = 5.0


async def newest_cursor(*, engine: AsyncEngine, kind: Kind[Any, Any]) -> str | None:
    """The cursor of the newest committed item of `kind` (None while there is none)."""
    async with engine.connect() as conn:
        newest = await streams.newest_id(conn, kind.name)
    return cursors.encode(kind.name, newest) if newest is not None else None


async def follow(
    *,
    engine: AsyncEngine,
    kind: Kind[R, Any],
    filter: Any,
    after: str | None,
    signal: Callable[[], asyncio.Event],
    page_size: int = PAGE_SIZE,
    poll_seconds: float = POLL_SECONDS,
    on_page: Callable[[], None] | None = None,
) -> AsyncIterator[tuple[str, R]]:
    """Yield `(cursor, record)` for every item of `kind` matching `filter` after `after`
    (from the current end when None), in cursor order, forever."""
    if after is not None:
        cursors.decode(kind.name, after)  # a bad cursor fails before anything is sent
    else:
        after = await newest_cursor(engine=engine, kind=kind)
    while True:
        wake = signal()  # taken before reading: a commit after the read still wakes us
        page = await list_page(
            engine=engine,
            kind=kind,
            filter=filter,
            request=PageRequest(first=page_size, after=after),
            max_size=page_size,
        )
        if on_page is not None:
            on_page()
        for index, item in enumerate(page.items):
            cursor = page.cursor(index)
            yield cursor, item
            after = cursor
        if not page.has_next_page:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
