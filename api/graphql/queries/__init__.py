"""The `Query` root: node, viewer, the three lists, stats and the caller's rate limit."""

from __future__ import annotations

import strawberry

from api.graphql.limits.rate_limit import RateLimit, resolve_rate_limit
from api.graphql.queries.node import resolve_node
from api.graphql.queries.stats import Stats, resolve_stats
from api.graphql.types.annotation import Annotation
from api.graphql.types.connection import list_field
from api.graphql.types.filters import AnnotationFilter, SoundFilter, UserFilter
from api.graphql.types.node import Node
from api.graphql.types.sound import Sound
from api.graphql.types.user import User
from api.services.reading import ANNOTATIONS, SOUNDS, USERS


async def resolve_viewer(info: strawberry.Info) -> User | None:
    viewer = await info.context.viewer()
    return User.from_record(viewer) if viewer is not None else None


@strawberry.type
class Query:
    node: Node | None = strawberry.field(
        resolver=resolve_node, description="Any user, sound or annotation by id."
    )
    viewer: User | None = strawberry.field(
        resolver=resolve_viewer, description="The user the request's API key belongs to."
    )
    users = list_field(
        kind=USERS,
        node=User,
        filter_input=UserFilter,
        convert=User.from_record,
        description="Users (deleted ones excepted), by id (creation order).",
    )
    sounds = list_field(
        kind=SOUNDS,
        node=Sound,
        filter_input=SoundFilter,
        convert=Sound.from_record,
        description="Sounds, by id (creation order).",
    )
    annotations = list_field(
        kind=ANNOTATIONS,
        node=Annotation,
        filter_input=AnnotationFilter,
        convert=Annotation.from_record,
        description="Annotations, by id (creation order).",
    )
    stats: Stats = strawberry.field(resolver=resolve_stats, description="Platform totals.")
    rate_limit: RateLimit | None = strawberry.field(
        resolver=resolve_rate_limit,
        description="The caller's hourly budget of points; null where none is kept.",
    )
