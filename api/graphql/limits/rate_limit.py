"""`rateLimit`: the client's hourly budget of points, as this request left it."""

from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.type(description="The caller's hourly budget of points (GitHub's model).")
class RateLimit:
    limit: int = strawberry.field(description="Points per hour for this caller.")
    cost: int = strawberry.field(description="Points this request cost.")
    used: int = strawberry.field(description="Points spent in the current window.")
    remaining: int = strawberry.field(description="Points left in the current window.")
    reset_at: datetime = strawberry.field(description="When the window resets.")


async def resolve_rate_limit(info: strawberry.Info) -> RateLimit | None:
    """Null when this server does not meter the caller (no limit set, or Redis unreachable)."""
    budget = info.context.rate_limit
    if budget is None:
        return None
    return RateLimit(
        limit=budget.limit,
        cost=budget.cost,
        used=budget.used,
        remaining=budget.remaining,
        reset_at=budget.reset_at,
    )
