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
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from api.services import cursors, streams
from api.services.live import LiveReader
from api.services.pagination import PageRequest
from api.services.reading import Kind, list_page

R = TypeVar("R")

PAGE_SIZE = 500
POLL_SECONDS = 5.0
PAGES_AHEAD = 8
"""Page ends a long compiled catch-up asks for at once (`CatchUpReads.ends`)."""
READS_IN_FLIGHT = 3
"""Pages of a long compiled catch-up read at once, between ends already known. With the ends
read ahead as well, a catch-up holds up to 4 read-pool connections (of `db_pool_size`, within
`max_connections_per_request`), and only while it is long. Replay of 20,000 items per item ÷
asyncpg, alternating runs: 0.55, 0.52, 0.56, 0.57 with 3, against 0.49, 0.50, 0.52, 0.54
with 2; batched 0.73, 0.68, 0.76, 0.71 against 0.63, 0.64, 0.72, 0.75."""


class RenderedPage(list[bytes]):
    """A catch-up page already written by the caller's `render` (one edge's JSON per item,
    UTF-8, in cursor order): `last` is its last item's cursor, `more` whether the read found
    more."""

    last: str
    more: bool


class CatchUpReads(Protocol):
    """A subscription's own catch-up reads, its selection compiled to SQL."""

    async def page(self, after: str | None, through: uuid.UUID | None, size: int) -> RenderedPage:
        """The items after `after` (through id `through` when given, at most `size`), each
        item's JSON written."""
        ...

    async def ends(
        self, after: str, through: uuid.UUID | None, size: int, count: int
    ) -> list[uuid.UUID]:
        """The ids of the `size`-th, 2·`size`-th… matching items after `after` (through
        `through`), at most `count` of them: where the next pages end, nothing rendered."""
        ...


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
    render: CatchUpReads | None = None,
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
    render: CatchUpReads | None = None,
) -> AsyncGenerator[Any, None]:
    """Pages of `kind` matching `filter` after `after` (up to id `through` when given) until
    the read comes back short. The next page is read while the consumer sends this one (a
    full page says more follow), so catching up overlaps the database with the socket."""
    if render is not None:
        pages = _compiled_pages(render, kind.name, after, page_size, through, on_page)
        async with contextlib.aclosing(pages):
            async for rendered in pages:
                yield rendered
        return

    def read(after: str | None) -> asyncio.Future[Any]:
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
            items = [(page.cursor(index), item) for index, item in enumerate(page.items)]
            if page.has_next_page and items:
                pending = read(_last(items))
                await asyncio.sleep(0)  # the read starts (reaches PostgreSQL) before we send
            if items:
                yield items
    finally:
        await _cancel(pending)


async def _compiled_pages(
    reads: CatchUpReads,
    name: cursors.Kind,
    after: str | None,
    size: int,
    through: uuid.UUID | None,
    on_page: Callable[[], None] | None,
) -> AsyncGenerator[RenderedPage, None]:
    """`_pages` through compiled reads. Most catch-ups are one short read. When a read comes
    back full, the catch-up is long and goes faster than a page per round trip: the ends of
    the next `PAGES_AHEAD` pages are read first (ids only, the next batch of ends while this
    one's pages are read), then `READS_IN_FLIGHT` pages between known ends at once, sent in
    order. The ranges cannot change meanwhile: ids follow commit order, so nothing commits
    inside a range already read up to. What is left past the last end is read as usual."""
    in_flight: deque[asyncio.Future[RenderedPage]] = deque()
    ends: asyncio.Future[list[uuid.UUID]] | None = None
    try:
        page = await reads.page(after, through, size)
        while True:
            if page:
                if on_page is not None:
                    on_page()
                yield page
            if not page.more:
                return
            low = page.last
            ends = asyncio.ensure_future(reads.ends(low, through, size, PAGES_AHEAD))
            while ends is not None:
                batch = await ends
                ends = None
                if len(batch) == PAGES_AHEAD:  # the next batch while this one is read
                    ahead = cursors.encode(name, batch[-1])
                    ends = asyncio.ensure_future(reads.ends(ahead, through, size, PAGES_AHEAD))
                for end in batch:
                    in_flight.append(asyncio.ensure_future(reads.page(low, end, size)))
                    low = cursors.encode(name, end)
                    if len(in_flight) == READS_IN_FLIGHT:
                        await asyncio.sleep(0)  # the new read reaches PostgreSQL first
                        ranged = await in_flight.popleft()
                        if ranged:
                            if on_page is not None:
                                on_page()
                            yield ranged
            in_flight.append(asyncio.ensure_future(reads.page(low, through, size)))
            while len(in_flight) > 1:
                ranged = await in_flight.popleft()
                if ranged:
                    if on_page is not None:
                        on_page()
                    yield ranged
            page = await in_flight.popleft()  # past the last end: the usual read again
    finally:
        await _cancel(ends, *in_flight)


async def _cancel(*reads: asyncio.Future[Any] | None) -> None:
    """Cancel reads still running and wait until they are (their connections go back)."""
    for read in reads:
        if read is not None:
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read
