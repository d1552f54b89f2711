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


_COLUMNS = (
    "id", "created_at", "created_by", "sound_id", "key", "start_seconds", "duration_seconds",
    "end_seconds", "tags", "tags_lc", "data_url", "metadata",
)  # fmt: skip


@dataclass(slots=True)  # not frozen: a batch builds thousands, and frozen ones cost 3x as much
class AnnotationInput:
    sound: uuid.UUID | None  # None: the client sent something that is not an id
    start_seconds: float
    duration_seconds: float
    key: str | None = None
    tags: list[str] = field(default_factory=list)
    data_url: str | None = None
    metadata: Any = None  # checked to be a JSON object by validation.metadata


def _check(
    index: int, item: AnnotationInput, durations: dict[int, tuple[float, float]]
) -> tuple[list[str], str | None, list[Problem]]:
    """Input `index`'s problems, with its clean tags and its metadata as JSON text.
    `durations` maps each sound (its UUID's int: uuid.UUID hashes and compares in Python) to
    its duration and how far an annotation may reach."""
    tags, tag_problem = validation.tags(index, "tags", item.tags) if item.tags else ([], None)
    metadata, metadata_problem = validation.metadata_json(index, "metadata", item.metadata)
    start, duration = item.start_seconds, item.duration_seconds
    found = [
        p
        for p in (
            None if item.key is None else validation.key(index, "key", item.key),
            validation.start_seconds(index, "startSeconds", start),
            validation.positive_seconds(index, "durationSeconds", duration),
            tag_problem,
            None if item.data_url is None else validation.url(index, "dataUrl", item.data_url),
            metadata_problem,
        )
        if p is not None
    ]
    if not item.tags and item.data_url is None and not item.metadata:
        found.append(
            Problem(index, None, "EMPTY", "an annotation needs tags, a dataUrl or metadata")
        )
    if item.sound is None:
        found.append(Problem(index, "sound", "INVALID_ID", "sound is not a valid id"))
    elif item.sound.int not in durations:
        found.append(Problem(index, "sound", "NOT_FOUND", f"there is no sound {item.sound}"))
    elif not found:
        sound_seconds, reach = durations[item.sound.int]
        end = start + duration
        if end > reach:
            found.append(
                Problem(
                    index,
                    "durationSeconds",
                    "OUT_OF_RANGE",
                    f"the annotation ends at {end:g} s, after its sound ends ({sound_seconds:g} s)",
                )
            )
    return tags, metadata, found


async def create_annotations(
    *, engine: AsyncEngine, viewer: UserRecord | None, inputs: list[AnnotationInput]
) -> BatchResult[AnnotationRecord]:
    """Create `inputs` atomically for the viewer; see `api.services.batches` for the rules."""
    creator = permissions.require(viewer, "create_annotations")
    check_size(len(inputs), maximum=MAX_ANNOTATIONS_PER_BATCH, what="annotations")
    # By int: uuid.UUID hashes in Python, and a batch names the same few sounds many times.
    wanted = list({a.sound.int: a.sound for a in inputs if a.sound is not None}.values())
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(sounds_table.c.id, sounds_table.c.duration_seconds).where(
                sounds_table.c.id.in_(wanted)
            )
        )
        durations = {sid.int: (s, s + end_tolerance(s)) for sid, s in rows}
    problems: list[Problem] = duplicate_keys([a.key for a in inputs])
    checked: list[tuple[list[str], str | None]] = []
    for index, item in enumerate(inputs):
        tags, metadata, found = _check(index, item, durations)
        checked.append((tags, metadata))
        if found:
            problems.extend(found)
    if problems:
        return BatchResult(problems=problems)
    by = creator.id

    def build_row(
        index: int, id_: uuid.UUID, now: datetime
    ) -> tuple[tuple[Any, ...], AnnotationRecord]:
        item = inputs[index]
        tags, metadata = checked[index]
        start, duration = float(item.start_seconds), float(item.duration_seconds)
        end, sound, data_url = start + duration, item.sound, item.data_url
        assert sound is not None  # checked
        row = (id_, now, by, sound, item.key, start, duration, end, tags,
               [t.lower() for t in tags], data_url, metadata)  # fmt: skip
        record = AnnotationRecord(
            id_, now, by, sound, start, duration, end, tags, data_url, item.metadata
        )
        return row, record

    return await write_batch(
        engine=engine,
        kind=ANNOTATIONS,
        stream="annotation",
        creator=creator.id,
        keys=[a.key for a in inputs],
        columns=_COLUMNS,
        build_row=build_row,
    )
