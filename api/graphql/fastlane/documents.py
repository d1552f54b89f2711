"""Which documents the fast lane serves: one mutation whose only root field is a batch
mutation fed by one variable of exactly its list type, e.g.

    mutation($input: [AnnotationInput!]!) { createAnnotations(input: $input) { ... } }

Anything else (more root fields, directives, defaults, another variable, an inline input)
is left to the normal path. The payload's selection is free: execution still runs it.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
    print_ast,
)

# Root field -> (the type its `input` variable must have, the batch kind).
BATCH_FIELDS = {
    "createAnnotations": ("[AnnotationInput!]!", "annotations"),
    "createSounds": ("[SoundInput!]!", "sounds"),
}
CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class BatchDocument:
    kind: str  # "annotations" or "sounds"
    variable: str  # the name of the variable holding the inputs
    operation_name: str | None


_CACHE: OrderedDict[str, BatchDocument | None] = OrderedDict()


def recognise(query: str) -> BatchDocument | None:
    """The batch `query` runs, or None when the fast lane must leave it alone (LRU-cached:
    clients send the same few documents over and over)."""
    try:
        found = _CACHE[query]
    except KeyError:
        found = _recognise(query)
        _CACHE[query] = found
        while len(_CACHE) > CACHE_SIZE:
            with contextlib.suppress(KeyError):  # emptied meanwhile by another thread's app
                _CACHE.popitem(last=False)
        return found
    with contextlib.suppress(KeyError):
        _CACHE.move_to_end(query)
    return found


def _recognise(query: str) -> BatchDocument | None:
    try:
        document = parse(query, no_location=True)
    except (GraphQLError, RecursionError):
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    others = [d for d in document.definitions if not isinstance(d, FragmentDefinitionNode)]
    if len(operations) != 1 or len(others) != 1:
        return None
    [operation] = operations
    if operation.operation is not OperationType.MUTATION or operation.directives:
        return None
    selections = operation.selection_set.selections
    definitions = operation.variable_definitions or ()
    if len(selections) != 1 or len(definitions) != 1:
        return None
    [field], [definition] = selections, definitions
    if not isinstance(field, FieldNode) or field.directives or field.name.value not in BATCH_FIELDS:
        return None
    wanted, kind = BATCH_FIELDS[field.name.value]
    if definition.default_value is not None or definition.directives:
        return None
    if print_ast(definition.type) != wanted:
        return None
    name = definition.variable.name.value
    arguments = field.arguments or ()
    if len(arguments) != 1:
        return None
    [argument] = arguments
    value = argument.value
    if argument.name.value != "input" or not isinstance(value, VariableNode):
        return None
    if value.name.value != name:
        return None
    return BatchDocument(kind, name, operation.name.value if operation.name else None)
