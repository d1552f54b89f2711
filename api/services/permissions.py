"""Who may do what: the whole permission matrix, in one table.

| action             | human | dataset | featurebot | aggregator | anonymous   |
|--------------------|-------|---------|------------|------------|-------------|
| create sounds      | yes   | yes     | no         | no         | no          |
| create annotations | yes   | yes     | yes        | no         | no          |
| read               | yes   | yes     | yes        | yes        | per setting |
| update/delete user | itself only, for every type                 | no          |
"""

from __future__ import annotations

from typing import Literal

from api.errors import Forbidden, Unauthenticated
from api.services.records import UserRecord

Action = Literal["create_sounds", "create_annotations", "manage_self"]

ALLOWED: dict[Action, frozenset[str]] = {
    "create_sounds": frozenset({"HUMAN", "DATASET"}),
    "create_annotations": frozenset({"HUMAN", "DATASET", "FEATUREBOT"}),
    "manage_self": frozenset({"HUMAN", "DATASET", "FEATUREBOT", "AGGREGATOR"}),
}

_WHAT: dict[Action, str] = {
    "create_sounds": "create sounds",
    "create_annotations": "create annotations",
    "manage_self": "change an account",
}


def require(viewer: UserRecord | None, action: Action) -> UserRecord:
    """The viewer, if it may perform `action`; otherwise UNAUTHENTICATED or FORBIDDEN."""
    if viewer is None:
        raise Unauthenticated(f"to {_WHAT[action]}, send `Authorization: Bearer <key>`")
    if viewer.type not in ALLOWED[action]:
        allowed = ", ".join(sorted(ALLOWED[action]))
        raise Forbidden(f"{viewer.type} users may not {_WHAT[action]} (allowed: {allowed})")
    return viewer
