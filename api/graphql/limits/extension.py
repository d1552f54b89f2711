"""`QueryLimits`: every operation is measured, charged and admitted before anything runs.

In order: the document's size (before it is parsed, over HTTP), then its shape (root fields,
aliases, depth, and the nodes it may return, see `cost`), then the client's hourly budget of
points (`api.services.ratelimit`), and for a subscription the live-subscription caps. A refusal
is a coded GraphQL error (QUERY_TOO_COMPLEX, RATE_LIMITED with HTTP 429 and `Retry-After`,
TOO_MANY_SUBSCRIPTIONS) and nothing is executed.

The checks run in `on_execute`, after validation (so the document is known to be valid, and
the parse and validation caches keep working), with the request's variables at hand.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from api.errors import QueryTooComplex, RateLimited, TooManySubscriptions, Unauthenticated
from api.graphql.context import Context
from api.graphql.limits.cost import (
    MAX_EXPANDED_FIELDS,
    Cost,
    Shape,
    ShapeCache,
    describe,
    measure,
)
from api.services.ratelimit import Budget, Lease, Limiter, points
from api.settings import Settings

SHAPES = ShapeCache(maxsize=1024)


def check_shape(shape: Shape, cost: Cost, settings: Settings) -> None:
    """Refuse a document over any of the static limits (0 disables a limit)."""
    if shape.too_big:
        raise QueryTooComplex(
            f"this document expands to more than {describe(MAX_EXPANDED_FIELDS)} fields"
            " (fragments spread in fragments spread...)",
            limit=MAX_EXPANDED_FIELDS,
        )
    checks = (
        ("has {} root fields", shape.root_fields, settings.max_root_fields, "ROOT_FIELDS"),
        ("has {} aliases", shape.aliases, settings.max_aliases, "ALIASES"),
        ("nests fields {} deep", shape.depth, settings.max_query_depth, "QUERY_DEPTH"),
    )
    for what, value, limit, setting in checks:
        if limit and value > limit:
            raise QueryTooComplex(
                f"this query {what.format(value)}; the limit is {limit}",
                limit=limit,
                value=value,
                setting="COCHLEA_MAX_" + setting,
            )
    limit = settings.max_query_cost
    if limit and cost.nodes > limit:
        raise QueryTooComplex(
            f"this query may return {describe(cost.nodes)} nodes; the limit is {describe(limit)}"
            " (ask for smaller pages with `first`/`last`, or fewer nested connections)",
            cost=cost.nodes,
            limit=limit,
            setting="COCHLEA_MAX_QUERY_COST",
        )


async def charge(context: Context, cost: Cost) -> None:
    """Pay for this request from its client's hourly budget, or refuse it with RATE_LIMITED."""
    budget = context.prepaid if context.prepaid is not None else await bill(context, cost)
    if budget is not None:
        settle(context, budget)


async def bill(context: Context, cost: Cost) -> Budget | None:
    """Take this request's points from its client's budget (None: no limiter, or Redis is
    down); `settle` then reports the result."""
    limiter = context.limiter
    if limiter is None or not limiter.enabled:
        return None
    try:
        viewer = await context.viewer()
    except Unauthenticated:
        viewer = None  # a bad key pays as its address; the resolvers then refuse the key
    if viewer is not None:
        client, limit = "user:" + str(viewer.id), context.settings.rate_limit_key_points
    else:
        address = context.client_address or "unknown"
        client, limit = "address:" + address, context.settings.rate_limit_anon_points
    return await limiter.charge(client=client, cost=points(cost.requests), limit=limit)


