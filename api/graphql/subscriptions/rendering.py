"""Subscription events rendered once per distinct selection, not once per subscriber.

Each subscriber used to run its own graphql-core execution and JSON encoding per item, so a
commit seen by N subscribers cost N executions per item. Now the subscription resolvers yield
`LiveEdges` (the records and their cursors), and the executor (`events`) plans each
subscription's selection once:

- a *compiled* plan when the edge selects only `cursor`, `__typename` and the node's own
  columns (`api.graphql.compiled.fields.COMPILED` scalars): a small function writes the
  edge's JSON straight from the record, with the serialisers the resolvers use;
- otherwise a *shared* plan: the first subscriber to meet a live item executes it as usual,
  and the others with the same selection reuse its JSON, unless it holds a field that depends
  on the viewer (`User.email`, `apiKeys`: anything outside `COMPILED`), or the execution had
  errors, in which case every subscriber executes (and gets its errors) on its own.

The JSON of a live item (one record object that a shared `LiveReader` hands to every tap) is
kept in `RENDERED` under the selection's fingerprint, so each distinct selection pays one
rendering per item per process. The fingerprint is the selection as graphql-core collects it
(fragments merged, `@skip`/`@include` applied, aliases, nested arguments' values), so two
documents that differ only in spelling share, and any difference that changes the JSON does
not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLObjectType, get_named_type, is_abstract_type

from api.graphql.compiled.compiler import Walker
from api.graphql.compiled.fields import (
    COMPILED,
    CONNECTION_FIELDS,
    EDGE_FIELDS,
    PAGE_INFO_FIELDS,
)
from api.graphql.compiled.records import NotCompiled, node_parts
from api.graphql.types.connection import Edge


@dataclass(frozen=True, slots=True)
class LiveEdges:
    """What a subscription resolver yields: one item's `(cursor, record)` or a batch of
    them; the executor renders it (`events.SubscriptionsExecutor`)."""

    items: Sequence[tuple[str, Any]]
    convert: Callable[[Any], Any]
    many: bool
    shared: bool
    """Whether the records came from a shared reader (the same objects reach every
    subscriber of the process, so their JSON is worth keeping for the others)."""

    def edges(self) -> Any:
        """The Strawberry objects the resolvers' path completes."""
        edges = [Edge(cursor=cursor, node=self.convert(record)) for cursor, record in self.items]
        return edges if self.many else edges[0]


@dataclass(frozen=True, slots=True)
class RenderedEdges:
    """What a subscription resolver yields for a catch-up page PostgreSQL already wrote
    (`catchup`): the JSON of one edge, or of a list of them (UTF-8), under the root field's
    `key`."""

    key: str
    json: bytes


@dataclass(frozen=True, slots=True)
class EventPlan:
    """How a subscription's events become JSON: `render` for a compiled selection, else the
    executor runs graphql-core; `fingerprint` keys the shared JSON (None: never shared)."""

    root_key: str
    fingerprint: tuple[Any, ...] | None
    render: EdgeRenderer | None


class EdgeRenderer:
    """Writes an edge's JSON from `(cursor, record)`, keys in selection order, with the
    serialisers the resolvers use; `many` writes a whole list in one encoding."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[tuple[str, Any]]) -> None:
        self.parts = parts

    def edge(self, cursor: str, record: Any) -> dict[str, Any]:
        edge: dict[str, Any] = {}
        for key, part in self.parts:
            if part is None:
                edge[key] = cursor
            elif type(part) is str:
                edge[key] = part
            else:
                edge[key] = {k: value(record) for k, value in part}
        return edge

    def one(self, cursor: str, record: Any) -> bytes:
        return orjson.dumps(self.edge(cursor, record))

    def many(self, items: Sequence[tuple[str, Any]]) -> bytes:
        edge = self.edge
        return orjson.dumps([edge(cursor, record) for cursor, record in items])


def compile_edge(walker: Walker, edge_type: GraphQLObjectType, group: Any) -> EdgeRenderer:
    """The renderer of an edge selection of `cursor`, `__typename` and node columns."""
    edge_parts: list[tuple[str, Any]] = []
    for key, fields in walker.collect(edge_type, group).items():
        name = fields[0].node.name.value
        if name == "__typename":
            edge_parts.append((key, edge_type.name))
        elif name == "cursor":
            edge_parts.append((key, None))
        elif name == "node":
            node_type = get_named_type(edge_type.fields[name].type)
            if not isinstance(node_type, GraphQLObjectType):
                raise NotCompiled(str(node_type))
            edge_parts.append((key, node_parts(walker, node_type, fields)))
        else:
            raise NotCompiled(f"{edge_type.name}.{name}")
    return EdgeRenderer(edge_parts)


_STRUCTURAL = CONNECTION_FIELDS | EDGE_FIELDS | PAGE_INFO_FIELDS


def fingerprint(
    walker: Walker, type_: GraphQLObjectType, group: Any, arguments: Callable[..., Any]
) -> tuple[Any, ...] | None:
    """The collected selection under `type_` as a hashable value (response keys, field
    names, argument values, sub-selections); None when it may depend on the viewer (a field
    of a node type outside `COMPILED`) or holds an abstract type."""
    parts: list[Any] = []
    registry = COMPILED.get(type_.name)
    for key, fields in walker.collect(type_, group).items():
        name = fields[0].node.name.value
        if name == "__typename":
            parts.append((key, name))
            continue
        if registry is not None and name not in registry:
            return None  # User.email, User.apiKeys, or a field not rendered the same for all
        if registry is None and name not in _STRUCTURAL:
            return None
        field = type_.fields[name]
        args = arguments(field, fields)
        encoded_args = orjson.dumps(args, default=str, option=orjson.OPT_SORT_KEYS)
        sub_type = get_named_type(field.type)
        sub: Any = None
        if is_abstract_type(sub_type):
            return None
        if isinstance(sub_type, GraphQLObjectType):
            sub = fingerprint(walker, sub_type, fields, arguments)
            if sub is None:
                return None
        parts.append((key, name, encoded_args, sub))
    return (type_.name, tuple(parts))


class RenderCache:
    """The JSON of recent live items per selection fingerprint, bounded: two generations of
    at most `size` entries each. An entry holds its record, and is used only for that very
    record object (the one a shared reader handed to every tap), so a subscriber's own
    catch-up reads never take another's rendering. A value is the JSON, or a future of it
    while the first subscriber executes (others wait rather than execute too)."""

    def __init__(self, size: int = 5_000) -> None:
        self.size = size
        self._new: dict[tuple[Any, ...], tuple[Any, Any]] = {}
        self._old: dict[tuple[Any, ...], tuple[Any, Any]] = {}
        self.renders = 0
        """Renderings stored so far (benchmarks and tests)."""

    def get(self, key: tuple[Any, ...], record: Any) -> bytes | asyncio.Future[bytes | None] | None:
        entry = self._new.get(key) or self._old.get(key)
        if entry is None or entry[0] is not record:
            return None
        value: bytes | asyncio.Future[bytes | None] = entry[1]
        return value

    def put(self, key: tuple[Any, ...], record: Any, value: Any) -> None:
        if len(self._new) >= self.size:
            self._old, self._new = self._new, {}
        self._new[key] = (record, value)
        if type(value) is bytes:
            self.renders += 1

    def forget(self, key: tuple[Any, ...], record: Any) -> None:
        for generation in (self._new, self._old):
            entry = generation.get(key)
            if entry is not None and entry[0] is record:
                del generation[key]


RENDERED = RenderCache()
