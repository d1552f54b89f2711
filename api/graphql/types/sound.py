"""The `Sound` type: a pointer to audio hosted elsewhere, with its annotations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry.scalars import JSON

from api.graphql.types import creator
from api.graphql.types.annotation import Annotation
from api.graphql.types.connection import Parent, list_field
from api.graphql.types.enums import License
from api.graphql.types.filters import AnnotationFilter
from api.graphql.types.node import Node
from api.services import filters
from api.services.reading import ANNOTATIONS
from api.services.records import SoundRecord

if TYPE_CHECKING:
    pass


@strawberry.type(description="Audio hosted elsewhere (ideally with byte-range and CORS support).")
class Sound(Node):
    created_at: datetime
    title: str
    audio_url: str
    low_quality_audio_url: str | None
    info_url: str | None
    license: License
    duration_seconds: float
    tags: list[str]
    metadata: JSON | None = strawberry.field(
        description="The source's structured fields (e.g. a dataset's pitch, instrument...)."
    )
    _record: strawberry.Private[SoundRecord]

    @classmethod
    def from_record(cls, r: SoundRecord) -> Sound:
        return cls(
            id=strawberry.ID(str(r.id)),
            created_at=r.created_at,
            title=r.title,
            audio_url=r.audio_url,
            low_quality_audio_url=r.low_quality_audio_url,
            info_url=r.info_url,
            license=License(r.license),
            duration_seconds=r.duration_seconds,
            tags=r.tags,
            metadata=JSON(r.metadata) if r.metadata is not None else None,
            _record=r,
        )

    created_by = creator.created_by

    annotations = list_field(
        kind=ANNOTATIONS,
        node=Annotation,
        filter_input=AnnotationFilter,
        convert=Annotation.from_record,
        parent=Parent(field="sound", column="sound_id", empty=filters.AnnotationFilter),
        description="This sound's annotations, by id (creation order).",
    )
