"""The schema: the Query, Mutation and Subscription roots, served with coded errors."""

from __future__ import annotations

from strawberry.extensions import ParserCache, ValidationCache

from api.graphql.limits.deadline import LimitedSchema
from api.graphql.limits.extension import QueryLimits
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.subscriptions import Subscription
from api.graphql.subscriptions.events import SubscriptionsExecutor
from api.graphql.types.annotation import Annotation
from api.graphql.types.sound import Sound
from api.graphql.types.user import User

schema = LimitedSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[User, Sound, Annotation],
    # Root lists whose whole selection SQL can render are answered by one statement each
    # (COCHLEA_COMPILED_READS); everything else runs the resolvers as usual. Subscription
    # events are rendered once per distinct selection (`api.graphql.subscriptions.events`).
    execution_context_class=SubscriptionsExecutor,
    # Clients (bots above all) send the same few documents over and over: parse and validate
    # each once, not on every request, which otherwise costs more than everything else a
    # simple read does. The LRU caches are bounded, keyed by the document and shared by the
    # fresh extension instances each request gets. QueryLimits comes first: it refuses an
    # oversized document before it is parsed, and what is too costly before it runs.
    extensions=[
        QueryLimits,
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
    ],
)
