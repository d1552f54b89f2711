"""A root list's (or `node`'s) selection compiled into one SQL statement that builds its JSON.

The selection is the one graphql-core collects (fragments merged, aliases as response keys,
`@skip`/`@include` applied), so the keys and their order are exactly those the resolvers
would produce. A connection is its keyset page (the page's rows plus the one extra row that
says whether more follow) in a LATERAL subquery, numbered in scan order, under one aggregate
object: edges with their cursors (`api.services.cursors`' encoding) in list order, page info,
and the total only when asked. `createdBy` and `sound` are correlated subqueries; nested lists
are the same construction correlated to their parent's row. The JSON is written as text
(`api.graphql.compiled.jsontext`), as the resolvers' serialisers would write it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import GraphQLField, GraphQLObjectType, get_named_type
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    cast,
    false,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.sql import util as sql_util
from sqlalchemy.sql.elements import True_

from api.db.tables import annotations_table, sounds_table, users_table
from api.errors import CochleaError
from api.graphql.compiled import jsontext
from api.graphql.compiled.fields import (
    COMPILED,
    CONNECTION_FIELDS,
    EDGE_FIELDS,
    PAGE_INFO_FIELDS,
)
from api.services.filters import AnnotationFilter, SoundFilter
from api.services.pagination import (
    Order,
    PagePlan,
    PageRequest,
    behind_condition,
    keyset_bounds,
    plan_page,
)
from api.services.reading import ANNOTATIONS, SOUNDS, Kind


class Walker(Protocol):
    """What the compiler asks the executor: graphql-core's own (memoised) CollectFields, and a
    field's arguments as its resolver would receive them."""

    @property
    def max_page_size(self) -> int: ...

    def collect(self, type_: GraphQLObjectType, group: Any) -> dict[str, Any]: ...

    def arguments(self, field: GraphQLField, group: Any) -> dict[str, Any]: ...


_OBJECT_TABLES = {"User": users_table, "Sound": sounds_table, "Annotation": annotations_table}


class Unsupported(Exception):
    """The selection holds something the compiler leaves to the resolvers."""


@dataclass(frozen=True)
class CompiledPage:
    """What a root list resolver returns when reads are compiled: its checked arguments (every
    error the resolvers raise has been raised by now) and the way back to the resolvers."""

    kind: Kind[Any, Any]
    where: ColumnElement[bool]
    plan: PagePlan
    request: PageRequest
    fallback: Callable[[], Any]


@dataclass(frozen=True)
class CompiledNode:
    """What `node(id:)` returns when reads are compiled: the checked id, and the way back."""

    id: uuid.UUID
    fallback: Callable[[], Any]


@dataclass(frozen=True)
class _Nested:
    """A nested list field: its kind, the column holding the parent's id, the filter field
    the parent overrides, and the filter to start from without one."""

    kind: Kind[Any, Any]
    column: str
    field: str
    empty: Callable[[], Any]


_NESTED: dict[str, dict[str, _Nested]] = {
    "Sound": {"annotations": _Nested(ANNOTATIONS, "sound_id", "sound", AnnotationFilter)},
    "User": {
        "sounds": _Nested(SOUNDS, "created_by", "created_by", SoundFilter),
        "annotations": _Nested(ANNOTATIONS, "created_by", "created_by", AnnotationFilter),
    },
}


def _nested_page(walker: Walker, type_: GraphQLObjectType, name: str, group: Any) -> CompiledPage:
    """The checked arguments of a nested list, as its resolver would check them; any error
    is left to the resolvers, which report it at each parent's path."""
    nested = _NESTED[type_.name][name]
    args = walker.arguments(type_.fields[name], group)
    given = args.get("filter")
    try:
        service_filter = given.to_filter() if given is not None else None
        rest = dataclasses.replace(service_filter or nested.empty(), **{nested.field: None})
        request = PageRequest(
            first=args.get("first"),
            after=args.get("after"),
            last=args.get("last"),
            before=args.get("before"),
            order=args.get("order", Order.ASC),
        )
        where = nested.kind.conditions(rest)
        plan = plan_page(nested.kind.name, request, walker.max_page_size)
    except CochleaError:
        raise Unsupported(f"{type_.name}.{name} arguments") from None
    return CompiledPage(
        kind=nested.kind, where=where, plan=plan, request=request, fallback=_no_fallback
    )


