"""Sign-up, login, API keys and self-service account changes."""

from __future__ import annotations

import strawberry

from api.errors import Problem
from api.graphql.types.enums import UserType
from api.graphql.types.payloads import (
    CreateApiKeyPayload,
    CreateUserPayload,
    DeleteViewerPayload,
    LoginPayload,
    RevokeApiKeyPayload,
    UpdateViewerPayload,
    user_errors,
)
from api.graphql.types.user import User
from api.services import users


@strawberry.input
class CreateUserInput:
    name: str
    type: UserType
    password: str | None = None
    email: str | None = None
    about_me: str = strawberry.field(
        default="", description="Required for bots: what they publish."
    )
    info_url: str | None = None


@strawberry.input
class UpdateViewerInput:
    about_me: str | None = None
    info_url: str | None = None
    email: str | None = None
    password: str | None = None


@strawberry.mutation(description="Open sign-up. Bots get their API key in the answer, once.")
async def create_user(info: strawberry.Info, input: CreateUserInput) -> CreateUserPayload:
    result = await users.create_user(
        engine=info.context.engine,
        new=users.NewUser(
            name=input.name,
            type=input.type.value,
            password=input.password,
            email=input.email,
            about_me=input.about_me,
            info_url=input.info_url,
        ),
    )
    if result.user is not None:
        await info.context.notify("user")
    return CreateUserPayload(
        user=User.from_record(result.user) if result.user else None,
        api_key=result.api_key,
        user_errors=user_errors(result.problems),
    )


@strawberry.mutation(description="A new API key for a human, in exchange for name and password.")
async def login(info: strawberry.Info, name: str, password: str) -> LoginPayload:
    key = await users.login(engine=info.context.engine, name=name, password=password)
    if key is None:
        wrong = Problem(None, "password", "INVALID_CREDENTIALS", "wrong name or password")
        return LoginPayload(api_key=None, user_errors=user_errors([wrong]))
    return LoginPayload(api_key=key, user_errors=[])


@strawberry.mutation(description="Another API key for the viewer (shown once).")
async def create_api_key(info: strawberry.Info) -> CreateApiKeyPayload:
    viewer = await info.context.viewer()
    return CreateApiKeyPayload(
        api_key=await users.create_api_key(engine=info.context.engine, viewer=viewer)
    )


@strawberry.mutation(description="Revoke one of the viewer's keys by its prefix.")
async def revoke_api_key(info: strawberry.Info, prefix: str) -> RevokeApiKeyPayload:
    viewer = await info.context.viewer()
    done = await users.revoke_api_key(engine=info.context.engine, viewer=viewer, prefix=prefix)
    return RevokeApiKeyPayload(revoked=done)


@strawberry.mutation(description="Change the viewer's aboutMe, infoUrl, email or password.")
async def update_viewer(info: strawberry.Info, input: UpdateViewerInput) -> UpdateViewerPayload:
    viewer = await info.context.viewer()
    record, problems = await users.update_viewer(
        engine=info.context.engine,
        viewer=viewer,
        change=users.ViewerUpdate(
            about_me=input.about_me,
            info_url=input.info_url,
            email=input.email,
            password=input.password,
        ),
    )
    if record is not None:
        info.context.set_viewer(record)
    return UpdateViewerPayload(
        user=User.from_record(record) if record else None, user_errors=user_errors(problems)
    )


@strawberry.mutation(description="Soft-delete the viewer: resources stay, keys stop working.")
async def delete_viewer(info: strawberry.Info) -> DeleteViewerPayload:
    viewer = await info.context.viewer()
    await users.delete_viewer(engine=info.context.engine, viewer=viewer)
    return DeleteViewerPayload(deleted=True)
