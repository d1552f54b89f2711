"""The `Subscription` root: `userCreated`, `soundCreated`, `annotationCreated`.

Each event is an edge `{ cursor node }` with the same cursor the connections use, so a client
can page with `after:` and subscribe with `after:` interchangeably.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from api.graphql.types.annotation import Annotation
from api.graphql.types.connection import Edge
from api.graphql.types.filters import AnnotationFilter, SoundFilter
from api.graphql.types.sound import Sound
from api.graphql.types.user import User
from api.services.follow import follow
from api.services.reading import ANNOTATIONS, SOUNDS, USERS, Kind


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
    async for cursor, record in follow(
        engine=context.engine,
        kind=kind,
        filter=service_filter,
        after=after,
        signal=lambda: hub.signal(kind.name),
        on_page=context.renew_loaders,
    ):
        yield Edge(cursor=cursor, node=convert(record))


@strawberry.type
class Subscription:
    @strawberry.subscription(description="New users, in creation order, from `after` on.")
    async def user_created(
        self, info: strawberry.Info, after: str | None = None
    ) -> AsyncGenerator[Edge[User], None]:
        async for edge in _edges(info, USERS, None, after, User.from_record):
            yield edge

    @strawberry.subscription(description="New sounds matching `filter`, from `after` on.")
    async def sound_created(
        self, info: strawberry.Info, after: str | None = None, filter: SoundFilter | None = None
    ) -> AsyncGenerator[Edge[Sound], None]:
        service_filter = filter.to_filter() if filter is not None else None
        async for edge in _edges(info, SOUNDS, service_filter, after, Sound.from_record):
            yield edge

    @strawberry.subscription(description="New annotations matching `filter`, from `after` on.")
    async def annotation_created(
        self,
        info: strawberry.Info,
        after: str | None = None,
        filter: AnnotationFilter | None = None,
    ) -> AsyncGenerator[Edge[Annotation], None]:
        service_filter = filter.to_filter() if filter is not None else None
        async for edge in _edges(info, ANNOTATIONS, service_filter, after, Annotation.from_record):
            yield edge