def settle(context: Context, budget: Budget) -> None:
    """The budget in the response's headers; RATE_LIMITED (HTTP 429) if it was refused."""
    response = context.http_response
    if response is not None:
        response.headers["x-ratelimit-limit"] = str(budget.limit)
        response.headers["x-ratelimit-remaining"] = str(budget.remaining)
        response.headers["x-ratelimit-used"] = str(budget.used)
        response.headers["x-ratelimit-reset"] = str(int(budget.reset_at.timestamp()))
    if not budget.allowed:
        if response is not None:
            response.status_code = 429
            response.headers["retry-after"] = str(budget.retry_after)
        raise RateLimited(
            f"this request costs {budget.cost} points and {budget.remaining} of the "
            f"{budget.limit} points of this hour are left; the budget resets at "
            f"{budget.reset_at.isoformat(timespec='seconds')}",
            cost=budget.cost,
            limit=budget.limit,
            remaining=budget.remaining,
            retryAfter=budget.retry_after,
            resetAt=budget.reset_at.isoformat(timespec="seconds"),
        )
    context.rate_limit = budget


class _Subscription:
    """One live subscription's places under the caps, given back when it ends."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.lease: Lease | None = None
        self.renewer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        context = self.context
        cap = context.settings.max_subscriptions_per_connection
        if cap and context.live_subscriptions >= cap:
            raise TooManySubscriptions(
                f"this connection already has {context.live_subscriptions} live subscriptions;"
                f" the limit is {cap} (COCHLEA_MAX_SUBSCRIPTIONS_PER_CONNECTION)",
                limit=cap,
            )
        context.live_subscriptions += 1  # taken before any await: concurrent starts count
        try:
            await self._lease()
        except BaseException:
            context.live_subscriptions -= 1
            raise

    async def _lease(self) -> None:
        context = self.context
        viewer = await context.viewer()
        limiter = context.limiter
        if viewer is None or limiter is None:
            return
        cap = context.settings.max_subscriptions_per_key
        lease = await limiter.acquire(user=str(viewer.id), cap=cap)
        if isinstance(lease, int):
            raise TooManySubscriptions(
                f"this API key's user already has {lease} live subscriptions; the limit is"
                f" {cap} (COCHLEA_MAX_SUBSCRIPTIONS_PER_KEY)",
                limit=cap,
            )
        if lease is not None:
            self.lease = lease
            self.renewer = asyncio.create_task(_renew(limiter, lease))

    async def close(self) -> None:
        self.context.live_subscriptions -= 1
        if self.renewer is not None:
            self.renewer.cancel()
        if self.lease is not None and self.context.limiter is not None:
            await self.context.limiter.release(self.lease)


async def _renew(limiter: Limiter, lease: Lease) -> None:
    while True:
        await asyncio.sleep(limiter.lease_seconds / 3)
        await limiter.renew(lease)


class QueryLimits(SchemaExtension):
    """Register it first, before the parser cache: the size check must precede parsing."""

    def __init__(self) -> None:
        super().__init__()
        self.subscription: _Subscription | None = None

    def _context(self) -> Context:
        context = self.execution_context.context
        assert isinstance(context, Context)
        return context

    def _oversized(self) -> None:
        query = self.execution_context.query
        limit = self._context().settings.max_document_bytes
        size = len(query.encode()) if query is not None else 0
        if limit and size > limit:
            raise QueryTooComplex(
                f"this document has {describe(size)} bytes; the limit is {describe(limit)}",
                limit=limit,
                value=size,
                setting="COCHLEA_MAX_DOCUMENT_BYTES",
            )

    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self.subscription is not None:
                subscription, self.subscription = self.subscription, None
                with contextlib.suppress(Exception):
                    await subscription.close()

    def on_parse(self) -> Iterator[None]:
        # Over HTTP a refusal here is answered without parsing; a websocket's subscriptions
        # cannot be refused at this step (Strawberry would not answer them), so they are
        # refused in on_execute, after a parse bounded by the websocket's frame size.
        if self._context().http_response is not None:
            self._oversized()
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = self._context()
        if context.http_response is None:
            self._oversized()  # over HTTP, on_parse did
        assert execution.graphql_document is not None
        shape = SHAPES.get(
            execution.schema._schema,
            execution.query,
            execution.graphql_document,
            execution.operation_name,
        )
        cost = measure(shape, execution.variables)
        check_shape(shape, cost, context.settings)
        context.cost = cost
        await charge(context, cost)
        if execution.operation_type is OperationType.SUBSCRIPTION:
            subscription = _Subscription(context)
            await subscription.open()
            self.subscription = subscription
        yield
