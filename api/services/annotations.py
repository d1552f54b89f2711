"""Creating annotations in batches (up to 5,000 per call, across any number of sounds)."""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, any_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db.tables import sounds_table
from api.errors import Problem
from api.services import bulk, permissions, validation
from api.services.batches import (
    STRIDE,
    BatchResult,
    EncodedRows,
    check_size,
    duplicate_keys,
    write_batch,
)
from api.services.reading import ANNOTATIONS
from api.services.records import AnnotationRecord, UserRecord

MAX_ANNOTATIONS_PER_BATCH = 5000


def end_tolerance(sound_seconds: float) -> float:
    """How far past its sound's end an annotation may reach: 50 ms plus 0.5 %, to absorb
    declared durations that differ slightly from decoded ones and frame-rounded segments."""
    return 0.05 + 0.005 * sound_seconds


# The columns a row is encoded with before the commit slot (`bulk.SLOT_COLUMNS` follow).
_COLUMNS = (
    "created_by", "sound_id", "key", "start_seconds", "duration_seconds", "end_seconds",
    "tags", "tags_lc", "data_url", "metadata",
)  # fmt: skip
_TIMES = bulk.float8s(3)
_INF = math.inf


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


class _Rows:
    """One batch's rows, encoded before the commit slot. The bytes of what inputs share (the
    creator, each sound, each set of tags) are made once per batch.

    `plain(item)` takes the common case, an input that is surely valid, in one pass: its
    tests are those of `_check` or stricter, and anything they do not pass goes to `_check`,
    which alone words the problems.
    """

    def __init__(self, creator: uuid.UUID, durations: dict[int, tuple[float, float]]) -> None:
        self.durations = durations
        self.start = bulk.row_header(len(_COLUMNS)) + bulk.uuid_field(creator)
        self.sounds: dict[int, bytes] = {}
        self.tag_sets: dict[tuple[str, ...], tuple[list[str], bytes] | None] = {}

    def plain(self, item: AnnotationInput) -> tuple[list[str], bytes] | None:
        """The clean tags and the row head of an input that is surely valid, else None."""
        sound, start, duration = item.sound, item.start_seconds, item.duration_seconds
        if sound is None or type(start) is not float or type(duration) is not float:
            return None
        limits = self.durations.get(sound.int)
        # NaN fails every comparison; the end test is `_check`'s.
        if limits is None or not (0.0 <= start < _INF and 0.0 < duration < _INF):
            return None
        if start + duration > limits[1]:
            return None
        key, data_url, metadata = item.key, item.data_url, item.metadata
        if key is not None and validation.key(None, "key", key) is not None:
            return None
        if data_url is not None and validation.url(None, "dataUrl", data_url) is not None:
            return None
        if metadata is None:
            text = None
        else:
            text, problem = validation.metadata_json(None, "metadata", metadata)
            if problem is not None:
                return None
        tags: list[str] = []
        tag_bytes = _NO_TAGS
        if item.tags:
            found = self._tag_set(item.tags)
            if found is None:
                return None
            tags, tag_bytes = found
        elif data_url is None and not metadata:
            return None  # EMPTY
        return tags, self._head(sound, key, start, duration, tag_bytes, data_url, text)

    def head(self, item: AnnotationInput, tags: list[str], metadata: str | None) -> bytes:
        """The row head of an input `_check` passed, with its clean tags and metadata."""
        assert item.sound is not None  # checked
        start, duration = float(item.start_seconds), float(item.duration_seconds)
        tag_bytes = _tag_bytes(tags)
        return self._head(item.sound, item.key, start, duration, tag_bytes, item.data_url, metadata)

    def _head(
        self,
        sound: uuid.UUID,
        key: str | None,
        start: float,
        duration: float,
        tag_bytes: bytes,
        data_url: str | None,
        metadata: str | None,
    ) -> bytes:
        sound_bytes = self.sounds.get(sound.int)
        if sound_bytes is None:
            sound_bytes = self.sounds[sound.int] = self.start + bulk.uuid_field(sound)
        return b"".join(
            (
                sound_bytes,
                bulk.NULL if key is None else bulk.text_field(key),
                _TIMES.pack(8, start, 8, duration, 8, start + duration),
                tag_bytes,
                bulk.NULL if data_url is None else bulk.text_field(data_url),
                bulk.NULL if metadata is None else bulk.jsonb_field(metadata),
            )
        )

    def _tag_set(self, tags: list[str]) -> tuple[list[str], bytes] | None:
        values = tuple(tags)
        try:
            return self.tag_sets[values]
        except KeyError:
            clean, problem = validation.tags(None, "tags", tags)
            found = None if problem is not None else (clean, _tag_bytes(clean))
            self.tag_sets[values] = found
            return found


def _tag_bytes(tags: list[str]) -> bytes:
    """`tags` and `tags_lc`, encoded."""
    return bulk.text_array_field(tags) + bulk.text_array_field([t.lower() for t in tags])


_NO_TAGS = _tag_bytes([])


_DURATIONS = select(sounds_table.c.id, sounds_table.c.duration_seconds).where(
    sounds_table.c.id == any_(bindparam("ids", type_=ARRAY(sounds_table.c.id.type)))
)
"""The durations of the sounds `:ids` (one statement for any number: built once, as SQLAlchemy
derives a fresh statement's cache key and columns on every execution)."""


async def create_annotations(
    *, engine: AsyncEngine, viewer: UserRecord | None, inputs: list[AnnotationInput]
) -> BatchResult[AnnotationRecord]:
    """Create `inputs` atomically for the viewer; see `api.services.batches` for the rules."""
    creator = permissions.require(viewer, "create_annotations")
    check_size(len(inputs), maximum=MAX_ANNOTATIONS_PER_BATCH, what="annotations")
    # By int: uuid.UUID hashes in Python, and a batch names the same few sounds many times.
    wanted = list({a.sound.int: a.sound for a in inputs if a.sound is not None}.values())
    async with engine.connect() as conn:
        rows = await conn.execute(_DURATIONS, {"ids": wanted})
        durations = {sid.int: (s, s + end_tolerance(s)) for sid, s in rows}
    keys = [a.key for a in inputs]
    problems: list[Problem] = duplicate_keys(keys)
    encoder = _Rows(creator.id, durations)
    clean_tags: list[list[str]] = []
    heads: list[bytes] = []
    for index, item in enumerate(inputs):
        if index % STRIDE == STRIDE - 1:
            await asyncio.sleep(0)  # let a request holding the commit slot go on meanwhile
        plain = encoder.plain(item)
        if plain is None:
            tags, metadata, found = _check(index, item, durations)
            if found:
                problems.extend(found)
                continue
            plain = tags, encoder.head(item, tags, metadata)
        clean_tags.append(plain[0])
        heads.append(plain[1])
    if problems:
        return BatchResult(problems=problems)
    by = creator.id

    def record(index: int, id_: uuid.UUID, now: datetime) -> AnnotationRecord:
        item = inputs[index]
        start, duration = float(item.start_seconds), float(item.duration_seconds)
        assert item.sound is not None  # checked
        return AnnotationRecord(
            id_, now, by, item.sound, start, duration, start + duration,
            clean_tags[index], item.data_url, item.metadata,
        )  # fmt: skip

    return await write_batch(
        engine=engine,
        kind=ANNOTATIONS,
        stream="annotation",
        creator=creator.id,
        keys=keys,
        encoded=EncodedRows(_COLUMNS, heads, record),
    )
