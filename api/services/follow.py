"""Following a stream: replay everything after a cursor from the database, then stay live.

Catching up reads the subscriber's own filtered pages after its cursor. Ids follow commit order
(`api.services.streams`), so `id > cursor` never skips a committed item. Once caught up:

- with a shared `LiveReader` (`api.services.live`, the API's sounds and annotations streams),
  the subscriber joins it, reads its own cursor up to the reader's head if it is behind, then
  takes the matching items the reader hands its tap: one database read per wake-up for all
  subscribers of a process. A subscriber too far behind drops back to catching up;
- without one (users), it sleeps until a commit of its kind wakes it, or a slow poll timer
  fires in case a wake-up was lost, and reads again itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from api.services import cursors, streams
from api.services.live import LiveReader
from api.services.pagination import PageRequest
from api.services.reading import Kind, list_page

R = TypeVar("R")

PAGE_SIZE = 500
POLL_SECONDS = 5.0


class RenderedPage(list[str]):
    """A catch-up page already written by the caller's `render` (one edge's JSON per item,
    in cursor order): `last` is its last item's cursor, `more` whether the read found more."""

    last: str
    more: bool


RenderPage = Callable[[str | None, uuid.UUID | None, int], Awaitable[RenderedPage]]
"""Reads the page after a cursor (through an id when given, at most so many items) and
writes its items' JSON: the subscription's own selection compiled to SQL."""


def _last(items: list[Any]) -> str:
    return items.last if type(items) is RenderedPage else items[-1][0]


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
    reader: LiveReader[R] | None = None,
) -> AsyncGenerator[tuple[str, R], None]:
    """Yield `(cursor, record)` for every item of `kind` matching `filter` after `after`
    (from the current end when None), in cursor order, forever."""
    pages = follow_pages(
        engine=engine,
        kind=kind,
        filter=filter,
        after=after,
        signal=signal,
        page_size=page_size,
        poll_seconds=poll_seconds,
        on_page=on_page,
        reader=reader,
    )
    async with contextlib.aclosing(pages):
        async for page in pages:
            for item in page:
                yield item


async def follow_pages(
    *,
    engine: AsyncEngine,
    kind: Kind[R, Any],
    filter: Any,
    after: str | None,
    signal: Callable[[], asyncio.Event],
    page_size: int = PAGE_SIZE,
    poll_seconds: float = POLL_SECONDS,
    on_page: Callable[[], None] | None = None,
    reader: LiveReader[R] | None = None,
    render: RenderPage | None = None,
) -> AsyncGenerator[list[tuple[str, R]], None]:
    """The same items as `follow`, a page at a time: each list holds what one read found
    (1 to `page_size` items, never empty), so a consumer catching up gets full pages and a
    live one gets each commit's items together. With a shared `reader`, live items come from
    it (`api.services.live`) instead of this subscriber's own reads. With `render`, catch-up
    pages are `RenderedPage`s it read and wrote (live items stay records)."""
    if after is not None:
        cursors.decode(kind.name, after)  # a bad cursor fails before anything is sent
    else:
        after = await newest_cursor(engine=engine, kind=kind)
    while True:
        wake = signal()  # taken before reading: a commit after the read still wakes us
        async with contextlib.aclosing(
            _pages(engine, kind, filter, after, page_size, None, on_page, render)
        ) as pages:
            async for items in pages:
                yield items
                after = _last(items)
        if reader is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
            continue
        own = cursors.decode(kind.name, after) if after is not None else None
        tap, head = await reader.join(filter=filter, after=own)
        try:
            if head is not None and (own is None or own < head):  # the reader is ahead of us
                async with contextlib.aclosing(
                    _pages(engine, kind, filter, after, page_size, head, on_page, render)
                ) as pages:
                    async for items in pages:
                        yield items
                        after = _last(items)
            while True:
                await tap.ready.wait()
                if tap.overflowed:  # too far behind: catch up from our own cursor again
                    break
                items = tap.take(page_size)
                if items:
                    if on_page is not None:
                        on_page()
                    yield items
                    after = items[-1][0]
        finally:
            reader.leave(tap)


async def _pages(
    engine: AsyncEngine,
    kind: Kind[R, Any],
    filter: Any,
    after: str | None,
    page_size: int,
    through: uuid.UUID | None,
    on_page: Callable[[], None] | None,
    render: RenderPage | None = None,
) -> AsyncGenerator[Any, None]:
    """Pages of `kind` matching `filter` after `after` (up to id `through` when given) until
    the read comes back short. The next page is read while the consumer sends this one (a
    full page says more follow), so catching up overlaps the database with the socket."""

    def read(after: str | None) -> asyncio.Future[Any]:
        if render is not None:
            return asyncio.ensure_future(render(after, through, page_size))
        return asyncio.ensure_future(
            list_page(
                engine=engine,
                kind=kind,
                filter=filter,
                request=PageRequest(first=page_size, after=after),
                max_size=page_size,
                extra=kind.table.c.id <= through if through is not None else None,
            )
        )

    pending: asyncio.Future[Any] | None = read(after)
    try:
        while pending is not None:
            page = await pending
            pending = None
            if on_page is not None:
                on_page()
            if type(page) is RenderedPage:
                items: list[Any] = page
                more = page.more
            else:
                items = [(page.cursor(index), item) for index, item in enumerate(page.items)]
                more = page.has_next_page
            if more and items:
                pending = read(_last(items))
            if items:
                yield items
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
