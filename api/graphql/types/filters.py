"""Filter inputs, each turned into its service-layer filter by `to_filter()`."""

from __future__ import annotations

import strawberry

from api.graphql.types.enums import License, UserType
from api.graphql.types.node import parse_id
from api.services import filters


@strawberry.input(description="Users of a type, or with a name (case-insensitive, exact).")
class UserFilter:
    type: UserType | None = None
    name: str | None = None

    def to_filter(self) -> filters.UserFilter:
        return filters.UserFilter(type=self.type.value if self.type else None, name=self.name)


@strawberry.input(description="Sounds by creator, creator type, tags (all of them) and licence.")
class SoundFilter:
    created_by: strawberry.ID | None = None
    creator_type: UserType | None = None
    tags: list[str] | None = None
    license: License | None = None

    def to_filter(self) -> filters.SoundFilter:
        return filters.SoundFilter(
            created_by=parse_id(self.created_by, argument="filter.createdBy")
            if self.created_by is not None
            else None,
            creator_type=self.creator_type.value if self.creator_type else None,
            tags=tuple(self.tags or ()),
            license=self.license.value if self.license else None,
        )


@strawberry.input(description="A time span in seconds; matches annotations that overlap it.")
class TimeRange:
    start: float
    end: float


@strawberry.input(description="Annotations by sound, creator, tags (all of them), data and time.")
class AnnotationFilter:
    sound: strawberry.ID | None = None
    created_by: strawberry.ID | None = None
    creator_type: UserType | None = None
    tags: list[str] | None = None
    with_tags: bool | None = strawberry.field(
        default=None, description="true: only tagged annotations; false: only untagged ones."
    )
    has_data: bool | None = strawberry.field(
        default=None, description="true: only annotations with a dataUrl; false: without."
    )
    time_range: TimeRange | None = None

    def to_filter(self) -> filters.AnnotationFilter:
        return filters.AnnotationFilter(
            sound=parse_id(self.sound, argument="filter.sound") if self.sound is not None else None,
            created_by=parse_id(self.created_by, argument="filter.createdBy")
            if self.created_by is not None
            else None,
            creator_type=self.creator_type.value if self.creator_type else None,
            tags=tuple(self.tags or ()),
            with_tags=self.with_tags,
            has_data=self.has_data,
            time_range=filters.TimeRange(start=self.time_range.start, end=self.time_range.end)
            if self.time_range is not None
            else None,
        )
