"""Accounts: open sign-up, login, API keys, self-service updates and soft deletion."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db.tables import USER_TYPES, api_keys_table, users_table
from api.errors import Problem
from api.services import auth, ids, permissions, streams, validation
from api.services.reading import USERS
from api.services.records import UserRecord

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True, slots=True)
class NewUser:
    name: str
    type: str
    password: str | None = None
    email: str | None = None
    about_me: str = ""
    info_url: str | None = None


@dataclass(frozen=True, slots=True)
class SignUp:
    user: UserRecord | None
    api_key: str | None
    problems: list[Problem]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    prefix: str
    created_at: datetime


def _email(value: str | None) -> Problem | None:
    if value is None:
        return None
    if (
        "@" not in value
        or len(value) > 320
        or value.strip() != value
        or " " in value
        or validation.has_control(value)
    ):
        return Problem(None, "email", "INVALID_EMAIL", "email must look like name@example.org")
    return None


def _password(value: str | None, *, required: bool) -> Problem | None:
    if value is None:
        return (
            Problem(None, "password", "REQUIRED", "humans sign up with a password")
            if required
            else None
        )
    if len(value) < MIN_PASSWORD_LENGTH or len(value) > 1024:
        return Problem(
            None,
            "password",
            "WEAK_PASSWORD",
            f"passwords are {MIN_PASSWORD_LENGTH} to 1,024 characters",
        )
    return None


async def create_user(*, engine: AsyncEngine, new: NewUser) -> SignUp:
    """Sign up. Humans give a password; bots must say in `aboutMe` what they publish and get an
    API key in the answer (shown once)."""
    human = new.type == "HUMAN"
    found = [
        validation.user_name("name", new.name),
        None
        if new.type in USER_TYPES
        else Problem(None, "type", "INVALID_TYPE", "unknown user type"),
        _password(new.password, required=human),
        _email(new.email),
        validation.text(None, "aboutMe", new.about_me, required=not human),
        validation.url(None, "infoUrl", new.info_url),
    ]
    problems = [p for p in found if p is not None]
    if problems:
        return SignUp(user=None, api_key=None, problems=problems)
    password_hash = auth.hash_password(new.password) if new.password is not None else None
    try:
        async with engine.begin() as conn:
            newest = await streams.enter_commit_slot(conn, "user")
            record = UserRecord(
                id=ids.mint(count=1, after=newest)[0],
                created_at=datetime.now(UTC),
                name=new.name,
                type=new.type,
                about_me=new.about_me or "",
                info_url=new.info_url,
                email=new.email,
                deleted=False,
            )
            await conn.execute(
                users_table.insert().values(password_hash=password_hash, **_row(record))
            )
            key = None if human else (await auth.issue_key(conn=conn, user_id=record.id)).token
    except IntegrityError:
        taken = Problem(None, "name", "TAKEN", f"the name {new.name!r} is taken")
        return SignUp(user=None, api_key=None, problems=[taken])
    return SignUp(user=record, api_key=key, problems=[])


def _row(record: UserRecord) -> dict[str, object]:
    return {f: getattr(record, f) for f in UserRecord.__slots__}


async def login(*, engine: AsyncEngine, name: str, password: str) -> str | None:
    """A new API key for the human called `name`, or None when name or password is wrong."""
    if validation.has_control(name):
        return None
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(users_table.c.id, users_table.c.password_hash).where(
                    func.lower(users_table.c.name) == name.lower(), users_table.c.deleted.is_(False)
                )
            )
        ).first()
        # Verify even for unknown names, so timing does not reveal which names exist.
        ok = auth.verify_password(row.password_hash if row else _DUMMY_HASH, password)
        if row is None or not ok:
            return None
        return (await auth.issue_key(conn=conn, user_id=row.id)).token


_DUMMY_HASH = auth.hash_password("not a password of anyone")


async def create_api_key(*, engine: AsyncEngine, viewer: UserRecord | None) -> str:
    me = permissions.require(viewer, "manage_self")
    async with engine.begin() as conn:
        return (await auth.issue_key(conn=conn, user_id=me.id)).token


async def revoke_api_key(*, engine: AsyncEngine, viewer: UserRecord | None, prefix: str) -> bool:
    """Revoke the viewer's key with `prefix`; False when the viewer has no such live key."""
    me = permissions.require(viewer, "manage_self")
    if validation.has_control(prefix):
        return False
    async with engine.begin() as conn:
        done = await conn.execute(
            update(api_keys_table)
            .where(
                api_keys_table.c.user_id == me.id,
                api_keys_table.c.prefix == prefix,
                api_keys_table.c.revoked_at.is_(None),
            )
            .values(revoked_at=datetime.now(UTC))
        )
    return bool(done.rowcount)


async def list_api_keys(*, engine: AsyncEngine, user_id: uuid.UUID) -> list[KeyInfo]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(api_keys_table.c.prefix, api_keys_table.c.created_at)
            .where(api_keys_table.c.user_id == user_id, api_keys_table.c.revoked_at.is_(None))
            .order_by(api_keys_table.c.id)
        )
        return [KeyInfo(prefix=p, created_at=c) for p, c in rows]


@dataclass(frozen=True, slots=True)
class ViewerUpdate:
    about_me: str | None = None
    info_url: str | None = None
    email: str | None = None
    password: str | None = None


async def update_viewer(
    *, engine: AsyncEngine, viewer: UserRecord | None, change: ViewerUpdate
) -> tuple[UserRecord | None, list[Problem]]:
    me = permissions.require(viewer, "manage_self")
    found = [
        validation.text(
            None,
            "aboutMe",
            change.about_me,
            required=change.about_me is not None and me.type != "HUMAN",
        ),
        validation.url(None, "infoUrl", change.info_url),
        _email(change.email),
        _password(change.password, required=False),
    ]
    problems = [p for p in found if p is not None]
    if problems:
        return None, problems
    values: dict[str, object] = {}
    if change.about_me is not None:
        values["about_me"] = change.about_me
    if change.info_url is not None:
        values["info_url"] = change.info_url
    if change.email is not None:
        values["email"] = change.email
    if change.password is not None:
        values["password_hash"] = auth.hash_password(change.password)
    async with engine.begin() as conn:
        if values:
            await conn.execute(
                update(users_table).where(users_table.c.id == me.id).values(**values)
            )
        row = (
            (await conn.execute(select(*USERS.columns).where(users_table.c.id == me.id)))
            .mappings()
            .one()
        )
    return USERS.to_record(row), []


async def delete_viewer(*, engine: AsyncEngine, viewer: UserRecord | None) -> None:
    """Soft delete: resources stay, keys stop working, the name stays taken."""
    me = permissions.require(viewer, "manage_self")
    async with engine.begin() as conn:
        await conn.execute(
            update(users_table).where(users_table.c.id == me.id).values(deleted=True)
        )
        await conn.execute(
            update(api_keys_table)
            .where(api_keys_table.c.user_id == me.id, api_keys_table.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
