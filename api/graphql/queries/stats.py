"""`stats`: platform totals."""

from __future__ import annotations

import strawberry

from api.services.reading import totals


@strawberry.type(description="How much the platform holds.")
class Stats:
    users: int
    sounds: int
    annotations: int


async def resolve_stats(info: strawberry.Info) -> Stats:
    await info.context.require_read()
    return Stats(**await totals(engine=info.context.engine))
