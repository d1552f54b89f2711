"""Set-based inserts: a whole batch in one `INSERT … SELECT FROM unnest(…)` statement.

One array parameter per column, so 5,000 rows cost one round trip and one statement (not
5,000), and the statement stays far below PostgreSQL's limit of 32,767 bind parameters. Text
arrays (tags) cannot be unnested from a 2-D array of ragged rows, so they travel as JSON and
are rebuilt with `jsonb_array_elements_text`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection

# Column kind -> (SQL array type used to pass the column, expression rebuilding the value).
_PASS: dict[str, tuple[str, str]] = {
    "uuid": ("uuid[]", "{c}"),
    "timestamptz": ("timestamptz[]", "{c}"),
    "text": ("text[]", "{c}"),
    "float8": ("float8[]", "{c}"),
    "jsonb": ("jsonb[]", "{c}"),
    "text[]": ("jsonb[]", "ARRAY(SELECT jsonb_array_elements_text({c}))"),
}


def _encode(kind: str, value: Any) -> Any:
    if kind == "text[]":
        return json.dumps(list(value))
    if kind == "jsonb":
        return None if value is None else json.dumps(value, allow_nan=False)
    return value


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    columns: Mapping[str, str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Insert `rows` (dicts keyed by column name) into `table` in one statement.

    `columns` maps each column name to its kind: uuid, timestamptz, text, float8, jsonb, text[].
    """
    if not rows:
        return
    names = list(columns)
    params = {f"p{i}": [_encode(columns[n], row[n]) for row in rows] for i, n in enumerate(names)}
    unnest = ", ".join(f"CAST(:p{i} AS {_PASS[columns[n]][0]})" for i, n in enumerate(names))
    select_list = ", ".join(_PASS[columns[n]][1].format(c=f"t.{n}") for n in names)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"SELECT {select_list} FROM unnest({unnest}) AS t({', '.join(names)})"
    )
    await conn.execute(text(sql), params)
