"""What every aggregator's GraphQL schema shares: `status`, `skipped`, and coded errors.

An aggregator's `Query` subclasses `RuntimeQuery` (so it has `status` and `skipped`) and is
built with `CodedSchema`, which gives every error an `extensions.code` like the API does:
`BadUserInput(message, field=...)` becomes `BAD_USER_INPUT` with the field named, GraphQL's
own validation errors get theirs, and unexpected exceptions are logged and hidden behind
`INTERNAL_SERVER_ERROR`. Resolvers reach the running aggregator through
`info.context["runtime"]` (a `workers.aggregators.runtime.Runtime`) and its
`info.context["aggregator"]`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types import ExecutionContext, Info

if TYPE_CHECKING:
    from workers.aggregators.runtime import Runtime

__all__ = [
    "BadUserInput",
    "CodedSchema",
    "PageInfo",
    "RuntimeQuery",
    "Skipped",
    "SkippedConnection",
    "Status",
    "StreamStatus",
    "runtime_of",
]

log = logging.getLogger("cochlea.aggregators.graphql")
MAX_PAGE = 100


class BadUserInput(Exception):
    """A malformed argument: `field` names it (e.g. "text", "filter.sound")."""

    def __init__(self, message: str, *, field: str, code: str = "BAD_USER_INPUT") -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": code, "field": field}


def page_size(first: int, *, field: str = "first", largest: int = MAX_PAGE) -> int:
    if not 0 <= first <= largest:
        raise BadUserInput(f"`{field}` must be between 0 and {largest}", field=field)
    return first


def _code_for(error: GraphQLError) -> str:
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        return "INTERNAL_SERVER_ERROR"
    if error.path is None and "Syntax Error" in error.message:
        return "GRAPHQL_PARSE_FAILED"
    if error.path is None and error.message.startswith("Variable "):
        return "BAD_USER_INPUT"
    if error.path is None:
        return "GRAPHQL_VALIDATION_FAILED"
    return "BAD_USER_INPUT"


class CodedSchema(strawberry.Schema):
    """A schema whose every error carries `extensions.code`."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if error.extensions and "code" in error.extensions:
                continue
            code = _code_for(error)
            if code == "INTERNAL_SERVER_ERROR":
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
                error.message = "internal server error"
            error.extensions = {**(error.extensions or {}), "code": code}


@strawberry.type(description="How far one followed stream has been read.")
class StreamStatus:
    stream: str
    cursor: str | None = strawberry.field(description="The last item committed with the index.")
    seen: int = strawberry.field(description="Items of the stream read so far (skips included).")
    lag: int | None = strawberry.field(
        description="Items of the stream not read yet (null: the API could not be asked)."
    )


@strawberry.type(description="How far behind the streams this aggregator is.")
class Status:
    name: str
    ready: bool = strawberry.field(description="Signed up and following its streams.")
    cursor: JSON = strawberry.field(description="Each stream's committed cursor, by stream.")
    lag: int | None = strawberry.field(description="Items not read yet, over all streams.")
    indexed: int = strawberry.field(description="Entries in the index.")
    skipped: int = strawberry.field(description="Inputs recorded as skipped (see `skipped`).")
    streams: list[StreamStatus]


@strawberry.type(description="An input the aggregator could not use, and why.")
class Skipped:
    stream: str
    item: strawberry.ID = strawberry.field(description="The Cochlea id of the skipped item.")
    code: str
    message: str
    at: str = strawberry.field(description="When it was (last) skipped, ISO 8601.")


@strawberry.type
class PageInfo:
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class SkippedEdge:
    cursor: str
    node: Skipped


@strawberry.type
class SkippedConnection:
    edges: list[SkippedEdge]
    page_info: PageInfo


def runtime_of(info: Info[Any, Any]) -> Runtime:
    runtime: Runtime = info.context["runtime"]
    return runtime


@strawberry.type
class RuntimeQuery:
    """The fields every aggregator serves."""

    @strawberry.field(description="How far behind the streams the index is.")
    async def status(self, info: Info[Any, Any]) -> Status:
        return await runtime_of(info).status()

    @strawberry.field(description="Inputs left out (bad arrays, unreadable items), oldest first.")
    def skipped(
        self, info: Info[Any, Any], first: int = 50, after: str | None = None
    ) -> SkippedConnection:
        size = page_size(first)
        try:
            items, more = runtime_of(info).skips.page(first=size, after=after)
        except ValueError as exc:
            raise BadUserInput(str(exc), field="after") from None
        edges = [
            SkippedEdge(
                cursor=i.cursor,
                node=Skipped(
                    stream=i.stream,
                    item=strawberry.ID(i.item),
                    code=i.code,
                    message=i.message,
                    at=i.at,
                ),
            )
            for i in items
        ]
        end = edges[-1].cursor if edges else None
        return SkippedConnection(
            edges=edges, page_info=PageInfo(end_cursor=end, has_next_page=more)
        )
