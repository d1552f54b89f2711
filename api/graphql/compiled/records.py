"""Objects written straight from their records: a selection of a node's own columns (the
`COMPILED` scalars) becomes one small function per key, with the serialisers the resolvers
use, and no graphql-core work per field.

Used for subscription events (`api.graphql.subscriptions.rendering`) and for the batch
mutations' payload lists (`createAnnotations { annotations { … } }`: thousands of objects per
request), where completing each field of each object was the largest single cost of ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphql import GraphQLObjectType, GraphQLOutputType, get_named_type

from api.graphql.compiled.compiler import Walker
from api.graphql.compiled.fields import COMPILED

T = TypeVar("T")


@dataclass(frozen=True)
class Records(Generic[T]):
    """A payload list still as its records (`createAnnotations { annotations }`): written
    straight from them when the selection allows (`render_records`), else made into objects
    one by one as graphql-core iterates it. Making a thousand strawberry objects only to read
    their `_record` back was a tenth of an ingest request."""

    records: Sequence[Any]
    make: Callable[[Any], T]

    def __iter__(self) -> Iterator[T]:
        return map(self.make, self.records)

    def __len__(self) -> int:
        return len(self.records)


_SCALARS: dict[str, Callable[[str], Callable[[Any], Any]]] = {
    "id": lambda name: lambda r: str(getattr(r, name)),
    "plain": lambda name: lambda r: getattr(r, name),
    "json": lambda name: lambda r: getattr(r, name),
    "float": lambda name: lambda r: float(getattr(r, name)),
    "timestamp": lambda name: lambda r: getattr(r, name).isoformat(),  # Strawberry's DateTime
}


class NotCompiled(Exception):
    """The selection needs the resolvers (nested objects, lists, viewer fields)."""


def node_parts(
    walker: Walker, node_type: GraphQLObjectType, group: Any
) -> list[tuple[str, Callable[[Any], Any]]]:
    """How to write `node_type`'s collected selection from a record: (response key, value
    function) in selection order; NotCompiled for anything but its own columns."""
    registry = COMPILED.get(node_type.name, {})
    parts: list[tuple[str, Callable[[Any], Any]]] = []
    for key, fields in walker.collect(node_type, group).items():
        name = fields[0].node.name.value
        if name == "__typename":
            parts.append((key, _constant(node_type.name)))
            continue
        column, render = registry.get(name, ("", ""))
        if render not in _SCALARS:
            raise NotCompiled(f"{node_type.name}.{name}")
        parts.append((key, _SCALARS[render](column)))
    return parts


def _constant(value: str) -> Callable[[Any], Any]:
    return lambda _record: value


def render_records(
    walker: Walker, return_type: GraphQLOutputType, group: Any, records: Sequence[Any]
) -> list[dict[str, Any]] | None:
    """A list field's completed value, from its items' records, or None when the selection
    needs the resolvers (nested objects, viewer fields, `@defer`)."""
    node_type = get_named_type(return_type)
    if not isinstance(node_type, GraphQLObjectType) or any(d.defer_usage for d in group):
        return None
    try:
        parts = node_parts(walker, node_type, group)
    except NotCompiled:
        return None
    return [{key: value(record) for key, value in parts} for record in records]
