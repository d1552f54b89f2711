"""SQLModel tables: the single definition of what Cochlea stores.

Ids are UUIDv7 assigned by `api.services.ids` inside the write transaction, under a per-kind
lock, so that id order is commit order (see `api.services.streams`). Tags are stored twice:
as given (`tags`, case kept for display) and lower-cased (`tags_lc`, GIN-indexed for matching).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlmodel import Field, SQLModel

USER_TYPES = ("HUMAN", "DATASET", "FEATUREBOT", "AGGREGATOR")
LICENSES = ("CC_BY", "CC_BY_SA", "CC_BY_ND", "CC_BY_NC", "CC_BY_NC_SA", "CC_BY_NC_ND", "CC0")


def _tags_column() -> Any:
    return Column(ARRAY(Text), nullable=False, server_default=text("'{}'"))


def _created_at_column() -> Any:
    return Column(DateTime(timezone=True), nullable=False)


def _user_fk() -> Any:
    return Column(PG_UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        Index("users_name_lower_key", text("lower(name)"), unique=True),
        Index("users_type_id_idx", "type", "id"),
        CheckConstraint(
            "type IN ('HUMAN', 'DATASET', 'FEATUREBOT', 'AGGREGATOR')", name="users_type_check"
        ),
    )

    id: uuid.UUID = Field(sa_column=Column(PG_UUID(as_uuid=True), primary_key=True))
    created_at: datetime = Field(sa_column=_created_at_column())
    name: str = Field(sa_column=Column(Text, nullable=False))
    type: str = Field(sa_column=Column(Text, nullable=False))
    about_me: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    info_url: str | None = Field(default=None, sa_column=Column(Text))
    email: str | None = Field(default=None, sa_column=Column(Text))
    password_hash: str | None = Field(default=None, sa_column=Column(Text))
    deleted: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class ApiKey(SQLModel, table=True):
    """A bearer key. Only a SHA-256 of the secret is stored; `prefix` identifies it to its owner."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("api_keys_user_id_idx", "user_id"),)

    id: uuid.UUID = Field(sa_column=Column(PG_UUID(as_uuid=True), primary_key=True))
    created_at: datetime = Field(sa_column=_created_at_column())
    user_id: uuid.UUID = Field(sa_column=_user_fk())
    prefix: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Sound(SQLModel, table=True):
    __tablename__ = "sounds"
    __table_args__ = (
        Index("sounds_created_by_id_idx", "created_by", "id"),
        Index("sounds_tags_lc_idx", "tags_lc", postgresql_using="gin"),
        Index("sounds_license_id_idx", "license", "id"),
        Index(
            "sounds_creator_key_key",
            "created_by",
            "key",
            unique=True,
            postgresql_where=text("key IS NOT NULL"),
        ),
        Index("sounds_creator_audio_url_key", "created_by", text("md5(audio_url)"), unique=True),
        CheckConstraint(f"license IN {LICENSES!r}", name="sounds_license_check"),
        CheckConstraint("duration_seconds > 0", name="sounds_duration_check"),
    )

    id: uuid.UUID = Field(sa_column=Column(PG_UUID(as_uuid=True), primary_key=True))
    created_at: datetime = Field(sa_column=_created_at_column())
    created_by: uuid.UUID = Field(sa_column=_user_fk())
    key: str | None = Field(default=None, sa_column=Column(Text))
    title: str = Field(sa_column=Column(Text, nullable=False))
    audio_url: str = Field(sa_column=Column(Text, nullable=False))
    low_quality_audio_url: str | None = Field(default=None, sa_column=Column(Text))
    info_url: str | None = Field(default=None, sa_column=Column(Text))
    license: str = Field(sa_column=Column(Text, nullable=False))
    duration_seconds: float = Field(sa_column=Column(Float, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=_tags_column())
    tags_lc: list[str] = Field(default_factory=list, sa_column=_tags_column())
    metadata_: dict[str, Any] | None = Field(default=None, sa_column=Column("metadata", JSONB))


class Annotation(SQLModel, table=True):
    __tablename__ = "annotations"
    __table_args__ = (
        Index("annotations_sound_id_idx", "sound_id", "id"),
        Index("annotations_sound_start_idx", "sound_id", "start_seconds"),
        Index("annotations_created_by_id_idx", "created_by", "id"),
        Index("annotations_tags_lc_idx", "tags_lc", postgresql_using="gin"),
        Index(
            "annotations_creator_key_key",
            "created_by",
            "key",
            unique=True,
            postgresql_where=text("key IS NOT NULL"),
        ),
        CheckConstraint(
            "start_seconds >= 0 AND duration_seconds > 0", name="annotations_time_check"
        ),
    )

    id: uuid.UUID = Field(sa_column=Column(PG_UUID(as_uuid=True), primary_key=True))
    created_at: datetime = Field(sa_column=_created_at_column())
    created_by: uuid.UUID = Field(sa_column=_user_fk())
    sound_id: uuid.UUID = Field(
        sa_column=Column(PG_UUID(as_uuid=True), ForeignKey("sounds.id"), nullable=False)
    )
    key: str | None = Field(default=None, sa_column=Column(Text))
    start_seconds: float = Field(sa_column=Column(Float, nullable=False))
    duration_seconds: float = Field(sa_column=Column(Float, nullable=False))
    end_seconds: float = Field(sa_column=Column(Float, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=_tags_column())
    tags_lc: list[str] = Field(default_factory=list, sa_column=_tags_column())
    data_url: str | None = Field(default=None, sa_column=Column(Text))
    metadata_: dict[str, Any] | None = Field(default=None, sa_column=Column("metadata", JSONB))


# The Core tables, for set-based queries (named so they never shadow `annotations` and co.).
users_table: Table = User.__table__  # type: ignore[attr-defined]
api_keys_table: Table = ApiKey.__table__  # type: ignore[attr-defined]
sounds_table: Table = Sound.__table__  # type: ignore[attr-defined]
annotations_table: Table = Annotation.__table__  # type: ignore[attr-defined]
