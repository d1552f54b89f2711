"""What sound and annotation batches share: results, keys, and the commit-slot write.

A batch is atomic: every input is checked first and, if anything is wrong, every problem is
returned and nothing is written. Inputs may carry an idempotency `key` (unique per creator):
one whose key already exists returns the existing resource and creates nothing, so an import
or a bot that crashed part-way can simply send the same batch again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.errors import Problem, RequestTooLarge
from api.services import cursors, ids, streams
from api.services.bulk import insert_rows
from api.services.reading import Kind

R = TypeVar("R")


@dataclass
class BatchResult(Generic[R]):
    """Records in input order (empty when `problems` is not), and what was wrong."""

    items: list[R] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    created: int = 0


def check_size(count: int, *, maximum: int, what: str) -> None:
    if count > maximum:
        raise RequestTooLarge(f"a batch holds at most {maximum} {what}; this one has {count}")


def duplicate_keys(keys: Sequence[str | None]) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for index, key in enumerate(keys):
        if key is None:
            continue
        if key in seen:
            problems.append(
                Problem(
                    index, "key", "DUPLICATE_KEY", f"key {key!r} is also used by input {seen[key]}"
                )
            )
        seen.setdefault(key, index)
    return problems


async def write_batch(
    *,
    engine: AsyncEngine,
    kind: Kind[R, Any],
    stream: cursors.Kind,
    creator: uuid.UUID,
    keys: Sequence[str | None],
    columns: Sequence[str],
    build_row: Callable[[int, uuid.UUID, datetime], tuple[tuple[Any, ...], R]],
    check_in_slot: Callable[[AsyncConnection, list[int]], Any] | None = None,
) -> BatchResult[R]:
    """Create the inputs whose key is new, in one COPY inside the kind's commit slot.

    `build_row(index, id, now)` gives input `index`'s row (a tuple in `columns` order, as
    `bulk.insert_rows` takes it) and the record it becomes. `check_in_slot(conn, indexes)` may
    return problems found under the slot (e.g. duplicates of stored rows); then nothing is
    written.
    """
    table: Table = kind.table
    async with engine.begin() as conn:
        newest = await streams.enter_commit_slot(conn, stream)
        existing = await _existing_by_key(conn, kind, creator, [k for k in keys if k is not None])
        fresh = [i for i, k in enumerate(keys) if k is None or k not in existing]
        if check_in_slot is not None:
            problems = await check_in_slot(conn, fresh)
            if problems:
                await conn.rollback()
                return BatchResult(problems=problems)
        now = datetime.now(UTC)
        new_ids = ids.mint(count=len(fresh), after=newest)
        built = [build_row(i, new_id, now) for i, new_id in zip(fresh, new_ids, strict=True)]
        await insert_rows(conn, table, columns, [row for row, _ in built])
    if len(fresh) == len(keys):
        return BatchResult(items=[record for _, record in built], created=len(fresh))
    made = {i: record for i, (_, record) in zip(fresh, built, strict=True)}
    items = [made[i] if i in made else existing[keys[i] or ""] for i in range(len(keys))]
    return BatchResult(items=items, created=len(fresh))


def _record_fields(kind: Kind[Any, Any], row: Any) -> Any:
    return {c.name: row[c.name] for c in kind.columns}


async def _existing_by_key(
    conn: AsyncConnection, kind: Kind[R, Any], creator: uuid.UUID, keys: list[str]
) -> dict[str, R]:
    if not keys:
        return {}
    table = kind.table
    stmt = select(table.c.key, *kind.columns).where(
        table.c.created_by == creator, table.c.key.in_(keys)
    )
    rows = (await conn.execute(stmt)).mappings().all()
    return {r["key"]: kind.to_record(_record_fields(kind, r)) for r in rows}