def _no_fallback() -> Any:
    raise Unsupported("nested lists fall back with their root field")


def _node(walker: Walker, type_: GraphQLObjectType, group: Any, row: Any) -> ColumnElement[Any]:
    """The JSON object of one row of `type_` (a sound, annotation or user)."""
    registry = COMPILED.get(type_.name)
    if registry is None:
        raise Unsupported(type_.name)
    pairs: list[tuple[str, list[jsontext.Piece]]] = []
    for key, fields in walker.collect(type_, group).items():
        name = fields[0].node.name.value
        if name == "__typename":
            pairs.append((key, jsontext.typename(type_.name)))
            continue
        if name not in registry:
            raise Unsupported(f"{type_.name}.{name}")
        column_name, render = registry[name]
        column = row.c[column_name]
        if render == "id":  # primary and foreign keys: never NULL
            value = jsontext.quoted(cast(column, Text))
        elif render == "timestamp":  # created_at: never NULL
            value = jsontext.timestamp(column)
        elif render == "float":
            value = jsontext.number(column)
        elif render == "connection":
            sub_type = get_named_type(type_.fields[name].type)
            assert isinstance(sub_type, GraphQLObjectType)
            page = _nested_page(walker, type_, name, fields)
            parent = (_NESTED[type_.name][name].column, column)
            value = [_connection(walker, sub_type, fields, page, parent)]
        elif render.startswith("object:"):
            target = render.split(":", 1)[1]
            sub_type = get_named_type(type_.fields[name].type)
            assert isinstance(sub_type, GraphQLObjectType)
            table = _OBJECT_TABLES[target].alias()
            inner = _node(walker, sub_type, fields, table)
            found = select(inner).where(table.c.id == column).scalar_subquery()
            value = [jsontext.or_null(found)]
        else:
            value = jsontext.value(column)
        pairs.append((key, value))
    return jsontext.obj(pairs)


def _connection(
    walker: Walker,
    type_: GraphQLObjectType,
    group: Any,
    page: CompiledPage,
    parent: tuple[str, ColumnElement[Any]] | None,
) -> ColumnElement[Any]:
    """The JSON of a connection: one aggregate over its keyset page (the page's rows plus the
    extra one); for a nested list, correlated to its parent's row."""
    kind, plan = page.kind, page.plan

    def where_on(alias: Any) -> ColumnElement[Any]:
        where = _on(page.where, alias)
        return where if parent is None else and_(where, alias.c[parent[0]] == parent[1])

    base = kind.table.alias()
    scan = base.c.id.desc() if plan.descending else base.c.id.asc()
    size = plan.limit + 1 if plan.limit > 0 else 0
    rows = (
        select(*base.c)
        .where(where_on(base), *keyset_bounds(plan, base.c.id))
        .order_by(scan)
        .limit(_written(size) if parent is None and isinstance(page.where, True_) else size)
        .correlate_except(base)
        .lateral()  # a nested list reads its parent's id from the enclosing row
    )
    numbered = select(
        *rows.c,
        func.row_number()
        .over(order_by=rows.c.id.desc() if plan.descending else rows.c.id)
        .label("_rn"),
    ).lateral()
    kept = numbered.c._rn <= plan.limit
    descending = page.request.order is Order.DESC
    in_order = numbered.c.id.desc() if descending else numbered.c.id.asc()
    against = numbered.c.id.asc() if descending else numbered.c.id.desc()
    more = func.count() > plan.limit
    other = kind.table.alias()
    behind = behind_condition(kind.name, plan, page.request, other.c.id)
    anything_behind: ColumnElement[Any] = false()
    if behind is not None:
        anything_behind = (
            select(other.c.id).where(where_on(other), behind).correlate_except(other).exists()
        )
    cursor = jsontext.cursor_of(kind.name, numbered.c.id)

    pairs: list[tuple[str, list[jsontext.Piece]]] = []
    for key, fields in walker.collect(type_, group).items():
        name = fields[0].node.name.value
        if name == "__typename":
            pairs.append((key, jsontext.typename(type_.name)))
        elif name not in CONNECTION_FIELDS:
            raise Unsupported(f"{type_.name}.{name}")
        elif name == "totalCount":
            counted = kind.table.alias()
            total = (
                select(func.count())
                .select_from(counted)
                .where(where_on(counted))
                .correlate_except(counted)
            )
            pairs.append((key, [cast(total.scalar_subquery(), Text)]))
        elif name == "pageInfo":
            info_type = get_named_type(type_.fields[name].type)
            assert isinstance(info_type, GraphQLObjectType)
            info: list[tuple[str, list[jsontext.Piece]]] = []
            for info_key, info_fields in walker.collect(info_type, fields).items():
                info_name = info_fields[0].node.name.value
                if info_name == "__typename":
                    info.append((info_key, jsontext.typename(info_type.name)))
                elif info_name not in PAGE_INFO_FIELDS:
                    raise Unsupported(f"PageInfo.{info_name}")
                elif info_name == "hasNextPage":
                    info.append(
                        (info_key, jsontext.boolean(anything_behind if plan.backwards else more))
                    )
                elif info_name == "hasPreviousPage":
                    info.append(
                        (info_key, jsontext.boolean(more if plan.backwards else anything_behind))
                    )
                else:
                    order = in_order if info_name == "startCursor" else against
                    info.append((info_key, jsontext.first_of(cursor, order, kept)))
            pairs.append((key, [jsontext.obj(info)]))
        else:  # edges
            edge_type = get_named_type(type_.fields[name].type)
            assert isinstance(edge_type, GraphQLObjectType)
            edge = edge_object(walker, edge_type, fields, cursor, numbered)
            pairs.append((key, jsontext.array(edge, in_order, kept)))
    # HAVING makes it one group: exactly one row, even when the selection holds no aggregate.
    return select(jsontext.obj(pairs)).select_from(numbered).having(true()).scalar_subquery()


