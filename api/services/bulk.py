"""Set-based inserts: a whole batch in one binary COPY, inside the caller's transaction.

asyncpg's `copy_records_to_table` sends the rows in PostgreSQL's binary format: no SQL to
parse, no per-row statement, and native arrays for `text[]` (tags) and prepared JSON text for
`jsonb`. It is what the ingest benchmark measures as the raw limit, so the commit slot holds
only the copy itself. COPY fires the same constraints (and would fire the same row triggers)
as INSERT; the transaction stays the caller's, so a batch is still all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection


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
