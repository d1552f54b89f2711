"""Nested lists read for many parents at once: one statement per level, not one per parent.

`Sound.annotations`, `User.sounds` and `User.annotations` under a page of parents ask the same
question (same filter, same page arguments) of every parent. `fetch_pages` answers all of them
in one statement, a LATERAL keyset page per parent (each an index range scan on
`(parent column, id)`), so each parent still gets its own page, cursors and page info; the two
questions that cost another query (`totalCount`, and what lies behind the cursor) are likewise
answered for all parents of the batch at once, and only when a client asks.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Uuid, column, func, select, true, values
from sqlalchemy.ext.asyncio import AsyncEngine

from api.services.pagination import (
    Page,
    PagePlan,
    PageRequest,
    behind_condition,
    keyset_bounds,
    trim_rows,
)
from api.services.reading import Kind

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class NestedQuery:
    """What every parent of a batch is asked: `kind` rows whose `parent` column is the parent's
    id and that match `where` (the filter, without the parent), paged by `request`."""

    kind: Kind[Any, Any]
    parent: str  # column of `kind.table` holding the parent's id
    where: ColumnElement[bool]
    plan: PagePlan
    request: PageRequest


@dataclass
class NestedPage(Page[R]):
    """A parent's page whose lazy answers are batched with its siblings'."""

    _count: Callable[[], Awaitable[int]]
    _any_behind: Callable[[], Awaitable[bool]]

    async def total_count(self) -> int:
        return await self._count()

    async def _anything_behind(self) -> bool:
        if self._behind is None:
            return False
        return await self._any_behind()


def _parents(ids: Sequence[uuid.UUID]) -> Any:
    return values(column("parent_id", Uuid), name="parents").data([(i,) for i in ids])


async def fetch_pages(
    *, engine: AsyncEngine, query: NestedQuery, parent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[list[dict[str, Any]], bool]]:
    """Each parent's page rows (in list order) and whether its extra row was there."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {p: [] for p in parent_ids}
    plan = query.plan
    if plan.limit > 0 and parent_ids:
        table = query.kind.table
        id_ = table.c.id
        parents = _parents(parent_ids)
        page = (
            select(*query.kind.columns)
            .where(
                query.where,
                table.c[query.parent] == parents.c.parent_id,
                *keyset_bounds(plan, id_),
            )
            .order_by(id_.desc() if plan.descending else id_.asc())
            .limit(plan.limit + 1)
            .lateral("page")
        )
        stmt = select(parents.c.parent_id.label("_parent"), *page.c).select_from(
            parents.join(page, true())
        )
        names = [c.name for c in page.c]
        async with engine.connect() as conn:
            for parent, *row in await conn.execute(stmt):
                found[parent].append(dict(zip(names, row, strict=True)))
    return {p: trim_rows(plan, rows) for p, rows in found.items()}


async def count_pages(
    *, engine: AsyncEngine, query: NestedQuery, parent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many rows match for each parent (`totalCount`), in one statement."""
    parent = query.kind.table.c[query.parent]
    stmt = (
        select(parent, func.count())
        .where(query.where, parent.in_(list(parent_ids)))
        .group_by(parent)
    )
    async with engine.connect() as conn:
        counts = {p: int(n) for p, n in (await conn.execute(stmt)).all()}
    return {p: counts.get(p, 0) for p in parent_ids}


async def any_behind(
    *, engine: AsyncEngine, query: NestedQuery, parent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, bool]:
    """Whether anything matches behind the cursor we came from, for each parent: an EXISTS
    per parent, so each stops at its first row."""
    table = query.kind.table
    behind = behind_condition(query.kind.name, query.plan, query.request, table.c.id)
    if behind is None or not parent_ids:
        return {p: False for p in parent_ids}
    parents = _parents(parent_ids)
    hit = (
        select(table.c.id)
        .where(query.where, behind, table.c[query.parent] == parents.c.parent_id)
        .exists()
    )
    stmt = select(parents.c.parent_id, hit)
    async with engine.connect() as conn:
        found = {p: bool(h) for p, h in (await conn.execute(stmt)).all()}
    return {p: found.get(p, False) for p in parent_ids}
