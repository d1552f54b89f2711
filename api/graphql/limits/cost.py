"""Static cost of a GraphQL document: what it may return, known before anything runs.

Like GitHub's GraphQL API, the cost is the number of nodes a document may return: every
connection field asks for `first` (or `last`, or the default page size) nodes for each node of
the connections around it, so nested connections multiply. Fragments (named and inline) are
expanded where they are spread and every alias counts on its own: a document cannot hide work
behind either. Introspection's lists (`types`, `fields`, `args`...) count with bounds taken
from the schema itself, so GraphiQL's introspection query costs little while a nested
introspection "bomb" costs what it would return.

The shape of a document (its lists, depth, aliases, root fields) does not depend on variables,
so it is computed once per document text and cached; only the page sizes that come from
variables are read per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from graphql.utilities import get_operation_ast, value_from_ast_untyped

from api.services.pagination import DEFAULT_PAGE_SIZE

MAX_BATCH_DEFAULT = 100
"""`maxBatch` of the batched subscriptions when a document leaves it out."""

# Fragment spreads can multiply a small document into a huge tree (a fragment spreading
# another twice, and so on); the walk stops, and refuses the document, past this many fields.
MAX_EXPANDED_FIELDS = 10_000

Size = int | str  # a literal page size, or the name of the variable that gives it


@dataclass(frozen=True, slots=True)
class ListNode:
    """A list the document asks for: `size` items for each item of the lists around it."""

    size: Size
    fetches: bool  # a connection read from the database (GitHub's "request"), not introspection
    children: tuple[ListNode, ...]


@dataclass(frozen=True, slots=True)
class Shape:
    """What a document asks for, independent of its variables."""

    depth: int
    aliases: int
    root_fields: int
    lists: tuple[ListNode, ...]
    defaults: Mapping[str, Any]  # the variables' default values
    too_big: bool = False  # expands to more than MAX_EXPANDED_FIELDS fields


@dataclass(frozen=True, slots=True)
class Cost:
    nodes: int  # the most nodes the document may return
    requests: int  # the connection pages it may read (what rate-limit points are made of)


class _TooBig(Exception):
    pass


def _bounds(schema: GraphQLSchema) -> dict[str, int]:
    """How long each introspection list of this schema can be."""
    types = list(schema.type_map.values())
    fields = [
        len(t.fields) for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
    ]
    inputs = [len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)]
    values = [len(t.values) for t in types if isinstance(t, GraphQLEnumType)]
    interfaces = [
        len(t.interfaces) for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
    ]
    args = [
        len(f.args)
        for t in types
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
        for f in t.fields.values()
    ] + [len(d.args) for d in schema.directives]
    return {
        "types": len(types),
        "directives": len(schema.directives),
        "fields": max(fields, default=1),
        "inputFields": max(inputs, default=1),
        "enumValues": max(values, default=1),
        "interfaces": max(interfaces, default=1),
        "possibleTypes": len(types),
        "args": max(args, default=1),
    }


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        bounds: Mapping[str, int],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.bounds = bounds
        self.depth = 0
        self.aliases = 0
        self.root_fields = 0
        self.fields = 0

    def walk(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, depth: int
    ) -> list[ListNode]:
        found: list[ListNode] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found += self._field(selection, parent, depth)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                found += self.walk(selection.selection_set, inner, depth)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    inner = self.schema.get_type(fragment.type_condition.name.value)
                    found += self.walk(fragment.selection_set, inner, depth)
        return found

    def _field(
        self, node: FieldNode, parent: GraphQLNamedType | None, depth: int
    ) -> list[ListNode]:
        self.fields += 1
        if self.fields > MAX_EXPANDED_FIELDS:
            raise _TooBig
        self.depth = max(self.depth, depth)
        self.aliases += node.alias is not None
        self.root_fields += depth == 1
        name = node.name.value
        if name == "__schema":
            definition = SchemaMetaFieldDef
        elif name == "__type":
            definition = TypeMetaFieldDef
        elif isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) and name in parent.fields:
            definition = parent.fields[name]
        else:
            return []  # __typename, or a field validation would not have let through
        named = get_named_type(definition.type)
        children = self.walk(node.selection_set, named, depth + 1) if node.selection_set else []
        if named.name.endswith("Connection") and "first" in definition.args:
            return [ListNode(_page_size(node), True, tuple(children))]
        if "maxBatch" in definition.args:  # a batched stream: up to maxBatch edges a message
            size = _page_size(node, ("maxBatch",), MAX_BATCH_DEFAULT)
            return [ListNode(size, True, tuple(children))]
        if named.name.startswith("__") and is_list_type(get_nullable_type(definition.type)):
            return [ListNode(self.bounds.get(name, 1), False, tuple(children))]
        return children


def _page_size(
    node: FieldNode, names: tuple[str, ...] = ("first", "last"), default: int = DEFAULT_PAGE_SIZE
) -> Size:
    """`first`, else `last`, else the default page size; a variable is read per request."""
    arguments = {a.name.value: a.value for a in node.arguments or ()}
    for name in names:
        value = arguments.get(name)
        if isinstance(value, VariableNode):
            return value.name.value
        if isinstance(value, IntValueNode):
            return int(value.value)
    return default


def analyse(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Shape:
    """The shape of the operation `operation_name` of a validated `document`."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Shape(depth=0, aliases=0, root_fields=0, lists=(), defaults={})
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _Walker(schema, fragments, _schema_bounds(schema))
    try:
        lists = walker.walk(operation.selection_set, _root(schema, operation), 1)
    except _TooBig:
        return Shape(0, 0, 0, (), {}, too_big=True)
    return Shape(
        depth=walker.depth,
        aliases=walker.aliases,
        root_fields=walker.root_fields,
        lists=tuple(lists),
        defaults=_defaults(operation),
    )


