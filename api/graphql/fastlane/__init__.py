"""The batch mutations' fast lane: `createAnnotations` / `createSounds` bodies decoded and
checked once, typed, with no per-field work in graphql-core or Strawberry.

A JSON POST whose document is a plain batch mutation (`documents`) and whose body msgspec
decodes into exactly the inputs graphql-core and Strawberry would build (`decode`) skips both:
the service inputs are set aside for this request (a context variable, as each request runs in
its own task) and execution gets the same document with an empty input list, which costs
nothing to coerce. The mutation's resolver takes the inputs set aside instead of converting
its argument; everything else (validation, cost and rate limits, permissions, the service,
the payload's selection and errors) runs as on the normal path. Any body the lane is not sure
of goes to the normal path untouched, so error messages and codes cannot differ.
`COCHLEA_FAST_BATCHES=false` turns the lane off (the differential tests compare both).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from cross_web import AsyncHTTPRequestAdapter
from strawberry.http import GraphQLRequestData

from api.graphql.fastlane import decode
from api.graphql.fastlane.documents import recognise

# The current request's inputs, decoded by the lane: (kind, service inputs).
_SET_ASIDE: ContextVar[tuple[str, list[Any]] | None] = ContextVar(
    "cochlea_fast_batch", default=None
)


async def parse_http_body(request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | None:
    """The request data for a body the lane takes (inputs set aside), else None.

    `request` is Strawberry's adapter of an HTTP request without a streaming transport (the
    view calls this only when COCHLEA_FAST_BATCHES is on).
    """
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if request.method != "POST" or content_type != "application/json":
        return None
    data = await request.get_body()
    try:
        return prepare(data)
    except decode.Refused:
        return None


def prepare(data: bytes) -> GraphQLRequestData | None:
    """Decode `data`; raise `decode.Refused` (or return None) when the lane must not take it."""
    body = decode.body(data)
    document = recognise(body.query)
    if document is None:
        return None
    if body.operation_name is not None and body.operation_name != document.operation_name:
        return None
    extensions = decode.free(body.extensions)
    if extensions is not None and not isinstance(extensions, dict):
        return None
    if document.kind == "annotations":
        inputs: list[Any] = decode.annotation_inputs(body.variables, document.variable)
    else:
        inputs = decode.sound_inputs(body.variables, document.variable)
    _SET_ASIDE.set((document.kind, inputs))
    return GraphQLRequestData(
        query=body.query,
        variables={document.variable: []},
        operation_name=body.operation_name,
        extensions=extensions,
        protocol="http",
    )


def take(kind: str) -> list[Any] | None:
    """The inputs the lane set aside for this request's `kind` batch (once), else None."""
    found = _SET_ASIDE.get()
    if found is None or found[0] != kind:
        return None
    _SET_ASIDE.set(None)
    return found[1]
