"""Prepared answers: a query request already answered whole by compiled statements is answered
again by those statements alone, without GraphQL execution.

Bots and the explorer send the same few documents with the same variables over and over. Once
such a request has been executed in full (parse, validation, limits, resolvers' argument checks,
the compiled path) and every root field of its answer came from one compiled statement, with no
error, nothing in a later identical request can come out differently except what depends on
who asks and on the data:

- the document and variables are the same text, so parsing, validation, coercion, the static
  limits and the resolvers' argument checks would give the same result; they are skipped;
- who asks is checked again (`require_read`: a bad key or public read off goes the normal way,
  which reports it), and the request pays its rate-limit points as always (`bill`, before
  anything runs; a refusal is reported by the normal path from the same bill, so it is never
  paid twice);
- the data is read again: the same statements, run concurrently, one round trip each.

Anything unusual (an error anywhere, a field the compiler left to the resolvers, a
subscription or mutation) is simply never prepared. Each app has its own cache (its settings
decide the limits a request passed), an LRU of `PREPARED_SIZE` entries keyed by (document,
operation name, variables' JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from strawberry.types import ExecutionResult

from api.errors import Unauthenticated

if TYPE_CHECKING:
    from api.graphql.compiled.executor import Plan
    from api.graphql.context import Context
    from api.graphql.limits.cost import Cost

PREPARED_SIZE = 1024

Key = tuple[str, str | None, bytes]


@dataclass(frozen=True)
class Prepared:
    cost: Cost
    fields: tuple[tuple[str, Plan], ...]  # response key, its statement; in response order


def request_key(
    query: str | None, operation_name: str | None, variables: dict[str, Any] | None
) -> Key | None:
    if not query:
        return None
    try:
        encoded = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not plain JSON (an upload, say): never prepared
        return None
    return (query, operation_name, encoded)


class PreparedAnswers:
    """One app's prepared requests (its settings decide the limits they passed)."""

    def __init__(self, size: int = PREPARED_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[Key, Prepared] = OrderedDict()

    def remember(self, key: Key | None, context: Context, result: ExecutionResult) -> None:
        """After a normal execution: keep it if every root field was one compiled statement.
        (One operation per request: Strawberry's batching is off, so `context` is this
        operation's alone.)"""
        compiled = context.compiled_roots
        cost = context.cost
        if key is None or cost is None or result.errors or not isinstance(result.data, dict):
            return
        if not compiled or list(result.data) != list(compiled):
            return
        self.entries[key] = Prepared(cost=cost, fields=tuple(compiled.items()))
        while len(self.entries) > self.size:
            with contextlib.suppress(KeyError):  # another thread's request evicted it first
                self.entries.popitem(last=False)

    async def answer(self, key: Key | None, context: Context) -> ExecutionResult | None:
        """The answer from the prepared statements, or None: execute normally."""
        prepared = self.entries.get(key) if key is not None else None
        if prepared is None:
            return None
        from api.graphql.compiled.executor import fetch  # the executor imports this module
        from api.graphql.limits.extension import bill, settle

        try:
            await context.require_read()
        except Unauthenticated:
            return None
        budget = await bill(context, prepared.cost)
        context.prepaid = budget  # the normal path, if it runs after all, does not pay again
        if budget is not None and not budget.allowed:
            return None  # refused: reported by the normal path, from this bill
        try:
            texts = await asyncio.gather(*(fetch(context, plan) for _, plan in prepared.fields))
        except Exception:  # a database error: the normal path reports it with its code
            return None
        if budget is not None:
            settle(context, budget)  # the headers; it was allowed
        data = {
            name: orjson.Fragment(text) if text is not None else None
            for (name, _), text in zip(prepared.fields, texts, strict=True)
        }
        return ExecutionResult(data=data, errors=None)
