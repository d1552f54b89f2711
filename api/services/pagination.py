"""Keyset pagination over id order, the same for every list.

Never OFFSET: a page is `WHERE <filter> AND id > :cursor ORDER BY id LIMIT n + 1` (mirrored for
the other directions), an index range scan whose cost does not grow with depth. The extra row
tells whether there is a next page. The two things a page may be asked that cost another query
(`totalCount`, and whether anything lies behind the cursor we came from) are computed only when
a client asks for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Table, and_, exists, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from api.errors import BadUserInput
from api.services import cursors

T = TypeVar("T")
Row = TypeVar("Row")

DEFAULT_PAGE_SIZE = 50


class Order(Enum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None
    order: Order = Order.ASC


@dataclass(frozen=True, slots=True)
class _Plan:
    limit: int
    lower: uuid.UUID | None  # exclusive bounds in id space
    upper: uuid.UUID | None
    descending: bool  # direction of the SQL scan
    backwards: bool  # `last`: rows come back reversed and the extra row means "previous"


PagePlan = _Plan


def _plan(kind: cursors.Kind, request: PageRequest, max_size: int) -> _Plan:
    if request.first is not None and request.last is not None:
        raise BadUserInput("pass `first` or `last`, not both", argument="first")
    size = request.first if request.last is None else request.last
    name = "last" if request.last is not None else "first"
    if size is None:
        size = DEFAULT_PAGE_SIZE
    if size < 0 or size > max_size:
        raise BadUserInput(f"`{name}` must be between 0 and {max_size}", argument=name)
    after = cursors.decode(kind, request.after, argument="after") if request.after else None
    before = cursors.decode(kind, request.before, argument="before") if request.before else None
    asc = request.order is Order.ASC
    lower, upper = (after, before) if asc else (before, after)
    backwards = request.last is not None
    return _Plan(
        limit=size, lower=lower, upper=upper, descending=asc == backwards, backwards=backwards
    )


@dataclass
class Page(Generic[T]):
    """One page of a list, plus lazy answers to the questions that cost another query."""

    kind: cursors.Kind
    items: list[T]
    ids: list[uuid.UUID]
    has_next_page: bool | None
    has_previous_page: bool | None
    _engine: AsyncEngine
    _table: Table
    _where: ColumnElement[bool]
    _behind: ColumnElement[bool] | None

    def cursor(self, index: int) -> str:
        return cursors.encode(self.kind, self.ids[index])

    async def total_count(self) -> int:
        async with self._engine.connect() as conn:
            stmt = select(func.count()).select_from(self._table).where(self._where)
            return int((await conn.execute(stmt)).scalar_one())

    async def _anything_behind(self) -> bool:
        if self._behind is None:
            return False
        async with self._engine.connect() as conn:
            stmt = select(exists().where(self._where, self._behind))
            return bool((await conn.execute(stmt)).scalar_one())

    async def next_page(self) -> bool:
        return (
            self.has_next_page if self.has_next_page is not None else await self._anything_behind()
        )

    async def previous_page(self) -> bool:
        if self.has_previous_page is not None:
            return self.has_previous_page
        return await self._anything_behind()


def plan_page(kind: cursors.Kind, request: PageRequest, max_size: int) -> PagePlan:
    """The checked plan of `request` (BAD_USER_INPUT / BAD_CURSOR for bad sizes and cursors)."""
    return _plan(kind, request, max_size)


def keyset_bounds(plan: _Plan, id_: ColumnElement[uuid.UUID]) -> list[ColumnElement[bool]]:
    """The cursor bounds of `plan` on the id column."""
    bounds: list[ColumnElement[bool]] = []
    if plan.lower is not None:
        bounds.append(id_ > plan.lower)
    if plan.upper is not None:
        bounds.append(id_ < plan.upper)
    return bounds


def behind_condition(
    kind: cursors.Kind, plan: _Plan, request: PageRequest, id_: ColumnElement[uuid.UUID]
) -> ColumnElement[bool] | None:
    """What lies behind the cursor we came from (`after` going forward, `before` going back):
    it answers the page-info question that the extra row does not."""
    came_from = request.before if plan.backwards else request.after
    if came_from is None:
        return None
    at = cursors.decode(kind, came_from)
    behind_is_lower = (not plan.backwards) == (request.order is Order.ASC)
    return id_ <= at if behind_is_lower else id_ >= at


def trim_rows(plan: _Plan, rows: list[Row]) -> tuple[list[Row], bool]:
    """The page's rows in list order, and whether the extra row was there."""
    more = len(rows) > plan.limit
    rows = rows[: plan.limit]
    if plan.backwards:
        rows.reverse()
    return rows, more


async def fetch_page(
    *,
    engine: AsyncEngine,
    kind: cursors.Kind,
    table: Table,
    columns: Sequence[Any],
    where: ColumnElement[bool],
    request: PageRequest,
    to_record: Callable[[RowMapping], T],
    max_size: int,
) -> Page[T]:
    """The page of `table` rows matching `where` that `request` asks for, in `request.order`."""
    plan = _plan(kind, request, max_size)
    id_ = table.c.id
    stmt = (
        select(*columns)
        .where(and_(where, *keyset_bounds(plan, id_)))
        .order_by(id_.desc() if plan.descending else id_.asc())
        .limit(plan.limit + 1)
    )
    if plan.limit == 0:
        rows: list[RowMapping] = []
    else:
        async with engine.connect() as conn:
            rows = list((await conn.execute(stmt)).mappings())
    rows, more = trim_rows(plan, rows)
    return Page(
        kind=kind,
        items=[to_record(r) for r in rows],
        ids=[r["id"] for r in rows],
        has_next_page=None if plan.backwards else more,
        has_previous_page=more if plan.backwards else None,
        _engine=engine,
        _table=table,
        _where=where,
        _behind=behind_condition(kind, plan, request, id_),
    )
