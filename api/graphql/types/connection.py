"""Relay connections: `edges { cursor node }`, `pageInfo`, and `totalCount` on demand.

`list_field` builds every list field of the schema (top-level and nested) from one resolver,
so that the connection arguments, their validation and their meaning are the same everywhere.
"""

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types.field import StrawberryField

from api.services.pagination import Order, Page, PageRequest
from api.services.reading import Kind, list_page

# No `from __future__ import annotations` here: `list_field` builds resolver signatures from
# runtime values (the node and filter types), which Strawberry reads as real annotations.
N = TypeVar("N")


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    start_cursor: str | None
    end_cursor: str | None
    _page: strawberry.Private[Page[Any]]

    @strawberry.field(description="Whether more items follow this page in the list's order.")
    async def has_next_page(self) -> bool:
        return await self._page.next_page()

    @strawberry.field(description="Whether items precede this page in the list's order.")
    async def has_previous_page(self) -> bool:
        return await self._page.previous_page()


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo
    _page: strawberry.Private[Page[Any]]

    @strawberry.field(
        description="How many items match the filter (costs a count; ask only if needed)."
    )
    async def total_count(self) -> int:
        return await self._page.total_count()


def to_connection(page: Page[Any], convert: Callable[[Any], N]) -> Connection[N]:
    edges = [Edge(cursor=page.cursor(i), node=convert(item)) for i, item in enumerate(page.items)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
            _page=page,
        ),
        _page=page,
    )


def list_field(
    *,
    kind: Kind[Any, Any],
    node: type[N],
    filter_input: type,
    convert: Callable[[Any], N],
    scope: Callable[[Any, Any], Any] | None = None,
    description: str,
) -> StrawberryField:
    """A connection field over `kind`. `scope(root, filter)` narrows a nested list to its parent."""

    async def resolve(
        root: Any,
        info: strawberry.Info,
        filter: filter_input | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order: Order = Order.ASC,
    ) -> Connection[node]:  # type: ignore[valid-type]
        context = info.context
        await context.require_read()
        service_filter = filter.to_filter() if filter is not None else None
        if scope is not None:
            service_filter = scope(root, service_filter)
        page = await list_page(
            engine=context.engine,
            kind=kind,
            filter=service_filter,
            request=PageRequest(first=first, after=after, last=last, before=before, order=order),
            max_size=context.settings.max_page_size,
        )
        return to_connection(page, convert)

    return strawberry.field(resolver=resolve, description=description)
