"""initial schema

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("about_me", sa.Text(), server_default="", nullable=False),
        sa.Column("info_url", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint(
            "type IN ('HUMAN', 'DATASET', 'FEATUREBOT', 'AGGREGATOR')", name="users_type_check"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "users_name_lower_key", "users", [sa.literal_column("lower(name)")], unique=True
    )
    op.create_index("users_type_id_idx", "users", ["type", "id"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_index("api_keys_user_id_idx", "api_keys", ["user_id"], unique=False)
    op.create_table(
        "sounds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("audio_url", sa.Text(), nullable=False),
        sa.Column("low_quality_audio_url", sa.Text(), nullable=True),
        sa.Column("info_url", sa.Text(), nullable=True),
        sa.Column("license", sa.Text(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column(
            "tags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "tags_lc", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.CheckConstraint(
            "license IN ('CC_BY', 'CC_BY_SA', 'CC_BY_ND', 'CC_BY_NC', 'CC_BY_NC_SA', "
            "'CC_BY_NC_ND', 'CC0')",
            name="sounds_license_check",
        ),
        sa.CheckConstraint("duration_seconds > 0", name="sounds_duration_check"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("sounds_created_by_id_idx", "sounds", ["created_by", "id"], unique=False)
    op.create_index(
        "sounds_creator_audio_url_key",
        "sounds",
        ["created_by", sa.literal_column("md5(audio_url)")],
        unique=True,
    )
    op.create_index(
        "sounds_creator_key_key",
        "sounds",
        ["created_by", "key"],
        unique=True,
        postgresql_where=sa.text("key IS NOT NULL"),
    )
    op.create_index("sounds_license_id_idx", "sounds", ["license", "id"], unique=False)
    op.create_index(
        "sounds_tags_lc_idx", "sounds", ["tags_lc"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column("sound_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("start_seconds", sa.Float(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("end_seconds", sa.Float(), nullable=False),
        sa.Column(
            "tags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "tags_lc", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("data_url", sa.Text(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sound_id"],
            ["sounds.id"],
        ),
        sa.CheckConstraint(
            "start_seconds >= 0 AND duration_seconds > 0", name="annotations_time_check"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "annotations_created_by_id_idx", "annotations", ["created_by", "id"], unique=False
    )
    op.create_index(
        "annotations_creator_key_key",
        "annotations",
        ["created_by", "key"],
        unique=True,
        postgresql_where=sa.text("key IS NOT NULL"),
    )
    op.create_index("annotations_sound_id_idx", "annotations", ["sound_id", "id"], unique=False)
    op.create_index(
        "annotations_sound_start_idx", "annotations", ["sound_id", "start_seconds"], unique=False
    )
    op.create_index(
        "annotations_tags_lc_idx", "annotations", ["tags_lc"], unique=False, postgresql_using="gin"
    )


def downgrade() -> None:
    op.drop_index("annotations_tags_lc_idx", table_name="annotations", postgresql_using="gin")
    op.drop_index("annotations_sound_start_idx", table_name="annotations")
    op.drop_index("annotations_sound_id_idx", table_name="annotations")
    op.drop_index(
        "annotations_creator_key_key",
        table_name="annotations",
        postgresql_where=sa.text("key IS NOT NULL"),
    )
    op.drop_index("annotations_created_by_id_idx", table_name="annotations")
    op.drop_table("annotations")
    op.drop_index("sounds_tags_lc_idx", table_name="sounds", postgresql_using="gin")
    op.drop_index("sounds_license_id_idx", table_name="sounds")
    op.drop_index(
        "sounds_creator_key_key", table_name="sounds", postgresql_where=sa.text("key IS NOT NULL")
    )
    op.drop_index("sounds_creator_audio_url_key", table_name="sounds")
    op.drop_index("sounds_created_by_id_idx", table_name="sounds")
    op.drop_table("sounds")
    op.drop_index("api_keys_user_id_idx", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("users_type_id_idx", table_name="users")
    op.drop_index("users_name_lower_key", table_name="users")
    op.drop_table("users")
