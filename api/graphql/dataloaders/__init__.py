"""Per-request dataloaders: every id asked for while resolving one request is fetched in one
statement per kind. Built fresh for each request (never global), so nothing leaks between
viewers and nothing goes stale."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cached_property, partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from api.graphql.dataloaders.pages import NestedLoaders
from api.services.reading import ANNOTATIONS, SOUNDS, USERS, Kind, load_by_ids
from api.services.records import AnnotationRecord, SoundRecord, UserRecord


async def _load(engine: AsyncEngine, kind: Kind[Any, Any], keys: Sequence[uuid.UUID]) -> list[Any]:
    return await load_by_ids(engine=engine, kind=kind, ids=keys)


class Loaders:
    """A request's loaders, each made on first use: a compiled read uses none of them, and
    making all six for every request cost more than its statement."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    def create(cls, engine: AsyncEngine) -> Loaders:
        return cls(engine)

    @cached_property
    def users(self) -> DataLoader[uuid.UUID, UserRecord | None]:
        return DataLoader(load_fn=partial(_load, self._engine, USERS))

    @cached_property
    def sounds(self) -> DataLoader[uuid.UUID, SoundRecord | None]:
        return DataLoader(load_fn=partial(_load, self._engine, SOUNDS))

    @cached_property
    def annotations(self) -> DataLoader[uuid.UUID, AnnotationRecord | None]:
        return DataLoader(load_fn=partial(_load, self._engine, ANNOTATIONS))

    @cached_property
    def nested(self) -> NestedLoaders:
        """Pages of nested lists, batched over their parents."""
        return NestedLoaders.create(self._engine)

    def all(self) -> list[DataLoader[Any, Any]]:
        """Every loader the request made (to cancel what they still await)."""
        made = self.__dict__
        loaders = [made[name] for name in ("users", "sounds", "annotations") if name in made]
        return loaders + (made["nested"].all() if "nested" in made else [])
