"""The `Annotation` type: a time segment of a sound with tags and/or a pointer to data."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from api.graphql.types import creator
from api.graphql.types.node import Node
from api.services.records import AnnotationRecord

if TYPE_CHECKING:
    from api.graphql.types.sound import Sound


@strawberry.type(
    description="A segment [startSeconds, endSeconds) of a sound, tagged or with data."
)
class Annotation(Node):
    created_at: datetime
    start_seconds: float
    duration_seconds: float
    end_seconds: float
    tags: list[str]
    data_url: str | None = strawberry.field(
        description="Where the data lives (e.g. an .npy array); see `metadata` for its layout."
    )
    metadata: JSON | None = strawberry.field(
        description="A small JSON object describing the data (dtype, shape, axes, frameRate...)."
    )
    _record: strawberry.Private[AnnotationRecord]

    @classmethod
    def from_record(cls, r: AnnotationRecord) -> Annotation:
        return cls(
            id=strawberry.ID(str(r.id)),
            created_at=r.created_at,
            start_seconds=r.start_seconds,
            duration_seconds=r.duration_seconds,
            end_seconds=r.end_seconds,
            tags=r.tags,
            data_url=r.data_url,
            metadata=JSON(r.metadata) if r.metadata is not None else None,
            _record=r,
        )

    created_by = creator.created_by

    @strawberry.field
    async def sound(
        self, info: strawberry.Info
    ) -> Annotated[Sound, strawberry.lazy("api.graphql.types.sound")]:
        from api.graphql.types.sound import Sound

        return Sound.from_record(await info.context.loaders.sounds.load(self._record.sound_id))
