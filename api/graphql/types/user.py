"""The `User` type: a person, a dataset, a featurebot or an aggregator."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.types.annotation import Annotation
from api.graphql.types.connection import Parent, list_field
from api.graphql.types.enums import UserType
from api.graphql.types.filters import AnnotationFilter, SoundFilter
from api.graphql.types.node import Node
from api.graphql.types.sound import Sound
from api.services import filters
from api.services.reading import ANNOTATIONS, SOUNDS
from api.services.records import UserRecord
from api.services.users import list_api_keys


@strawberry.type(description="One of the viewer's live API keys (the secret is never shown again).")
class ApiKey:
    prefix: str
    created_at: datetime


@strawberry.type(description="Someone or something that creates or reads sounds and annotations.")
class User(Node):
    created_at: datetime
    name: str
    type: UserType
    about_me: str = strawberry.field(description="What this user publishes (required for bots).")
    info_url: str | None
    deleted: bool
    _record: strawberry.Private[UserRecord]

    @classmethod
    def from_record(cls, r: UserRecord) -> User:
        return cls(
            id=strawberry.ID(str(r.id)),
            created_at=r.created_at,
            name=r.name,
            type=UserType(r.type),
            about_me=r.about_me,
            info_url=r.info_url,
            deleted=r.deleted,
            _record=r,
        )

    @strawberry.field(description="Visible only to the user itself; null for everyone else.")
    async def email(self, info: strawberry.Info) -> str | None:
        viewer = await info.context.viewer()
        return self._record.email if viewer is not None and viewer.id == self._record.id else None

    @strawberry.field(description="The viewer's own live API keys (prefix and creation time).")
    async def api_keys(self, info: strawberry.Info) -> list[ApiKey] | None:
        viewer = await info.context.viewer()
        if viewer is None or viewer.id != self._record.id:
            return None
        keys = await list_api_keys(engine=info.context.engine, user_id=self._record.id)
        return [ApiKey(prefix=k.prefix, created_at=k.created_at) for k in keys]

    sounds = list_field(
        kind=SOUNDS,
        node=Sound,
        filter_input=SoundFilter,
        convert=Sound.from_record,
        parent=Parent(field="created_by", column="created_by", empty=filters.SoundFilter),
        description="Sounds this user created, by id (creation order).",
    )
    annotations = list_field(
        kind=ANNOTATIONS,
        node=Annotation,
        filter_input=AnnotationFilter,
        convert=Annotation.from_record,
        parent=Parent(field="created_by", column="created_by", empty=filters.AnnotationFilter),
        description="Annotations this user created, by id (creation order).",
    )
