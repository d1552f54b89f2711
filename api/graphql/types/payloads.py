"""Mutation results: `userErrors` say what to fix, per input index and field."""

from __future__ import annotations

import strawberry

from api.errors import Problem
from api.graphql.types.annotation import Annotation
from api.graphql.types.sound import Sound
from api.graphql.types.user import User


@strawberry.type(description="Something wrong with the input; when present, nothing was written.")
class UserError:
    index: int | None = strawberry.field(
        description="Which input of a batch (null: the whole call)."
    )
    field: str | None = strawberry.field(description="The input field at fault.")
    code: str
    message: str

    @classmethod
    def from_problem(cls, p: Problem) -> UserError:
        return cls(index=p.index, field=p.field, code=p.code, message=p.message)


def user_errors(problems: list[Problem]) -> list[UserError]:
    return [UserError.from_problem(p) for p in problems]


@strawberry.type
class CreateUserPayload:
    user: User | None
    api_key: str | None = strawberry.field(description="Bots only: the key, shown this once.")
    user_errors: list[UserError]


@strawberry.type
class LoginPayload:
    api_key: str | None
    user_errors: list[UserError]


@strawberry.type
class CreateApiKeyPayload:
    api_key: str = strawberry.field(description="The new key, shown this once.")


@strawberry.type
class RevokeApiKeyPayload:
    revoked: bool


@strawberry.type
class UpdateViewerPayload:
    user: User | None
    user_errors: list[UserError]


@strawberry.type
class DeleteViewerPayload:
    deleted: bool


@strawberry.type
class CreateSoundsPayload:
    sounds: list[Sound] = strawberry.field(description="In input order; empty if userErrors.")
    created: int = strawberry.field(
        default=0, description="How many are new; the others already existed (by key)."
    )
    user_errors: list[UserError]


@strawberry.type
class CreateAnnotationsPayload:
    annotations: list[Annotation] = strawberry.field(
        description="In input order; empty if userErrors."
    )
    created: int = strawberry.field(
        default=0, description="How many are new; the others already existed (by key)."
    )
    user_errors: list[UserError]
