"""The Relay `Node` interface and id parsing shared by every resolver that takes an id."""

from __future__ import annotations

import uuid

import strawberry

from api.errors import BadUserInput
from api.services import ids


@strawberry.interface(description="A resource with a globally unique, time-ordered id (UUIDv7).")
class Node:
    id: strawberry.ID


def parse_id(value: str, *, argument: str) -> uuid.UUID:
    """The UUID in an `ID` argument, or a BAD_USER_INPUT error naming the argument."""
    parsed = ids.parse(value)
    if parsed is None:
        raise BadUserInput(f"`{argument}` is not a valid id: {value[:80]!r}", argument=argument)
    return parsed
