"""Relay connections: `edges { cursor node }`, `pageInfo`, and `totalCount` on demand.

`list_field` builds every list field of the schema (top-level and nested) from one resolver,
so that the connection arguments, their validation and their meaning are the same everywhere.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types.field import StrawberryField

from api.graphql.compiled.compiler import CompiledPage
from api.graphql.dataloaders.pages import NestedAsk
from api.services.nested import NestedPage
from api.services.pagination import Order, Page, PageRequest, behind_condition, plan_page
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


@dataclasses.dataclass(frozen=True)
class Parent:
    """How a nested list is narrowed to its parent: the service filter's field that the
    parent's id overrides, the column holding it, and the filter to start from without one."""

    field: str
    column: str
    empty: Callable[[], Any]


async def _nested_page(
    root: Any,
    context: Any,
    kind: Kind[Any, Any],
    parent: Parent,
    service_filter: Any,
    request: PageRequest,
) -> Page[Any]:
    """`root`'s page, read with its siblings' in one statement (see `api.services.nested`).
    Everything a bad argument can fail on is checked here, at this field's path."""
    max_size = context.settings.max_page_size
    rest = dataclasses.replace(service_filter or parent.empty(), **{parent.field: None})
    parent_id = root._record.id
    where = kind.conditions(rest) & (kind.table.c[parent.column] == parent_id)
    plan = plan_page(kind.name, request, max_size)
    key = (NestedAsk(kind.name, parent.column, rest, request, max_size), parent_id)
    loaders = context.loaders.nested
    rows, more = await loaders.pages.load(key)
    return NestedPage(
        kind=kind.name,
        items=[kind.to_record(r) for r in rows],
        ids=[r["id"] for r in rows],
        has_next_page=None if plan.backwards else more,
        has_previous_page=more if plan.backwards else None,
        _engine=context.engine,
        _table=kind.table,
        _where=where,
        _behind=behind_condition(kind.name, plan, request, kind.table.c.id),
        _count=lambda: loaders.counts.load(key),
        _any_behind=lambda: loaders.behind.load(key),
    )


def _compiled(
    context: Any,
    kind: Kind[Any, Any],
    service_filter: Any,
    request: PageRequest,
    convert: Callable[[Any], Any],
) -> CompiledPage:
    """The checked page for the compiled path (see `api.graphql.compiled`), which falls back
    to exactly what the resolver reads otherwise."""
    max_size = context.settings.max_page_size
    where = kind.conditions(service_filter)  # checked in the resolvers' order: filter, page
    plan = plan_page(kind.name, request, max_size)

    async def fallback() -> Connection[Any]:
        page = await list_page(
            engine=context.engine,
            kind=kind,
            filter=service_filter,
            request=request,
            max_size=max_size,
        )
        return to_connection(page, convert)

    return CompiledPage(kind=kind, where=where, plan=plan, request=request, fallback=fallback)


def list_field(
    *,
    kind: Kind[Any, Any],
    node: type[N],
    filter_input: type,
    convert: Callable[[Any], N],
    parent: Parent | None = None,
    description: str,
) -> StrawberryField:
    """A connection field over `kind`; with `parent`, a nested list of its parent's items."""

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
        request = PageRequest(first=first, after=after, last=last, before=before, order=order)
        if parent is not None:
            page = await _nested_page(root, context, kind, parent, service_filter, request)
        elif context.settings.compiled_reads:
            return _compiled(context, kind, service_filter, request, convert)  # type: ignore[return-value]
        else:
            page = await list_page(
                engine=context.engine,
                kind=kind,
                filter=service_filter,
                request=request,
                max_size=context.settings.max_page_size,
            )
        return to_connection(page, convert)

    return strawberry.field(resolver=resolve, description=description)
