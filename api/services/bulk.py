"""Set-based inserts: a whole batch in one binary COPY, inside the caller's transaction.

Binary COPY sends the rows in PostgreSQL's own format: no SQL to parse, no per-row statement,
native arrays for `text[]` (tags) and prepared JSON text for `jsonb`. It fires the same
constraints (and would fire the same row triggers) as INSERT; the transaction stays the
caller's, so a batch is still all or nothing.

Two ways in: `insert_rows` (asyncpg's `copy_records_to_table`, which encodes Python values per
row and column), and `copy_encoded`, for rows the caller encoded itself with the field
encoders below. The second lets a batch encode everything but its ids *before* it enters the
commit slot (`api.services.streams`) and reuse the bytes of values repeated across rows (a
batch names the same few sounds and tag sets thousands of times), so the slot holds little
more than PostgreSQL's own work. The encoders write exactly what asyncpg's binary codecs
write (tests/test_writes_bulk.py compares the stored rows).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

NULL = b"\xff\xff\xff\xff"  # a field's length -1: SQL NULL
_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # no flags, no ext
_TRAILER = b"\xff\xff"
_LENGTH = struct.Struct(">i")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL's timestamps count from here
_TEXT_OID = 25
_ARRAY = struct.Struct(">iiiiii")  # length, ndim, has-null, element type, size, lower bound
_EMPTY_ARRAY = struct.pack(">iiii", 12, 0, 0, _TEXT_OID)


def uuid_field(value: uuid.UUID) -> bytes:
    return b"\x00\x00\x00\x10" + value.bytes


def timestamptz_field(value: datetime) -> bytes:
    """An aware datetime as microseconds since 2000-01-01 UTC."""
    micros = (value - _EPOCH) // timedelta(microseconds=1)
    return b"\x00\x00\x00\x08" + micros.to_bytes(8, "big", signed=True)


def text_field(value: str | None) -> bytes:
    if value is None:
        return NULL
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def jsonb_field(text: str | None) -> bytes:
    """JSON text (as `validation.metadata_json` gives it) for a `jsonb` column: version 1."""
    if text is None:
        return NULL
    data = text.encode()
    return _LENGTH.pack(len(data) + 1) + b"\x01" + data


def float8s(count: int) -> struct.Struct:
    """A packer of `count` consecutive non-null `double precision` fields: pack it the
    values each preceded by its length, 8 (`pack(8, a, 8, b, ...)`)."""
    return struct.Struct(">" + "id" * count)


def text_array_field(values: Sequence[str]) -> bytes:
    """A one-dimensional `text[]` without NULLs (no dimensions when empty, as asyncpg)."""
    if not values:
        return _EMPTY_ARRAY
    body = b"".join([text_field(v) for v in values])
    return _ARRAY.pack(20 + len(body), 1, 0, _TEXT_OID, len(values), 1) + body


# Where `copy_encoded` puts the two values known only in the commit slot: last, so that
# everything before them can be encoded before the slot.
SLOT_COLUMNS = ("id", "created_at")


def row_header(columns: int) -> bytes:
    """The start of a row of `columns` fields plus the two `SLOT_COLUMNS`."""
    return struct.pack(">h", columns + len(SLOT_COLUMNS))


async def copy_encoded(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    heads: Sequence[bytes],
    new_ids: Sequence[bytes],
    now: datetime,
) -> None:
    """Insert one row per head into `table` with one binary COPY: the head (`row_header`,
    then the fields of `columns` in order), then its id (`UUID.bytes`) and `now` as
    `SLOT_COLUMNS`."""
    if not heads:
        return
    stamp = timestamptz_field(now)
    parts: list[bytes] = [b""] * (2 * len(heads) + 2)
    parts[0], parts[-1] = _HEADER, _TRAILER
    parts[1:-1:2] = heads
    parts[2:-1:2] = [b"\x00\x00\x00\x10" + new_id + stamp for new_id in new_ids]
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_to_table(
        table.name,
        # A memoryview: asyncpg would take bytes for a file name.
        source=memoryview(b"".join(parts)),
        columns=[*columns, *SLOT_COLUMNS],
        format="binary",
    )


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert `rows` (tuples in `columns` order) into `table` with one COPY.

    Values are what asyncpg's binary codecs take: UUIDs, aware datetimes, floats, str, lists of
    str for `text[]`, and JSON text (or None) for `jsonb`.
    """
    if not rows:
        return
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
