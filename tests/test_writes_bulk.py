"""`bulk.copy_encoded` stores exactly what asyncpg's own binary COPY stores for the same
values: the same rows, copied both ways into two tables like `annotations`, must read back
identical (NULLs, empty and non-ASCII arrays and text, extreme floats, times to the
microsecond, JSON of every kind)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db.engine import create_engine
from api.services import bulk, ids

CREATOR = uuid.UUID("018f0000-0000-7000-8000-0000000000c0")
COLUMNS = ("created_by", "sound_id", "key", "start_seconds", "duration_seconds", "end_seconds", "tags",
           "tags_lc", "data_url", "metadata")  # fmt: skip
TIMES = bulk.float8s(3)

_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 5e-324, 1.7976931348623157e308, 1e-300, 0.1]
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _floats | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
rows = st.tuples(
    st.uuids(),
    st.none() | _text,
    _floats,
    _floats,
    _floats,
    st.lists(_text, max_size=4),
    st.none() | _text,
    st.none() | st.dictionaries(_text, _json, max_size=3),
)


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(database_url, pool_size=2)
    async with made.begin() as conn:
        for name in ("bulk_by_asyncpg", "bulk_by_encoder"):
            await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
            await conn.exec_driver_sql(
                f"CREATE TABLE {name} (LIKE annotations INCLUDING DEFAULTS, position int)"
            )
    yield made
    await made.dispose()


def _table(name: str) -> Table:
    return Table(name, MetaData(), Column("id"))


def _encoded(row: tuple[Any, ...], position: int) -> bytes:
    sound, key, start, duration, end, tags, data_url, metadata = row
    return b"".join(
        (
            bulk.row_header(len(COLUMNS) + 1),
            bulk.uuid_field(CREATOR),
            bulk.uuid_field(sound),
            bulk.text_field(key),
            TIMES.pack(8, start, 8, duration, 8, end),
            bulk.text_array_field(tags),
            bulk.text_array_field([t.lower() for t in tags]),
            bulk.text_field(data_url),
            bulk.jsonb_field(None if metadata is None else json.dumps(metadata)),
            b"\x00\x00\x00\x04" + position.to_bytes(4, "big"),
        )
    )


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(rows, min_size=1, max_size=8), micros=st.integers(0, 999_999))
async def test_copy_encoded_stores_what_asyncpg_stores(
    engine: AsyncEngine, batch: list[tuple[Any, ...]], micros: int
) -> None:
    now = datetime(2026, 3, 1, 12, 30, tzinfo=UTC) + timedelta(microseconds=micros)
    new_ids = ids.mint(count=len(batch))
    async with engine.begin() as conn:
        await conn.exec_driver_sql("TRUNCATE bulk_by_asyncpg, bulk_by_encoder")
        records = [
            (new_id, now, CREATOR, sound, key, start, duration, end, tags, [t.lower() for t in tags],
             data_url, None if metadata is None else json.dumps(metadata), position)
            for position, (new_id, (sound, key, start, duration, end, tags, data_url, metadata))
            in enumerate(zip(new_ids, batch, strict=True))
        ]  # fmt: skip
        await bulk.insert_rows(
            conn, _table("bulk_by_asyncpg"), ["id", "created_at", *COLUMNS, "position"], records
        )
        heads = [_encoded(row, position) for position, row in enumerate(batch)]
        await bulk.copy_encoded(
            conn,
            _table("bulk_by_encoder"),
            [*COLUMNS, "position"],
            heads,
            [u.bytes for u in new_ids],
            now,
        )
        read = "SELECT id, created_at, {}, position FROM {} ORDER BY position"
        listed = ", ".join(f"{c}::text" for c in COLUMNS)
        by_asyncpg = (await conn.exec_driver_sql(read.format(listed, "bulk_by_asyncpg"))).all()
        by_encoder = (await conn.exec_driver_sql(read.format(listed, "bulk_by_encoder"))).all()
    assert by_encoder == by_asyncpg
    assert [r.id for r in by_encoder] == new_ids
    assert all(r.created_at == now for r in by_encoder)


async def test_an_empty_batch_copies_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.exec_driver_sql("TRUNCATE bulk_by_encoder")
        await bulk.copy_encoded(conn, _table("bulk_by_encoder"), COLUMNS, [], [], datetime.now(UTC))
        count = (await conn.exec_driver_sql("SELECT count(*) FROM bulk_by_encoder")).scalar()
    assert count == 0


def test_a_uuid_field_is_its_sixteen_bytes() -> None:
    value = uuid.uuid4()
    assert bulk.uuid_field(value) == b"\x00\x00\x00\x10" + value.bytes
