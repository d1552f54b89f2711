"""The schema: the Query, Mutation and Subscription roots and the extensions they run with."""

from __future__ import annotations

import strawberry

from api.graphql.errors import ErrorCodes
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.types.annotation import Annotation
from api.graphql.types.sound import Sound
from api.graphql.types.user import User

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    types=[User, Sound, Annotation],
    extensions=[ErrorCodes],
)