def _written(size: int) -> ColumnElement[Any]:
    """A root page without a filter has one plan (the primary key from the cursor): with its
    LIMIT written into the statement (plans are cached per variables' values, so the text is
    stable), PostgreSQL costs its generic plan right and reuses it, instead of planning every
    execution as it does with a parameter there (0 generic plans in 20 executions, measured
    with `pg_prepared_statements`). Filtered pages keep the parameter: their custom plans
    look at the values (a rare tag or a common one)."""
    return literal_column(str(int(size)), Integer)


def edge_object(
    walker: Walker,
    edge_type: GraphQLObjectType,
    group: Any,
    cursor: ColumnElement[Any],
    row: Any,
) -> ColumnElement[Any]:
    """The JSON object of one edge (`cursor`, `node`, `__typename`) of `row`; also what a
    subscription's catch-up pages are written with (`api.graphql.subscriptions.catchup`)."""
    edge: list[tuple[str, list[jsontext.Piece]]] = []
    for key, fields in walker.collect(edge_type, group).items():
        name = fields[0].node.name.value
        if name == "__typename":
            edge.append((key, jsontext.typename(edge_type.name)))
        elif name not in EDGE_FIELDS:
            raise Unsupported(f"{edge_type.name}.{name}")
        elif name == "cursor":
            edge.append((key, jsontext.quoted(cursor)))
        else:
            node_type = get_named_type(edge_type.fields[name].type)
            assert isinstance(node_type, GraphQLObjectType)
            edge.append((key, [_node(walker, node_type, fields, row)]))
    return jsontext.obj(edge)


def _on(condition: ColumnElement[Any], alias: Any) -> ColumnElement[Any]:
    """`condition` (on a kind's table) with that table's columns read from `alias`."""
    adapted: ColumnElement[Any] = sql_util.ClauseAdapter(alias).traverse(condition)
    return adapted


def compile_connection(
    walker: Walker, type_: GraphQLObjectType, group: Any, page: CompiledPage
) -> Select[Any]:
    """One statement whose single text value is a root connection's JSON."""
    return select(cast(_connection(walker, type_, group, page, None), Text))


def compile_node(
    walker: Walker, types: list[GraphQLObjectType], group: Any, node: CompiledNode
) -> Select[Any]:
    """One statement for `node(id:)`: the JSON of whichever kind holds the id (ids are unique
    across kinds), null for none; each kind's selection is what graphql-core collects for it."""
    found: list[ColumnElement[Any]] = []
    for type_ in types:
        table = _OBJECT_TABLES[type_.name].alias()
        json = select(_node(walker, type_, group, table)).where(table.c.id == node.id)
        found.append(json.scalar_subquery())
    return select(cast(func.coalesce(*found), Text))
