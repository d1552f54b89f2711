"""The execution context that serves compiled reads: one statement per root field, its JSON
built in SQL.

A root list resolver, or `node(id:)`, with COCHLEA_COMPILED_READS on, checks its arguments
exactly as always, then returns a `CompiledPage` / `CompiledNode` instead of reading.
Completing that value, this executor asks graphql-core for the field's collected selection;
if the compiler covers all of it, the statement it builds (cached per document, field and
variables) returns the field's JSON, which becomes its value with no per-field work.
Otherwise (a field listed in `fields.FALLBACK`, `@defer`, nested arguments that fail their
checks) it runs the resolvers' read and completes their answer as usual.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    get_nullable_type,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments

from api.db.request_engine import RequestEngine
from api.errors import CochleaError
from api.graphql.compiled.compiler import (
    CompiledNode,
    CompiledPage,
    Unsupported,
    compile_connection,
    compile_node,
)
from api.graphql.compiled.records import Records, render_records

# Compiled statements of recent (document, field, variables): a bot sends the same few
# documents over and over, and building a statement costs more than running it.
PLAN_CACHE_SIZE = 1024
PLANS: OrderedDict[tuple[Any, ...], Plan | None] = OrderedDict()
_MISSING: Any = object()
# The batch mutations' payloads: their lists of thousands of new records are written from the
# records (`records.render_records`) when the selection is the nodes' own columns.
PAYLOAD_TYPES = frozenset({"CreateAnnotationsPayload", "CreateSoundsPayload"})


@dataclass(frozen=True)
class Plan:
    """A field's statement rendered once for asyncpg: `$n` text and its arguments in order,
    which the read pool sends as is. (Not the SQLAlchemy statement itself: its expression
    tree weighs hundreds of kilobytes, and a cache of a thousand of them grew the process by
    300 MB in the soak.)"""

    sql: str
    args: tuple[Any, ...]

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> Plan:
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        # The conversions SQLAlchemy applies to values before the driver (arrays' items, say).
        processors: dict[str, Any] = getattr(compiled, "_bind_processors", {})
        names = compiled.positiontup or []
        args = tuple(processors[n](params[n]) if n in processors else params[n] for n in names)
        return cls(compiled.string, args)


class CompiledReadsExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, plus the compiled path for `CompiledPage` results."""

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if type(result) is CompiledPage or type(result) is CompiledNode:
            return self._complete_compiled(
                return_type, field_details_list, info, path, result, position_context
            )
        if type(result) is Records and info.parent_type.name in PAYLOAD_TYPES:
            with contextlib.suppress(Unsupported):
                rendered = render_records(self, return_type, field_details_list, result.records)
                if rendered is not None:
                    return rendered
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    @property
    def max_page_size(self) -> int:
        size: int = self.context_value.settings.max_page_size
        return size

    def arguments(self, field: GraphQLField, group: Any) -> dict[str, Any]:
        return resolver_arguments(field, group, self.variable_values)

    def collect(self, type_: GraphQLObjectType, group: Any) -> dict[str, Any]:
        collected = self.collect_subfields(type_, group)
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            raise Unsupported("@defer")
        return collected.grouped_field_set

    async def _complete_compiled(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Path,
        page: CompiledPage | CompiledNode,
        position_context: Any,
    ) -> Any:
        key = self._plan_key(path)
        cached = PLANS.get(key, _MISSING) if key is not None else _MISSING
        if key is not None and cached is not _MISSING:
            plan = cached
            with contextlib.suppress(KeyError):  # evicted meanwhile by another thread's app
                PLANS.move_to_end(key)
        else:
            plan = None
            if not any(d.defer_usage for d in field_details_list):
                try:
                    statement = self._compile(return_type, field_details_list, page)
                    plan = Plan.of(statement, info.context.engine.dialect)
                except (Unsupported, CochleaError):
                    # An argument the compiler refuses anywhere in the selection, even under
                    # a fragment of another node type: the resolvers decide, and report it
                    # exactly where they would (or not at all where it does not apply).
                    plan = None
            if key is not None:
                PLANS[key] = plan
                while len(PLANS) > PLAN_CACHE_SIZE:
                    with contextlib.suppress(KeyError):
                        PLANS.popitem(last=False)
        if plan is None:
            completed = super().complete_value(
                return_type, field_details_list, info, path, await page.fallback(), position_context
            )
            return await completed if self.is_awaitable(completed) else completed
        if path.prev is None:
            info.context.compiled_roots[path.key] = plan
        text = await fetch(info.context, plan)
        # Embedded as PostgreSQL wrote it: the view encodes with orjson, which copies a
        # Fragment into the response without parsing or re-encoding it.
        return orjson.Fragment(text) if text is not None else None

    def _plan_key(self, path: Path) -> tuple[Any, ...] | None:
        """What the statement of the field at `path` depends on: the document, the field's
        place in it, the variables (arguments, cursors and @skip/@include all come from these
        two) and the page-size limit; the viewer does not enter it (what depends on the viewer
        is left to the resolvers). None when the document has no source to key on."""
        loc = self.operation.loc
        if loc is None:
            return None
        try:
            variables = orjson.dumps(
                self.variable_values.coerced, default=str, option=orjson.OPT_SORT_KEYS
            )
        except TypeError:
            return None
        where = tuple(k for k in path.as_list() if isinstance(k, str))
        return (loc.source.body, loc.start, where, variables, self.max_page_size)

    def _compile(
        self,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        page: CompiledPage | CompiledNode,
    ) -> Select[Any]:
        named = get_nullable_type(return_type)
        if isinstance(page, CompiledPage):
            if not isinstance(named, GraphQLObjectType):
                raise Unsupported(str(named))
            return compile_connection(self, named, field_details_list, page)
        if not isinstance(named, GraphQLInterfaceType):
            raise Unsupported(str(named))
        types = list(self.schema.get_possible_types(named))
        return compile_node(self, types, field_details_list, page)


def resolver_arguments(field: GraphQLField, group: Any, variable_values: Any) -> dict[str, Any]:
    """A field's arguments as Strawberry hands them to its resolver (inputs as objects)."""
    from api.graphql.schema import schema  # the schema module imports this one

    raw = get_argument_values(
        field, group[0].node, variable_values, group[0].fragment_variable_values
    )
    definition = field.extensions["strawberry-definition"]
    return convert_arguments(
        raw,
        definition.arguments,
        scalar_registry=schema.schema_converter.scalar_registry,
        config=schema.config,
    )


async def fetch(context: Any, plan: Plan) -> str | None:
    """The field's JSON text: one statement on the read pool (one round trip), or through the
    engine when the context has no pool (in-process callers such as the bench's SQL capture).
    Either way within the request's share of connections (`RequestEngine`)."""
    engine = context.engine
    reads = context.reads
    if reads is None:
        async with engine.connect() as conn:
            found = await conn.exec_driver_sql(plan.sql, plan.args)
            text: str | None = found.scalar_one()
        return text
    slots = engine.slots if isinstance(engine, RequestEngine) else None
    if slots is None:
        text = await reads.fetchval(plan.sql, plan.args)
        return text
    async with slots:
        text = await reads.fetchval(plan.sql, plan.args)
    return text
