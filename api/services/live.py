"""Live delivery shared by a process's subscribers: one reader per stream kind (Hasura's
multiplexed streaming design).

Before, every commit woke every subscriber and each ran its own filtered SQL read: database
reads per commit grew with the subscriber count. Now a `LiveReader` per kind reads what is new
once after a wake-up (unfiltered, `id > head`, in pages) and hands each subscriber's `Tap` the
items its filter matches, matched in memory by `matches` (the same rules as
`api.services.filters`; tests check both agree). Order and exactly-once still come from the
database: ids follow commit order (`api.services.streams`), the reader moves `head` only after
handing a page to every tap, and a tap takes only ids above its `floor`.

Joining (`follow_pages` in `api.services.follow`): a subscriber catches up from its own cursor
with its own filtered pages, then `join`s. `join` returns the reader's `head` at that instant;
the tap receives exactly the items above it, so the subscriber first reads its own cursor up to
`head` (if it is behind) and then drains the tap from `max(cursor, head)`: no gap, no repeat.

Buffers are bounded: a tap holding more than `buffer` items is marked `overflowed` and emptied;
its subscriber leaves and catches up from its own cursor again. A slow consumer so costs memory
for at most `buffer` shared records and never delays the reader or the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db.tables import users_table
from api.services import cursors, streams
from api.services.filters import AnnotationFilter, SoundFilter, wanted_tags
from api.services.pagination import PageRequest
from api.services.reading import Kind, list_page
from api.services.records import AnnotationRecord, SoundRecord

log = logging.getLogger(__name__)

R = TypeVar("R")

PAGE_SIZE = 500
BUFFER_ITEMS = 2_000
"""Items a subscriber may have waiting before it is sent back to catching up."""
POLL_SECONDS = 5.0

CreatorTypes = dict[uuid.UUID, str]


def sound_matches(f: SoundFilter | None, r: SoundRecord, types: CreatorTypes) -> bool:
    """`api.services.filters.sound_conditions`, evaluated on a record."""
    if f is None:
        return True
    return (
        (f.created_by is None or r.created_by == f.created_by)
        and (f.creator_type is None or types.get(r.created_by) == f.creator_type)
        and (not f.tags or wanted_tags(f.tags) <= {t.lower() for t in r.tags})
        and (f.license is None or r.license == f.license)
    )


def annotation_matches(
    f: AnnotationFilter | None, r: AnnotationRecord, types: CreatorTypes
) -> bool:
    """`api.services.filters.annotation_conditions`, evaluated on a record."""
    if f is None:
        return True
    return (
        (f.sound is None or r.sound_id == f.sound)
        and (f.created_by is None or r.created_by == f.created_by)
        and (f.creator_type is None or types.get(r.created_by) == f.creator_type)
        and (not f.tags or wanted_tags(f.tags) <= {t.lower() for t in r.tags})
        and (f.with_tags is None or bool(r.tags) == f.with_tags)
        and (f.has_data is None or (r.data_url is not None) == f.has_data)
        and (
            f.time_range is None
            or (r.start_seconds < f.time_range.end and r.end_seconds > f.time_range.start)
        )
    )


MATCHERS: dict[str, Callable[[Any, Any, CreatorTypes], bool]] = {
    "sound": sound_matches,
    "annotation": annotation_matches,
}


class Shared(list[tuple[str, R]]):
    """Items as a reader handed them to every tap: the very same record objects reach each
    subscriber of the process, so what one renders of them the others may reuse."""


class Tap(Generic[R]):
    """One subscriber's place at a reader: the matching items above `floor`, at most `limit`."""

    def __init__(self, *, filter: Any, floor: uuid.UUID | None, limit: int, kind: str) -> None:
        self.filter = filter
        self.floor = floor
        self.limit = limit
        self.kind = kind
        self.items: deque[tuple[str, R]] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False

    def offer(self, edges: Iterable[tuple[str, Any]], types: CreatorTypes) -> None:
        """The reader's new (cursor, record) pairs: keep those this tap's filter matches."""
        matches = MATCHERS[self.kind]
        added = False
        for edge in edges:
            record = edge[1]
            if (self.floor is None or record.id > self.floor) and matches(
                self.filter, record, types
            ):
                self.items.append(edge)
                added = True
        if len(self.items) > self.limit:
            self.overflowed = True
            self.items.clear()
        if added or self.overflowed:
            self.ready.set()

    def take(self, most: int) -> Shared[R]:
        """Up to `most` waiting items, oldest first."""
        count = min(most, len(self.items))
        taken = Shared(self.items.popleft() for _ in range(count))
        if not self.items:
            self.ready.clear()
        return taken


