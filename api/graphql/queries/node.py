"""`node(id:)`: any resource by its id; null when no resource has it."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from api.graphql.compiled.compiler import CompiledNode
from api.graphql.types.annotation import Annotation
from api.graphql.types.node import Node, parse_id
from api.graphql.types.sound import Sound
from api.graphql.types.user import User
from api.services.reading import kind_of


async def resolve_node(info: strawberry.Info, id: strawberry.ID) -> Node | None:
    context = info.context
    await context.require_read()
    uid = parse_id(id, argument="id")
    if context.settings.compiled_reads:
        return CompiledNode(id=uid, fallback=lambda: _read(context, uid))  # type: ignore[return-value]
    return await _read(context, uid)


async def _read(context: Any, uid: uuid.UUID) -> Node | None:
    """The resolvers' read: which kind holds the id, then the record through its loader."""
    kind = await kind_of(engine=context.engine, id_=uid)
    if kind == "user":
        user = await context.loaders.users.load(uid)
        return User.from_record(user) if user is not None else None
    if kind == "sound":
        sound = await context.loaders.sounds.load(uid)
        return Sound.from_record(sound) if sound is not None else None
    if kind == "annotation":
        annotation = await context.loaders.annotations.load(uid)
        return Annotation.from_record(annotation) if annotation is not None else None
    return None
