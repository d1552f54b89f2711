"""The schema: the Query, Mutation and Subscription roots, served with coded errors."""

from __future__ import annotations

from api.graphql.errors import CodedSchema
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.subscriptions import Subscription
from api.graphql.types.annotation import Annotation
from api.graphql.types.sound import Sound
from api.graphql.types.user import User

schema = CodedSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[User, Sound, Annotation],
)
