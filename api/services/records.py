"""Plain records that services return: cheap to build from rows, free of ORM state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    created_at: datetime
    name: str
    type: str
    about_me: str
    info_url: str | None
    email: str | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class SoundRecord:
    id: uuid.UUID
    created_at: datetime
    created_by: uuid.UUID
    title: str
    audio_url: str
    low_quality_audio_url: str | None
    info_url: str | None
    license: str
    duration_seconds: float
    tags: list[str]
    metadata: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AnnotationRecord:
    id: uuid.UUID
    created_at: datetime
    created_by: uuid.UUID
    sound_id: uuid.UUID
    start_seconds: float
    duration_seconds: float
    end_seconds: float
    tags: list[str]
    data_url: str | None
    metadata: dict[str, Any] | None
