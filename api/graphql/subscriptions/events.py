"""The executor's subscription-event path: `LiveEdges` rendered once per selection.

graphql-core runs every subscription event through a per-event copy of the subscription's
executor (`build_per_event_executor`, then `execute_operation`). This subclass of the
compiled-reads executor plans the subscription's selection once, on its first event
(`rendering`), and then answers each event without graphql-core's per-field work: the edge
JSON comes from the compiled renderer or from the rendering another subscriber with the same
selection already made of the same live item, embedded as an `orjson.Fragment` (the view
encodes with orjson). Anything else (a selection with viewer fields, an event that is not
`LiveEdges`, an execution with errors) runs graphql-core as before, for this subscriber
alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Awaitable, Sequence
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLObjectType, VariableNode, get_named_type
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values

from api.errors import CochleaError
from api.graphql.compiled.compiler import Unsupported
from api.graphql.compiled.executor import CompiledReadsExecutor
from api.graphql.subscriptions.rendering import (
    RENDERED,
    EdgeRenderer,
    EventPlan,
    LiveEdges,
    NotCompiled,
    RenderedEdges,
    compile_edge,
    fingerprint,
)

_UNPLANNED: Any = object()
WAIT_SECONDS = 10.0
"""How long a subscriber waits for the rendering another one is executing before it executes
the item itself."""


class SubscriptionsExecutor(CompiledReadsExecutor):
    """The compiled-reads executor, plus shared rendering of subscription events."""

    _event_plan: EventPlan | None = _UNPLANNED

    def build_per_event_executor(self, payload: Any) -> Any:
        if type(payload) is RenderedEdges:
            return _Written(payload)
        if type(payload) is not LiveEdges:
            return super().build_per_event_executor(payload)
        plan = self.event_plan()
        if plan is None or (
            plan.render is None and (payload.many or not payload.shared or not plan.fingerprint)
        ):
            return super().build_per_event_executor(payload.edges())
        return _EventRun(self, plan, payload)

    def build_resolve_info(
        self, field_def: Any, field_nodes: Any, parent_type: Any, path: Any
    ) -> Any:
        """The subscription root's info also carries this executor (`info.executor`), so its
        resolver can compile catch-up pages from the selection as collected here
        (`catchup`)."""
        info = super().build_resolve_info(field_def, field_nodes, parent_type, path)
        if path.prev is None and parent_type is self.schema.subscription_type:
            info = _with_executor(type(info))(*info)  # type: ignore[arg-type]
            info.executor = self
        return info

    def event_plan(self) -> EventPlan | None:
        """This subscription's event plan, made on first use (None: graphql-core)."""
        plan = self._event_plan
        if plan is _UNPLANNED:
            plan = self._event_plan = self._plan_events()
        return plan

    def root_field(self) -> tuple[str, Any] | None:
        """The subscription's one root field as collected: `(response key, field group)`."""
        root_type = self.schema.subscription_type
        if root_type is None:
            return None
        collected = collect_fields(
            self.schema, self.fragments, self.variable_values, root_type, self.operation
        )
        if len(collected.grouped_field_set) != 1 or collected.new_defer_usages:
            return None
        ((root_key, group),) = collected.grouped_field_set.items()
        return root_key, group

    def catch_up_key(self) -> tuple[Any, ...] | None:
        """What the subscription's catch-up statement depends on: the document and its
        variables, less the one given as the root field's `after` (each subscriber resumes
        from its own cursor; the statement takes it as an argument) unless the document uses
        it elsewhere too. None when there is nothing to key on."""
        loc = self.operation.loc
        root = self.root_field()
        if loc is None or root is None:
            return None
        variables = dict(self.variable_values.coerced)
        for argument in root[1][0].node.arguments or ():
            value = argument.value
            if argument.name.value == "after" and isinstance(value, VariableNode):
                name = value.name.value
                if len(re.findall(rf"\${name}\b", loc.source.body)) == 2:  # declared, used
                    variables.pop(name, None)
        try:
            encoded = orjson.dumps(variables, default=str, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        return (loc.source.body, loc.start, encoded, self.max_page_size)

    def _plan_events(self) -> EventPlan | None:
        """The plan of this subscription's events; None: graphql-core for each of them."""
        root = self.root_field()
        root_type = self.schema.subscription_type
        if root is None or root_type is None:
            return None
        root_key, group = root
        field = root_type.fields.get(group[0].node.name.value)
        edge_type = get_named_type(field.type) if field is not None else None
        if not isinstance(edge_type, GraphQLObjectType):
            return None
        try:
            shared = fingerprint(self, edge_type, group, self._raw_arguments)
            try:
                render = compile_edge(self, edge_type, group)
            except NotCompiled:
                render = None
        except (Unsupported, CochleaError):  # @defer; arguments the resolvers report on
            return None
        return EventPlan(root_key=root_key, fingerprint=shared, render=render)

    def _raw_arguments(self, field: Any, group: Any) -> Any:
        return get_argument_values(
            field, group[0].node, self.variable_values, group[0].fragment_variable_values
        )

    def execute_event(self, edges: Any) -> Any:
        """graphql-core's execution of one event, as without this path."""
        return super().build_per_event_executor(edges).execute_operation(False)


def shared_edges(
    plan: EventPlan, render: EdgeRenderer, items: Sequence[tuple[str, Any]]
) -> list[bytes]:
    """Each item's edge JSON, for items a shared reader handed every subscriber: rendered
    once per selection fingerprint and live item, then taken from `RENDERED`."""
    key = plan.fingerprint
    parts = []
    for cursor, record in items:
        cache_key = (key, record.id)
        json = RENDERED.get(cache_key, record)
        if type(json) is not bytes:
            json = render.one(cursor, record)
            RENDERED.put(cache_key, record, json)
        parts.append(json)
    return parts


def live_edges(plan: EventPlan, payload: LiveEdges) -> list[bytes] | None:
    """The JSON of each event in `payload` (one item's edge, or a batch's list), when the
    compiled renderer writes them; None when they need graphql-core."""
    render = plan.render
    if render is None:
        return None
    items = payload.items
    if not payload.shared or plan.fingerprint is None:
        if payload.many:
            return [render.many(items)]
        return [render.one(cursor, record) for cursor, record in items]
    parts = shared_edges(plan, render, items)
    return [b"[" + b",".join(parts) + b"]"] if payload.many else parts


@functools.cache
def _with_executor(info_type: type) -> type:
    """A subclass of Strawberry's resolve-info tuple with room for one more attribute."""
    return type("SubscriptionRootInfo", (info_type,), {})


class _Written:
    """The per-event executor of a catch-up page PostgreSQL wrote: its JSON is the answer."""

    __slots__ = ("payload",)

    def __init__(self, payload: RenderedEdges) -> None:
        self.payload = payload

    def execute_operation(self, serially: bool | None = None) -> Any:
        return ExecutionResult({self.payload.key: orjson.Fragment(self.payload.json)}, None)


class _EventRun:
    """Stands in for graphql-core's per-event executor: `execute_operation` answers."""

    __slots__ = ("executor", "payload", "plan")

    def __init__(self, executor: SubscriptionsExecutor, plan: EventPlan, payload: LiveEdges):
        self.executor = executor
        self.plan = plan
        self.payload = payload

    def execute_operation(self, serially: bool | None = None) -> Any:
        plan, payload = self.plan, self.payload
        render = plan.render
        if render is None:
            return self._shared(payload.items[0])
        items = payload.items
        if not payload.shared or plan.fingerprint is None:  # a subscriber's own catch-up
            body = render.many(items) if payload.many else render.one(*items[0])
        else:
            parts = shared_edges(plan, render, items)
            body = b"[" + b",".join(parts) + b"]" if payload.many else parts[0]
        return ExecutionResult({plan.root_key: orjson.Fragment(body)}, None)

    def _shared(self, item: tuple[str, Any]) -> Any:
        """A selection the resolvers render: the first subscriber executes, the others reuse
        its JSON (if it had no errors)."""
        record = item[1]
        cache_key = (self.plan.fingerprint, record.id)
        found = RENDERED.get(cache_key, record)
        if isinstance(found, bytes):
            return ExecutionResult({self.plan.root_key: orjson.Fragment(found)}, None)
        if found is not None and found.get_loop() is asyncio.get_running_loop():
            return self._after(found)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        RENDERED.put(cache_key, record, future)
        try:
            result = self.executor.execute_event(self.payload.edges())
        except BaseException:
            self._settle(future, cache_key, record, None)
            raise
        if self.executor.is_awaitable(result):
            return self._finish(result, future, cache_key, record)
        self._settle(future, cache_key, record, result)
        return result

    async def _after(self, pending: asyncio.Future[bytes | None]) -> Any:
        json = None
        with contextlib.suppress(TimeoutError):  # never left waiting on another's execution
            async with asyncio.timeout(WAIT_SECONDS):
                json = await asyncio.shield(pending)
        if json is None:  # the first execution had errors: this subscriber runs its own
            result = self.executor.execute_event(self.payload.edges())
            return await result if self.executor.is_awaitable(result) else result
        return ExecutionResult({self.plan.root_key: orjson.Fragment(json)}, None)

    async def _finish(
        self,
        result: Awaitable[ExecutionResult],
        future: asyncio.Future[bytes | None],
        cache_key: tuple[Any, ...],
        record: Any,
    ) -> ExecutionResult:
        done: ExecutionResult | None = None
        try:
            done = await result
            return done
        finally:
            self._settle(future, cache_key, record, done)

    def _settle(
        self,
        future: asyncio.Future[bytes | None],
        cache_key: tuple[Any, ...],
        record: Any,
        result: ExecutionResult | None,
    ) -> None:
        json = None
        if result is not None and not result.errors and result.data is not None:
            json = orjson.dumps(result.data[self.plan.root_key])
            RENDERED.put(cache_key, record, json)
        else:
            RENDERED.forget(cache_key, record)
        if not future.done():
            future.set_result(json)
