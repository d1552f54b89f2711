"""Opaque cursors: `base64url("<kind>:<uuid>")`.

Lists are ordered by id, so a cursor is an id tagged with the kind of list it came from; a
cursor from another kind of list is refused rather than silently reinterpreted.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Literal

from api.errors import BadCursor

Kind = Literal["user", "sound", "annotation"]


def encode(kind: Kind, id_: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{id_}".encode()).decode().rstrip("=")


def decode(kind: Kind, cursor: str, *, argument: str = "after") -> uuid.UUID:
    """The id in `cursor`, which must come from a list of `kind`s."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _, value = raw.partition(":")
        parsed = uuid.UUID(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(
            f"`{argument}` is not a cursor: pass the `cursor` of an edge from this list",
            argument=argument,
        ) from None
    if found != kind:
        raise BadCursor(
            f"`{argument}` is a cursor of a {found} list; this list holds {kind}s",
            argument=argument,
        )
    return parsed
