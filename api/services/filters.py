"""What a client may filter lists and streams by, and the SQL each filter becomes.

Every condition here is served by an index (see `api.db.tables`): creator and sound by
`(column, id)` b-trees that also give id order, tags by a GIN index on lower-cased tags.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, literal, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from api.db.tables import annotations_table, sounds_table, users_table
from api.errors import BadUserInput
from api.services.validation import has_control


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: float
    end: float

    def __post_init__(self) -> None:
        if not (self.start == self.start and self.end == self.end):  # NaN
            raise BadUserInput("timeRange bounds must be numbers", field="timeRange")
        if self.end < self.start:
            raise BadUserInput(
                f"timeRange is inverted: end ({self.end}) is before start ({self.start})",
                field="timeRange",
            )


@dataclass(frozen=True, slots=True)
class UserFilter:
    type: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SoundFilter:
    created_by: uuid.UUID | None = None
    creator_type: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    license: str | None = None


@dataclass(frozen=True, slots=True)
class AnnotationFilter:
    sound: uuid.UUID | None = None
    created_by: uuid.UUID | None = None
    creator_type: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    with_tags: bool | None = None
    has_data: bool | None = None
    time_range: TimeRange | None = None


def _plain(value: str, field: str) -> str:
    if has_control(value):
        raise BadUserInput(f"filter.{field} must not contain control characters", field=field)
    return value


def wanted_tags(tags: Sequence[str]) -> set[str]:
    """The lower-cased tags a `tags` filter asks for (all of them must be present)."""
    return {_plain(t, "tags").strip().lower() for t in tags}


def _tags_contain(column: ColumnElement[list[str]], tags: Sequence[str]) -> ColumnElement[bool]:
    return column.contains(_text_array(sorted(wanted_tags(tags))))


def _text_array(values: list[str]) -> ColumnElement[list[str]]:
    return literal(values, ARRAY(Text))


def _creator_type(column: ColumnElement[uuid.UUID], type_: str) -> ColumnElement[bool]:
    return column.in_(select(users_table.c.id).where(users_table.c.type == type_).scalar_subquery())


def user_conditions(f: UserFilter | None) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = [users_table.c.deleted.is_(False)]
    if f is not None:
        if f.type is not None:
            parts.append(users_table.c.type == f.type)
        if f.name is not None:
            # Served by the unique index on lower(name).
            parts.append(func.lower(users_table.c.name) == _plain(f.name, "name").lower())
    return and_(*parts)


def sound_conditions(f: SoundFilter | None) -> ColumnElement[bool]:
    if f is None:
        return true()
    parts: list[ColumnElement[bool]] = []
    if f.created_by is not None:
        parts.append(sounds_table.c.created_by == f.created_by)
    if f.creator_type is not None:
        parts.append(_creator_type(sounds_table.c.created_by, f.creator_type))
    if f.tags:
        parts.append(_tags_contain(sounds_table.c.tags_lc, f.tags))
    if f.license is not None:
        parts.append(sounds_table.c.license == f.license)
    return and_(true(), *parts)


def annotation_conditions(f: AnnotationFilter | None) -> ColumnElement[bool]:
    if f is None:
        return true()
    a = annotations_table.c
    parts: list[ColumnElement[bool]] = []
    if f.sound is not None:
        parts.append(a.sound_id == f.sound)
    if f.created_by is not None:
        parts.append(a.created_by == f.created_by)
    if f.creator_type is not None:
        parts.append(_creator_type(a.created_by, f.creator_type))
    if f.tags:
        parts.append(_tags_contain(a.tags_lc, f.tags))
    if f.with_tags is True:
        parts.append(a.tags_lc != _text_array([]))
    elif f.with_tags is False:
        parts.append(a.tags_lc == _text_array([]))
    if f.has_data is True:
        parts.append(a.data_url.is_not(None))
    elif f.has_data is False:
        parts.append(a.data_url.is_(None))
    if f.time_range is not None:
        parts.append(a.start_seconds < f.time_range.end)
        parts.append(a.end_seconds > f.time_range.start)
    return and_(true(), *parts)
