"""Enums of the public contract."""

from __future__ import annotations

from enum import Enum

import strawberry

from api.services.pagination import Order as _Order


@strawberry.enum(description="Who a user is: a person, a collection, a feature bot or an indexer.")
class UserType(Enum):
    HUMAN = "HUMAN"
    DATASET = "DATASET"
    FEATUREBOT = "FEATUREBOT"
    AGGREGATOR = "AGGREGATOR"


@strawberry.enum(description="Creative Commons 4.0 licences under which a sound may be used.")
class License(Enum):
    CC_BY = "CC_BY"
    CC_BY_SA = "CC_BY_SA"
    CC_BY_ND = "CC_BY_ND"
    CC_BY_NC = "CC_BY_NC"
    CC_BY_NC_SA = "CC_BY_NC_SA"
    CC_BY_NC_ND = "CC_BY_NC_ND"
    CC0 = "CC0"


Order = strawberry.enum(_Order, description="List order by id, which is creation order.")
