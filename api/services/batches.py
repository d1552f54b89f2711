"""What sound and annotation batches share: results, keys, and the commit-slot write.

A batch is atomic: every input is checked first and, if anything is wrong, every problem is
returned and nothing is written. Inputs may carry an idempotency `key` (unique per creator):
one whose key already exists returns the existing resource and creates nothing, so an import
or a bot that crashed part-way can simply send the same batch again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from asyncpg.pgproto.pgproto import UUID as FastUUID
from sqlalchemy import ARRAY, Select, Table, Text, bindparam, func, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.errors import Problem, RequestTooLarge
from api.services import cursors, ids, streams
from api.services.bulk import copy_encoded, insert_rows
from api.services.reading import Kind

R = TypeVar("R")
# How many inputs a batch handles between yields to the event loop: the requests of one
# process share it, and one holding the commit slot must not wait for a whole batch's
# checks (thousands of inputs, milliseconds) between its statements.
STRIDE = 256


@dataclass
class BatchResult(Generic[R]):
    """Records in input order (empty when `problems` is not), and what was wrong."""

    items: list[R] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    created: int = 0


def check_size(count: int, *, maximum: int, what: str) -> None:
    if count > maximum:
        raise RequestTooLarge(f"a batch holds at most {maximum} {what}; this one has {count}")


@dataclass(frozen=True, slots=True)
class EncodedRows(Generic[R]):
    """A batch's rows encoded before the commit slot (see `bulk.copy_encoded`).

    `heads[i]` is input i's row but its id and creation time: `bulk.row_header`, then its
    fields of `columns`. `record(i, id, now)` is the record it becomes, made after commit.
    """

    columns: Sequence[str]
    heads: Sequence[bytes]
    record: Callable[[int, uuid.UUID, datetime], R]


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
    columns: Sequence[str] = (),
    build_row: Callable[[int, uuid.UUID, datetime], tuple[tuple[Any, ...], R]] | None = None,
    encoded: EncodedRows[R] | None = None,
    check_in_slot: Callable[[AsyncConnection, list[int]], Any] | None = None,
) -> BatchResult[R]:
    """Create the inputs whose key is new, in one COPY inside the kind's commit slot.

    Rows come either `encoded` (all but their ids, before the slot) or from
    `build_row(index, id, now)`: input `index`'s row (a tuple in `columns` order, as
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
        if encoded is not None:
            heads = encoded.heads
            if len(fresh) < len(keys):
                heads = [heads[i] for i in fresh]
            id_bytes = [
                n.to_bytes(16, "big") for n in ids.mint_ints(count=len(fresh), after=newest)
            ]
            await copy_encoded(conn, table, encoded.columns, heads, id_bytes, now)
        else:
            assert build_row is not None
            new_ids = ids.mint(count=len(fresh), after=newest)
            built = [build_row(i, new_id, now) for i, new_id in zip(fresh, new_ids, strict=True)]
            await insert_rows(conn, table, columns, [row for row, _ in built])
    # Records are made after the commit: nothing else holds the slot up. Their ids are
    # asyncpg's UUIDs (as reads give them), which print 8 times faster: a payload lists them.
    if encoded is not None:
        record = encoded.record
        records = []
        for start in range(0, len(fresh), STRIDE):
            if start:
                await asyncio.sleep(0)
            chunk = zip(
                fresh[start : start + STRIDE], id_bytes[start : start + STRIDE], strict=True
            )
            records += [record(i, FastUUID(b), now) for i, b in chunk]
    else:
        records = [record for _, record in built]
    if len(fresh) == len(keys):
        return BatchResult(items=records, created=len(fresh))
    made = dict(zip(fresh, records, strict=True))
    items = [made[i] if i in made else existing[keys[i] or ""] for i in range(len(keys))]
    return BatchResult(items=items, created=len(fresh))


def _record_fields(kind: Kind[Any, Any], row: Any) -> Any:
    return {c.name: row[c.name] for c in kind.columns}


async def _existing_by_key(
    conn: AsyncConnection, kind: Kind[R, Any], creator: uuid.UUID, keys: list[str]
) -> dict[str, R]:
    if not keys:
        return {}
    found = await conn.execute(existing_by_key(kind), {"creator": creator, "keys": keys})
    return {r["key"]: kind.to_record(_record_fields(kind, r)) for r in found.mappings().all()}


def existing_by_key(kind: Kind[Any, Any]) -> Select[Any]:
    """The stored resources of creator `:creator` among `:keys`: one unique-index probe per key.

    A lateral lookup per key, because with `key IN (...)` the planner, when its statistics
    say the creator has few rows (a bot's rows grow long before autoanalyze sees them), reads
    the creator's whole index range and filters it: each batch of a bot cost more than the
    last (2.9 ms for 7,872 stored rows against 0.46 ms, 200 keys). One array parameter also
    keeps one prepared statement for any number of keys. Built once per kind: SQLAlchemy
    derives a new statement's column collections and cache key on every execution, which took
    a fifth of the API's time in a bot's one-annotation `createAnnotations`.
    """
    if kind.name not in _EXISTING_BY_KEY:
        _EXISTING_BY_KEY[kind.name] = _existing_by_key_statement(kind)
    return _EXISTING_BY_KEY[kind.name]


_EXISTING_BY_KEY: dict[str, Select[Any]] = {}


def _existing_by_key_statement(kind: Kind[Any, Any]) -> Select[Any]:
    table = kind.table
    wanted = func.unnest(bindparam("keys", type_=ARRAY(Text))).table_valued("key")
    wanted = wanted.render_derived()
    found = (
        select(table.c.key, *kind.columns)
        .where(
            table.c.created_by == bindparam("creator", type_=table.c.created_by.type),
            table.c.key == wanted.c.key,
        )
        .limit(literal_column("1"))  # (created_by, key) is unique; LIMIT keeps a nested loop
        .lateral()
    )
    return select(found).select_from(wanted).join(found, true())
