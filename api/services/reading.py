"""Reading users, sounds and annotations: lists (keyset pages) and batched look-ups by id.

One table description per kind keeps the three kinds' reads identical in shape: the columns a
record needs, how a row becomes a record, and how a filter becomes SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Table, literal, select, union_all
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db.tables import annotations_table, sounds_table, users_table
from api.services import cursors, filters
from api.services.pagination import Page, PageRequest, fetch_page
from api.services.records import AnnotationRecord, SoundRecord, UserRecord

R = TypeVar("R")
F = TypeVar("F")


@dataclass(frozen=True)
class Kind(Generic[R, F]):
    name: cursors.Kind
    table: Table
    columns: Sequence[Any]
    to_record: Callable[[RowMapping], R]
    conditions: Callable[[F | None], ColumnElement[bool]]


def _columns(table: Table, record: type) -> list[Any]:
    """The columns a record is built from: one per field, same names."""
    return [table.c[f.name] for f in fields(record)]


USERS: Kind[UserRecord, filters.UserFilter] = Kind(
    name="user",
    table=users_table,
    columns=_columns(users_table, UserRecord),
    to_record=lambda r: UserRecord(**r),
    conditions=filters.user_conditions,
)
SOUNDS: Kind[SoundRecord, filters.SoundFilter] = Kind(
    name="sound",
    table=sounds_table,
    columns=_columns(sounds_table, SoundRecord),
    to_record=lambda r: SoundRecord(**r),
    conditions=filters.sound_conditions,
)
ANNOTATIONS: Kind[AnnotationRecord, filters.AnnotationFilter] = Kind(
    name="annotation",
    table=annotations_table,
    columns=_columns(annotations_table, AnnotationRecord),
    to_record=lambda r: AnnotationRecord(**r),
    conditions=filters.annotation_conditions,
)


async def list_page(
    *,
    engine: AsyncEngine,
    kind: Kind[R, F],
    filter: F | None,
    request: PageRequest,
    max_size: int,
    extra: ColumnElement[bool] | None = None,
) -> Page[R]:
    """One keyset page of `kind` matching `filter` (and `extra`, for nested lists)."""
    where = kind.conditions(filter)
    if extra is not None:
        where = where & extra
    return await fetch_page(
        engine=engine,
        kind=kind.name,
        table=kind.table,
        columns=kind.columns,
        where=where,
        request=request,
        to_record=kind.to_record,
        max_size=max_size,
    )


async def load_by_ids(
    *, engine: AsyncEngine, kind: Kind[R, Any], ids: Sequence[uuid.UUID]
) -> list[R | None]:
    """Records for `ids` in the same order (None where unknown), in one statement."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    async with engine.connect() as conn:
        rows = await conn.execute(select(*kind.columns).where(kind.table.c.id.in_(wanted)))
        found = {r["id"]: kind.to_record(r) for r in rows.mappings()}
    return [found.get(i) for i in ids]


async def kind_of(*, engine: AsyncEngine, id_: uuid.UUID) -> cursors.Kind | None:
    """Which kind of resource `id_` names (ids are unique across kinds), in one statement."""
    stmt = union_all(
        *(
            select(literal(k.name).label("kind")).where(k.table.c.id == id_)
            for k in (USERS, SOUNDS, ANNOTATIONS)
        )
    )
    async with engine.connect() as conn:
        found = (await conn.execute(stmt)).scalars().first()
    return found


async def totals(*, engine: AsyncEngine) -> dict[str, int]:
    """Exact totals of live users, sounds and annotations, in one statement."""
    from sqlalchemy import func

    stmt = select(
        select(func.count())
        .select_from(users_table)
        .where(users_table.c.deleted.is_(False))
        .scalar_subquery(),
        select(func.count()).select_from(sounds_table).scalar_subquery(),
        select(func.count()).select_from(annotations_table).scalar_subquery(),
    )
    async with engine.connect() as conn:
        u, s, a = (await conn.execute(stmt)).one()
    return {"users": u, "sounds": s, "annotations": a}
