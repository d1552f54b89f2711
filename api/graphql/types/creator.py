"""`createdBy`, the same field on sounds and annotations: the creator, through the loader.

Kept apart from `user.py`, which imports the sound and annotation types (for `User.sounds`
and `User.annotations`): the user type is imported lazily here to avoid a cycle.
"""

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

if TYPE_CHECKING:
    from api.graphql.types.user import User


async def resolve_creator(
    root: Any, info: strawberry.Info
) -> Annotated["User", strawberry.lazy("api.graphql.types.user")]:
    from api.graphql.types.user import User

    return User.from_record(await info.context.loaders.users.load(root._record.created_by))


created_by = strawberry.field(resolver=resolve_creator, description="Who created it.")
