"""Creating sounds in batches (up to 1,000 per call)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.db.tables import LICENSES, sounds_table
from api.errors import Problem
from api.services import permissions, validation
from api.services.batches import BatchResult, check_size, duplicate_keys, write_batch
from api.services.reading import SOUNDS
from api.services.records import SoundRecord, UserRecord

MAX_SOUNDS_PER_BATCH = 1000

_COLUMNS = (
    "id", "created_at", "created_by", "key", "title", "audio_url", "low_quality_audio_url",
    "info_url", "license", "duration_seconds", "tags", "tags_lc", "metadata",
)  # fmt: skip


@dataclass(slots=True)  # not frozen: a batch builds up to 1,000, and frozen ones cost 3x as much
class SoundInput:
    title: str
    audio_url: str
    license: str
    duration_seconds: float
    key: str | None = None
    low_quality_audio_url: str | None = None
    info_url: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: Any = None  # checked to be a JSON object by validation.metadata


def _check(index: int, item: SoundInput) -> tuple[list[str], str | None, list[Problem]]:
    """Input `index`'s problems, with its clean tags and its metadata as JSON text."""
    tags, tag_problem = validation.tags(index, "tags", item.tags)
    metadata, metadata_problem = validation.metadata_json(index, "metadata", item.metadata)
    found = [
        validation.key(index, "key", item.key),
        validation.text(index, "title", item.title, required=True, max_length=512),
        validation.url(index, "audioUrl", item.audio_url, required=True),
        validation.url(index, "lowQualityAudioUrl", item.low_quality_audio_url),
        validation.url(index, "infoUrl", item.info_url),
        validation.positive_seconds(index, "durationSeconds", item.duration_seconds),
        tag_problem,
        metadata_problem,
        None
        if item.license in LICENSES
        else Problem(
            index, "license", "INVALID_LICENSE", f"license must be one of {', '.join(LICENSES)}"
        ),
    ]
    return tags, metadata, [p for p in found if p is not None]


async def create_sounds(
    *, engine: AsyncEngine, viewer: UserRecord | None, inputs: list[SoundInput]
) -> BatchResult[SoundRecord]:
    """Create `inputs` atomically for the viewer; see `api.services.batches` for the rules."""
    creator = permissions.require(viewer, "create_sounds")
    check_size(len(inputs), maximum=MAX_SOUNDS_PER_BATCH, what="sounds")
    problems: list[Problem] = duplicate_keys([s.key for s in inputs])
    checked: list[tuple[list[str], str | None]] = []
    first_use: dict[str, int] = {}
    for index, item in enumerate(inputs):
        tags, metadata, found = _check(index, item)
        checked.append((tags, metadata))
        problems.extend(found)
        if item.audio_url in first_use:
            problems.append(
                Problem(
                    index,
                    "audioUrl",
                    "DUPLICATE",
                    f"audioUrl is also given by input {first_use[item.audio_url]}",
                )
            )
        first_use.setdefault(item.audio_url, index)
    if problems:
        return BatchResult(problems=problems)

    async def already_registered(conn: AsyncConnection, fresh: list[int]) -> list[Problem]:
        digests = {hashlib.md5(inputs[i].audio_url.encode()).hexdigest(): i for i in fresh}
        stmt = select(sounds_table.c.audio_url).where(
            sounds_table.c.created_by == creator.id,
            func.md5(sounds_table.c.audio_url).in_(list(digests)),
        )
        taken = {url for (url,) in await conn.execute(stmt)}
        return [
            Problem(i, "audioUrl", "DUPLICATE", "you already registered a sound with this audioUrl")
            for i in fresh
            if inputs[i].audio_url in taken
        ]

    by = creator.id

    def build_row(index: int, id_: uuid.UUID, now: datetime) -> tuple[tuple[Any, ...], SoundRecord]:
        item = inputs[index]
        tags, metadata = checked[index]
        title, seconds = item.title.strip(), float(item.duration_seconds)
        lq_url, info_url = item.low_quality_audio_url, item.info_url
        row = (id_, now, by, item.key, title, item.audio_url, lq_url, info_url, item.license,
               seconds, tags, [t.lower() for t in tags], metadata)  # fmt: skip
        record = SoundRecord(
            id_, now, by, title, item.audio_url, lq_url, info_url, item.license, seconds, tags,
            item.metadata,
        )  # fmt: skip
        return row, record

    return await write_batch(
        engine=engine,
        kind=SOUNDS,
        stream="sound",
        creator=creator.id,
        keys=[s.key for s in inputs],
        columns=_COLUMNS,
        build_row=build_row,
        check_in_slot=already_registered,
    )
