"""Per-request dataloaders: every id asked for while resolving one request is fetched in one
statement per kind. Built fresh for each request (never global), so nothing leaks between
viewers and nothing goes stale."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from api.graphql.dataloaders.pages import NestedLoaders
from api.services.reading import ANNOTATIONS, SOUNDS, USERS, Kind, load_by_ids
from api.services.records import AnnotationRecord, SoundRecord, UserRecord


async def _load(engine: AsyncEngine, kind: Kind[Any, Any], keys: Sequence[uuid.UUID]) -> list[Any]:
    return await load_by_ids(engine=engine, kind=kind, ids=keys)


@dataclass(frozen=True)
class Loaders:
    users: DataLoader[uuid.UUID, UserRecord | None]
    sounds: DataLoader[uuid.UUID, SoundRecord | None]
    annotations: DataLoader[uuid.UUID, AnnotationRecord | None]
    nested: NestedLoaders  # pages of nested lists, batched over their parents

    @classmethod
    def create(cls, engine: AsyncEngine) -> Loaders:
        return cls(
            users=DataLoader(load_fn=partial(_load, engine, USERS)),
            sounds=DataLoader(load_fn=partial(_load, engine, SOUNDS)),
            annotations=DataLoader(load_fn=partial(_load, engine, ANNOTATIONS)),
            nested=NestedLoaders.create(engine),
        )

    def all(self) -> list[DataLoader[Any, Any]]:
        """Every loader of the request (to cancel what they still await)."""
        return [self.users, self.sounds, self.annotations, *self.nested.all()]
