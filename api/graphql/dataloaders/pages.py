"""Dataloaders for nested lists: every parent's page of one nested field, in one statement.

A key is `(NestedAsk, parent id)`; the ask (kind, parent column, filter without the parent,
page arguments, page-size limit) is what siblings share, so a level of a response whose
parents all ask the same costs one statement for the pages, and one more each for
`totalCount` and the page info behind a cursor when those are asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from api.services import cursors
from api.services.nested import NestedQuery, any_behind, count_pages, fetch_pages
from api.services.pagination import PageRequest, plan_page
from api.services.reading import ANNOTATIONS, SOUNDS, USERS, Kind

V = TypeVar("V")

KINDS: dict[cursors.Kind, Kind[Any, Any]] = {k.name: k for k in (USERS, SOUNDS, ANNOTATIONS)}


@dataclass(frozen=True, slots=True)
class NestedAsk:
    """What a nested list field asks of each of its parents (hashable: the batch's group)."""

    kind: cursors.Kind
    parent: str  # the column of `kind`'s table that holds the parent's id
    filter: Any  # a frozen service filter, without the parent
    request: PageRequest
    max_size: int

    def query(self) -> NestedQuery:
        kind = KINDS[self.kind]
        return NestedQuery(
            kind=kind,
            parent=self.parent,
            where=kind.conditions(self.filter),
            plan=plan_page(self.kind, self.request, self.max_size),
            request=self.request,
        )


NestedKey = tuple[NestedAsk, uuid.UUID]
Batch = Callable[..., Awaitable[dict[uuid.UUID, V]]]


async def _grouped(engine: AsyncEngine, run: Batch[V], keys: Sequence[NestedKey]) -> list[V]:
    """`run` once per distinct ask among `keys` (usually one), answers in key order."""
    groups: dict[NestedAsk, list[uuid.UUID]] = {}
    for ask, parent in keys:
        groups.setdefault(ask, []).append(parent)
    answers: dict[NestedAsk, dict[uuid.UUID, V]] = {}
    for ask, parents in groups.items():
        answers[ask] = await run(
            engine=engine, query=ask.query(), parent_ids=list(dict.fromkeys(parents))
        )
    return [answers[ask][parent] for ask, parent in keys]


@dataclass(frozen=True)
class NestedLoaders:
    pages: DataLoader[NestedKey, tuple[list[dict[str, Any]], bool]]
    counts: DataLoader[NestedKey, int]
    behind: DataLoader[NestedKey, bool]

    @classmethod
    def create(cls, engine: AsyncEngine) -> NestedLoaders:
        async def pages(keys: Sequence[NestedKey]) -> list[tuple[list[dict[str, Any]], bool]]:
            return await _grouped(engine, fetch_pages, keys)

        async def counts(keys: Sequence[NestedKey]) -> list[int]:
            return await _grouped(engine, count_pages, keys)

        async def behind(keys: Sequence[NestedKey]) -> list[bool]:
            return await _grouped(engine, any_behind, keys)

        return cls(
            pages=DataLoader(load_fn=pages),
            counts=DataLoader(load_fn=counts),
            behind=DataLoader(load_fn=behind),
        )

    def all(self) -> list[DataLoader[Any, Any]]:
        return [self.pages, self.counts, self.behind]