class LiveReader(Generic[R]):
    """The one reader of `kind`'s new items in this process; it runs while it has taps."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        kind: Kind[R, Any],
        signal: Callable[[], asyncio.Event],
        page_size: int = PAGE_SIZE,
        buffer: int = BUFFER_ITEMS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.engine = engine
        self.kind = kind
        self.signal = signal
        self.page_size = page_size
        self.buffer = buffer
        self.poll_seconds = poll_seconds
        self.head: uuid.UUID | None = None
        self.reads = 0
        """Database reads so far (pages of new items and creator look-ups), for benchmarks."""
        self._taps: set[Tap[R]] = set()
        self._types: CreatorTypes = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def join(
        self, *, filter: Any, after: uuid.UUID | None
    ) -> tuple[Tap[R], uuid.UUID | None]:
        """A new tap for a subscriber whose own reads reached `after`, and the reader's head:
        the tap receives every matching item above both."""
        async with self._lock:
            if self._task is None or self._task.done():
                async with self.engine.connect() as conn:
                    self.head = await streams.newest_id(conn, self.kind.name)
                self._task = asyncio.create_task(self._run(), name=f"live-{self.kind.name}")
        # No await from here on: no page can be handed out between reading head and adding.
        head = self.head
        floor = max((v for v in (after, head) if v is not None), default=None)
        tap: Tap[R] = Tap(filter=filter, floor=floor, limit=self.buffer, kind=self.kind.name)
        self._taps.add(tap)
        return tap, head

    def leave(self, tap: Tap[R]) -> None:
        self._taps.discard(tap)
        if not self._taps and self._task is not None:
            self._task.cancel()  # restarted, from the then newest id, by the next join
            self._task = None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while self._current():
            wake = self.signal()  # taken before reading: a later commit still wakes us
            try:
                while await self._read_page():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again after the poll interval
                log.warning("live %s reader failed; retrying", self.kind.name, exc_info=True)
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that
            # races the event, leaving a second reader that hands out every page twice.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await wake.wait()

    def _current(self) -> bool:
        """Whether this task is the reader (a replaced one must never hand out a page)."""
        return asyncio.current_task() is self._task

    async def _read_page(self) -> bool:
        """Hand out one page of new items; whether a full page came (more may wait)."""
        after = cursors.encode(self.kind.name, self.head) if self.head is not None else None
        page = await list_page(
            engine=self.engine,
            kind=self.kind,
            filter=None,
            request=PageRequest(first=self.page_size, after=after),
            max_size=self.page_size,
        )
        self.reads += 1
        if not page.items:
            return False
        await self._learn_creators(page.items)
        if not self._current():  # left by every tap and replaced meanwhile
            raise asyncio.CancelledError
        # Cursors once per item, not once per subscriber (1,000 taps: 6 % of the process).
        name, items = self.kind.name, zip(page.ids, page.items, strict=True)
        edges = [(cursors.encode(name, id_), record) for id_, record in items]
        for tap in list(self._taps):
            tap.offer(edges, self._types)
        self.head = page.ids[-1]
        return bool(page.has_next_page)

    async def _learn_creators(self, records: list[Any]) -> None:
        """Creator types (fixed once a user exists) for the `creatorType` filter, cached."""
        unknown = {r.created_by for r in records} - self._types.keys()
        if not unknown:
            return
        if len(self._types) > 100_000:
            self._types.clear()
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(users_table.c.id, users_table.c.type).where(users_table.c.id.in_(unknown))
            )
            self._types.update({row.id: row.type for row in rows})
        self.reads += 1
