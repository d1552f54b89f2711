"""Creating annotations in batches (up to 5,000 per call, across any number of sounds)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db.tables import sounds_table
from api.errors import Problem
from api.services import permissions, validation
from api.services.batches import BatchResult, check_size, duplicate_keys, write_batch
from api.services.reading import ANNOTATIONS
from api.services.records import AnnotationRecord, UserRecord

MAX_ANNOTATIONS_PER_BATCH = 5000


def end_tolerance(sound_seconds: float) -> float:
    """How far past its sound's end an annotation may reach: 50 ms plus 0.5 %, to absorb
    declared durations that differ slightly from decoded ones and frame-rounded segments."""
    return 0.05 + 0.005 * sound_seconds


_COLUMNS = {
    "id": "uuid",
    "created_at": "timestamptz",
    "created_by": "uuid",
    "sound_id": "uuid",
    "key": "text",
    "start_seconds": "float8",
    "duration_seconds": "float8",
    "end_seconds": "float8",
    "tags": "text[]",
    "tags_lc": "text[]",
    "data_url": "text",
    "metadata": "jsonb",
}


@dataclass(frozen=True, slots=True)
class AnnotationInput:
    sound: uuid.UUID | None  # None: the client sent something that is not an id
    start_seconds: float
    duration_seconds: float
    key: str | None = None
    tags: list[str] = field(default_factory=list)
    data_url: str | None = None
    metadata: Any = None  # checked to be a JSON object by validation.metadata


def _check(
    index: int, item: AnnotationInput, durations: dict[uuid.UUID, float]
) -> tuple[list[str], list[Problem]]:
    tags, tag_problem = validation.tags(index, "tags", item.tags)
    found = [
        validation.key(index, "key", item.key),
        validation.start_seconds(index, "startSeconds", item.start_seconds),
        validation.positive_seconds(index, "durationSeconds", item.duration_seconds),
        tag_problem,
        validation.url(index, "dataUrl", item.data_url),
        validation.metadata(index, "metadata", item.metadata),
    ]
    if not item.tags and item.data_url is None and not item.metadata:
        found.append(
            Problem(index, None, "EMPTY", "an annotation needs tags, a dataUrl or metadata")
        )
    if item.sound is None:
        found.append(Problem(index, "sound", "INVALID_ID", "sound is not a valid id"))
    elif item.sound not in durations:
        found.append(Problem(index, "sound", "NOT_FOUND", f"there is no sound {item.sound}"))
    elif not any(found):
        sound_seconds = durations[item.sound]
        end = item.start_seconds + item.duration_seconds
        if end > sound_seconds + end_tolerance(sound_seconds):
            found.append(
                Problem(
                    index,
                    "durationSeconds",
                    "OUT_OF_RANGE",
                    f"the annotation ends at {end:g} s, after its sound ends ({sound_seconds:g} s)",
                )
            )
    return tags, [p for p in found if p is not None]


async def create_annotations(
    *, engine: AsyncEngine, viewer: UserRecord | None, inputs: list[AnnotationInput]
) -> BatchResult[AnnotationRecord]:
    """Create `inputs` atomically for the viewer; see `api.services.batches` for the rules."""
    creator = permissions.require(viewer, "create_annotations")
    check_size(len(inputs), maximum=MAX_ANNOTATIONS_PER_BATCH, what="annotations")
    wanted = list({a.sound for a in inputs if a.sound is not None})
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(sounds_table.c.id, sounds_table.c.duration_seconds).where(
                sounds_table.c.id.in_(wanted)
            )
        )
        durations = {sid: seconds for sid, seconds in rows}
    problems: list[Problem] = duplicate_keys([a.key for a in inputs])
    clean_tags: list[list[str]] = []
    for index, item in enumerate(inputs):
        tags, found = _check(index, item, durations)
        clean_tags.append(tags)
        problems.extend(found)
    if problems:
        return BatchResult(problems=problems)

    def build_row(index: int, id_: uuid.UUID, now: datetime) -> dict[str, Any]:
        item = inputs[index]
        tags = clean_tags[index]
        start, duration = float(item.start_seconds), float(item.duration_seconds)
        return {
            "id": id_,
            "created_at": now,
            "created_by": creator.id,
            "sound_id": item.sound,
            "key": item.key,
            "start_seconds": start,
            "duration_seconds": duration,
            "end_seconds": start + duration,
            "tags": tags,
            "tags_lc": [t.lower() for t in tags],
            "data_url": item.data_url,
            "metadata": item.metadata,
        }

    return await write_batch(
        engine=engine,
        kind=ANNOTATIONS,
        stream="annotation",
        creator=creator.id,
        keys=[a.key for a in inputs],
        columns=_COLUMNS,
        build_row=build_row,
    )
