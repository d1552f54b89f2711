"""A subscriber's catch-up pages written by PostgreSQL: its edge selection compiled to SQL.

Catching up is a subscriber's own keyset read from its cursor, in pages, until it reaches the
shared reader (`api.services.follow`). Read as records and rendered in Python, a page of 500
cost several milliseconds; here the subscription's selection is compiled once, with the
compiled reads' own builder (`compiler.edge_object`, the JSON the connections write), into one
statement per subscription whose rows are `(id, edge JSON)` in cursor order, sent through the
read pool with only the cursor bounds and the page size changing. Each row's JSON is one
event's (`annotationCreated`) or is joined into one batch (`annotationsCreated`).

The selection is the one the subscription's executor collects (`info.executor`: fragments,
aliases, `@skip`/`@include`), the same the live events are rendered from. Whatever the
compiler leaves to the resolvers (viewer fields such as `User.email`, `@defer`, nested
arguments that fail their checks) leaves the whole catch-up to the records path, as before.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType, get_named_type
from sqlalchemy import Integer, Text, bindparam, cast, select

from api.db.request_engine import RequestEngine
from api.errors import CochleaError
from api.graphql.compiled.compiler import Unsupported, Walker, edge_object
from api.graphql.compiled.jsontext import cursor_of
from api.services import cursors
from api.services.follow import RenderedPage, RenderPage
from api.services.reading import Kind

_FIRST = uuid.UUID(int=0)
_LAST = uuid.UUID(int=(1 << 128) - 1)


@dataclass(frozen=True)
class PageStatement:
    """The catch-up statement in asyncpg's `$n` text, with its fixed arguments (the filter's
    values) and the places of the three that change per page."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]

    def args(self, after: uuid.UUID, through: uuid.UUID, size: int) -> tuple[Any, ...]:
        values = {**self.fixed, "_after": after, "_through": through, "_size": size}
        processors = self.processors
        return tuple(processors[n](values[n]) if n in processors else values[n] for n in self.names)


def page_statement(
    walker: Walker,
    edge_type: GraphQLObjectType,
    group: Any,
    kind: Kind[Any, Any],
    service_filter: Any,
    dialect: Any,
) -> PageStatement:
    """The catch-up statement of an edge selection; `Unsupported` when it is not compiled.
    Rows: `(id, edge JSON)` for `id > _after AND id <= _through`, `LIMIT _size`."""
    table = kind.table
    rows = (
        select(*table.c)
        .where(
            kind.conditions(service_filter),
            table.c.id > bindparam("_after", _FIRST, type_=table.c.id.type),
            table.c.id <= bindparam("_through", _LAST, type_=table.c.id.type),
        )
        .order_by(table.c.id)
        .limit(bindparam("_size", 1, type_=Integer))
        .subquery("page")
    )
    edge = edge_object(walker, edge_type, group, cursor_of(kind.name, rows.c.id), rows)
    statement = select(rows.c.id, cast(edge, Text)).order_by(rows.c.id)
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    return PageStatement(
        sql=compiled.string,
        names=tuple(compiled.positiontup or ()),
        fixed={k: v for k, v in params.items() if not k.startswith("_")},
        processors=dict(getattr(compiled, "_bind_processors", {})),
    )


STATEMENT_CACHE_SIZE = 1024
STATEMENTS: OrderedDict[tuple[Any, ...], PageStatement] = OrderedDict()
"""Statements of recent (document, variables less the cursor): a thousand bots subscribing
with the same document from their own cursors pay one compilation (a few milliseconds)."""
_NOT_COMPILED = PageStatement(sql="", names=(), fixed={}, processors={})


def renderer(info: Any, kind: Kind[Any, Any], service_filter: Any) -> RenderPage | None:
    """The catch-up reader of this subscription (`follow_pages(render=…)`), or None to read
    records as before: when the selection is not compiled, or compiled reads are off."""
    context = info.context
    executor = getattr(info._raw_info, "executor", None)
    root = executor.root_field() if executor is not None else None
    edge_type = get_named_type(info._raw_info.return_type)
    if executor is None or root is None or not context.settings.compiled_reads:
        return None
    if not isinstance(edge_type, GraphQLObjectType):
        return None
    key = (kind.name, executor.catch_up_key())
    statement = STATEMENTS.get(key) if key[1] is not None else None
    if statement is not None:
        with contextlib.suppress(KeyError):  # evicted meanwhile by another thread's app
            STATEMENTS.move_to_end(key)
    else:
        try:
            statement = page_statement(
                executor, edge_type, root[1], kind, service_filter, context.engine.dialect
            )
        except (Unsupported, CochleaError):
            statement = _NOT_COMPILED
        if key[1] is not None:
            STATEMENTS[key] = statement
            while len(STATEMENTS) > STATEMENT_CACHE_SIZE:
                with contextlib.suppress(KeyError):
                    STATEMENTS.popitem(last=False)
    if statement is _NOT_COMPILED:
        return None

    async def read(after: str | None, through: uuid.UUID | None, size: int) -> RenderedPage:
        low = cursors.decode(kind.name, after) if after is not None else _FIRST
        args = statement.args(low, through if through is not None else _LAST, size + 1)
        rows = await _fetch(context, statement.sql, args)
        page = RenderedPage(row[1] for row in rows[:size])
        page.more = len(rows) > size
        if page:
            page.last = cursors.encode(kind.name, rows[len(page) - 1][0])
        return page

    return read


async def _fetch(context: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    """The rows, on the read pool (within the request's share of connections), or through the
    engine when the context has none (as `executor.fetch`)."""
    reads = context.reads
    if reads is None:
        async with context.engine.connect() as conn:
            return list((await conn.exec_driver_sql(sql, tuple(args))).all())
    engine = context.engine
    if isinstance(engine, RequestEngine) and engine.slots is not None:
        async with engine.slots:
            return await reads.fetch(sql, args)
    return await reads.fetch(sql, args)
