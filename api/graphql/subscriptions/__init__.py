"""The `Subscription` root: `userCreated`, `soundCreated`, `annotationCreated`, and the batched
`soundsCreated` and `annotationsCreated`.

Each event is an edge `{ cursor node }` with the same cursor the connections use, so a client
can page with `after:` and subscribe with `after:` interchangeably. The resolvers yield the
records (`rendering.LiveEdges`); the executor (`events`) renders each distinct selection once
per live item for all the subscribers of a process that share it. The batched fields send a
list of such edges per message (one database page, up to `maxBatch`), in the same order and
with the same cursors: a bot catching up pays one rendering and one websocket message per page
instead of per item.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import strawberry

from api.errors import BadUserInput
from api.graphql.subscriptions import catchup
from api.graphql.subscriptions.direct import direct_sender
from api.graphql.subscriptions.events import live_edges
from api.graphql.subscriptions.rendering import EventPlan, LiveEdges, RenderedEdges
from api.graphql.types.annotation import Annotation
from api.graphql.types.connection import Edge
from api.graphql.types.filters import AnnotationFilter, SoundFilter
from api.graphql.types.sound import Sound
from api.graphql.types.user import User
from api.services.follow import PAGE_SIZE, RenderedPage, follow_pages
from api.services.live import Shared
from api.services.reading import ANNOTATIONS, SOUNDS, USERS, Kind
from api.wsprotocol import flush_connection


async def _edges(
    info: strawberry.Info,
    kind: Kind[Any, Any],
    service_filter: Any,
    after: str | None,
    convert: Any,
) -> AsyncGenerator[Any, None]:
    context = info.context
    await context.require_read()
    hub = context.events
    pages = follow_pages(
        engine=context.engine,
        kind=kind,
        filter=service_filter,
        after=after,
        signal=lambda: hub.signal(kind.name),
        on_page=context.renew_loaders,
        reader=hub.reader(kind.name),
        render=catchup.renderer(info, kind, service_filter),
    )
    key = info.path.key
    direct = direct_sender(info, str(key))
    async with aclosing(pages):  # a closed subscription leaves the shared reader at once
        async for page in pages:
            if type(page) is RenderedPage:
                if direct is not None:
                    await direct.send(page)
                    continue
                for json in page:
                    yield RenderedEdges(key, json)
            else:
                shared = type(page) is Shared
                if direct is not None and (plan := event_plan(info)) is not None:
                    live = LiveEdges(items=page, convert=convert, many=False, shared=shared)
                    edges = live_edges(plan, live)
                    if edges is not None:
                        await direct.send(edges)
                        continue
                for item in page:
                    yield LiveEdges(items=(item,), convert=convert, many=False, shared=shared)
            flush_connection()  # the page's messages in one write, before waiting for more


def event_plan(info: strawberry.Info) -> EventPlan | None:
    """The subscription's event plan, from its executor (`events`)."""
    executor = getattr(info._raw_info, "executor", None)
    return executor.event_plan() if executor is not None else None


DEFAULT_BATCH = 100


async def _edge_batches(
    info: strawberry.Info,
    kind: Kind[Any, Any],
    service_filter: Any,
    after: str | None,
    max_batch: int,
    convert: Any,
) -> AsyncGenerator[Any, None]:
    if not 1 <= max_batch <= PAGE_SIZE:
        raise BadUserInput(
            f"maxBatch must be between 1 and {PAGE_SIZE}, got {max_batch}", argument="maxBatch"
        )
    context = info.context
    await context.require_read()
    hub = context.events
    pages = follow_pages(
        engine=context.engine,
        kind=kind,
        filter=service_filter,
        after=after,
        signal=lambda: hub.signal(kind.name),
        page_size=max_batch,
        on_page=context.renew_loaders,
        reader=hub.reader(kind.name),
        render=catchup.renderer(info, kind, service_filter),
    )
    key = info.path.key
    direct = direct_sender(info, str(key))
    async with aclosing(pages):
        async for page in pages:
            if type(page) is RenderedPage:
                batch = b"[" + b",".join(page) + b"]"
                if direct is not None:
                    await direct.send((batch,))
                    continue
                yield RenderedEdges(key, batch)
            else:
                live = LiveEdges(
                    items=page, convert=convert, many=True, shared=type(page) is Shared
                )
                plan = event_plan(info) if direct is not None else None
                edges = live_edges(plan, live) if plan is not None else None
                if direct is not None and edges is not None:
                    await direct.send(edges)
                    continue
                yield live
            flush_connection()


_BATCH_HELP = (
    "Up to `maxBatch` (1 to 500, default 100) edges per message: what one read after the "
    "previous message found."
)


# The resolvers return the event generator itself rather than re-yielding from it: one
# async-generator hop less per event and per subscriber, and graphql-core closes it directly.
@strawberry.type
class Subscription:
    @strawberry.subscription(description="New users, in creation order, from `after` on.")
    async def user_created(
        self, info: strawberry.Info, after: str | None = None
    ) -> AsyncGenerator[Edge[User], None]:
        return _edges(info, USERS, None, after, User.from_record)

    @strawberry.subscription(description="New sounds matching `filter`, from `after` on.")
    async def sound_created(
        self, info: strawberry.Info, after: str | None = None, filter: SoundFilter | None = None
    ) -> AsyncGenerator[Edge[Sound], None]:
        service_filter = filter.to_filter() if filter is not None else None
        return _edges(info, SOUNDS, service_filter, after, Sound.from_record)

    @strawberry.subscription(description="New annotations matching `filter`, from `after` on.")
    async def annotation_created(
        self,
        info: strawberry.Info,
        after: str | None = None,
        filter: AnnotationFilter | None = None,
    ) -> AsyncGenerator[Edge[Annotation], None]:
        service_filter = filter.to_filter() if filter is not None else None
        return _edges(info, ANNOTATIONS, service_filter, after, Annotation.from_record)

    @strawberry.subscription(
        description="New sounds matching `filter`, from `after` on, in lists: the edges of "
        f"`soundCreated`, same order and cursors. {_BATCH_HELP}"
    )
    async def sounds_created(
        self,
        info: strawberry.Info,
        after: str | None = None,
        filter: SoundFilter | None = None,
        max_batch: int = DEFAULT_BATCH,
    ) -> AsyncGenerator[list[Edge[Sound]], None]:
        service_filter = filter.to_filter() if filter is not None else None
        return _edge_batches(info, SOUNDS, service_filter, after, max_batch, Sound.from_record)

    @strawberry.subscription(
        description="New annotations matching `filter`, from `after` on, in lists: the edges "
        f"of `annotationCreated`, same order and cursors. {_BATCH_HELP}"
    )
    async def annotations_created(
        self,
        info: strawberry.Info,
        after: str | None = None,
        filter: AnnotationFilter | None = None,
        max_batch: int = DEFAULT_BATCH,
    ) -> AsyncGenerator[list[Edge[Annotation]], None]:
        service_filter = filter.to_filter() if filter is not None else None
        return _edge_batches(
            info, ANNOTATIONS, service_filter, after, max_batch, Annotation.from_record
        )
