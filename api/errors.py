"""Every error Cochlea reports to a client, in one tree.

    CochleaError                       extensions.code
    ├── BadUserInput                   BAD_USER_INPUT      malformed argument (id, range, size)
    │   ├── BadCursor                  BAD_CURSOR          cursor malformed or from another list
    │   └── RequestTooLarge            PAYLOAD_TOO_LARGE   body or batch over the limits
    ├── Unauthenticated                UNAUTHENTICATED     no, unknown, revoked or expired key
    ├── Forbidden                      FORBIDDEN           authenticated but not allowed
    ├── QueryTooComplex                QUERY_TOO_COMPLEX   cost, depth, aliases... over the limits
    ├── RateLimited                    RATE_LIMITED        the hourly budget of points is spent
    ├── TooManySubscriptions           TOO_MANY_SUBSCRIPTIONS  live subscriptions over the cap
    └── Timeout                        TIMEOUT             a statement or the request took too long

Services raise these; the GraphQL layer turns them into errors whose `extensions.code` is the
code above (graphql-core copies an original error's `extensions`). Input validation problems
that name an input index and field are not raised: they are returned as `Problem` values and
become a mutation payload's `userErrors`, with nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class CochleaError(Exception):
    """Base class: a message a client can act on, plus a stable code."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **details}


class BadUserInput(CochleaError):
    code = "BAD_USER_INPUT"


class BadCursor(BadUserInput):
    code = "BAD_CURSOR"


class RequestTooLarge(BadUserInput):
    code = "PAYLOAD_TOO_LARGE"


class Unauthenticated(CochleaError):
    code = "UNAUTHENTICATED"


class Forbidden(CochleaError):
    code = "FORBIDDEN"


class QueryTooComplex(CochleaError):
    code = "QUERY_TOO_COMPLEX"


class RateLimited(CochleaError):
    code = "RATE_LIMITED"


class TooManySubscriptions(CochleaError):
    code = "TOO_MANY_SUBSCRIPTIONS"


class Timeout(CochleaError):
    code = "TIMEOUT"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one input of a batch: `index` of the input (None for the whole
    call), the `field` at fault, a stable `code` and a message that says what to fix."""

    index: int | None
    field: str | None
    code: str
    message: str