def _root(schema: GraphQLSchema, operation: OperationDefinitionNode) -> GraphQLObjectType | None:
    return {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]


def _defaults(operation: OperationDefinitionNode) -> dict[str, Any]:
    return {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }


_BOUNDS: dict[int, dict[str, int]] = {}


def _schema_bounds(schema: GraphQLSchema) -> dict[str, int]:
    key = id(schema)
    if key not in _BOUNDS:
        _BOUNDS[key] = _bounds(schema)
    return _BOUNDS[key]


def measure(shape: Shape, variables: Mapping[str, Any] | None) -> Cost:
    """The cost of `shape` with these variables: nodes returned and connection pages read."""
    values = {**shape.defaults, **(variables or {})}
    nodes = requests = 0
    stack: list[tuple[ListNode, int]] = [(node, 1) for node in shape.lists]
    while stack:
        node, around = stack.pop()
        size = _resolve(node.size, values)
        nodes += around * size
        requests += around if node.fetches else 0
        stack.extend((child, around * size) for child in node.children)
    return Cost(nodes=nodes, requests=requests)


def _resolve(size: Size, values: Mapping[str, Any]) -> int:
    """A page size; a variable that is unset or not an int (which execution would refuse
    anyway) counts as the default page."""
    if isinstance(size, str):
        value = values.get(size)
        if not isinstance(value, int) or isinstance(value, bool):
            return DEFAULT_PAGE_SIZE
        size = value
    return max(size, 0)


class ShapeCache:
    """A bounded LRU of shapes keyed by document text and operation name."""

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize = maxsize
        self._shapes: OrderedDict[tuple[str, str | None], Shape] = OrderedDict()

    def get(
        self,
        schema: GraphQLSchema,
        query: str | None,
        document: DocumentNode,
        operation_name: str | None,
    ) -> Shape:
        if query is None:
            return analyse(schema, document, operation_name)
        key = (query, operation_name)
        shape = self._shapes.get(key)
        if shape is None:
            shape = analyse(schema, document, operation_name)
            self._shapes[key] = shape
            if len(self._shapes) > self.maxsize:
                self._shapes.popitem(last=False)
        else:
            self._shapes.move_to_end(key)
        return shape


def describe(count: int) -> str:
    """A count as people read it: 62,500,000,000."""
    return f"{count:,}"
