"""API keys and passwords: who is calling, and whether they may.

A key is `ck_<prefix>_<secret>`. The prefix is public (it names the key in `viewer.apiKeys` and
`revokeApiKey`); only a SHA-256 of the high-entropy secret is stored, and it is compared in
constant time. Passwords are hashed with argon2, as befits low-entropy human secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.db.read_pool import ReadPool
from api.db.tables import api_keys_table, users_table
from api.errors import Unauthenticated
from api.services import ids
from api.services.reading import USERS
from api.services.records import UserRecord

_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class NewKey:
    prefix: str
    secret: str

    @property
    def token(self) -> str:
        return f"ck_{self.prefix}_{self.secret}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def issue_key(*, conn: AsyncConnection, user_id: uuid.UUID) -> NewKey:
    """Create a key for `user_id` inside the caller's transaction; the secret is shown once."""
    key = NewKey(prefix=secrets.token_hex(6), secret=secrets.token_urlsafe(24))
    await conn.execute(
        api_keys_table.insert().values(
            id=ids.mint(count=1)[0],
            created_at=datetime.now(UTC),
            user_id=user_id,
            prefix=key.prefix,
            secret_hash=_digest(key.secret),
        )
    )
    return key


def _split(token: str) -> tuple[str, str]:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "ck" or not parts[1] or not parts[2]:
        raise Unauthenticated("the API key is malformed: expected `ck_<prefix>_<secret>`")
    return parts[1], parts[2]


_KEY_LOOKUP = (
    select(
        api_keys_table.c.secret_hash,
        api_keys_table.c.revoked_at,
        api_keys_table.c.expires_at,
        *USERS.columns,
    )
    .join(users_table, users_table.c.id == api_keys_table.c.user_id)
    .where(api_keys_table.c.prefix == bindparam("prefix"))
)
# The same statement as asyncpg text ($1: the prefix), for the read pool.
_KEY_LOOKUP_SQL = _KEY_LOOKUP.compile(dialect=asyncpg_dialect()).string


async def authenticate(
    *, engine: AsyncEngine, authorization: str | None, reads: ReadPool | None = None
) -> UserRecord | None:
    """The user an `Authorization: Bearer <key>` header names; None when there is no header.
    With `reads`, the key is looked up in one round trip on the read pool (every
    authenticated request pays it: through the engine it is a checkout, a pre-ping and a
    transaction).

    Unknown, revoked or expired keys, and keys of deleted users, are refused the same way.
    """
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send the key as `Authorization: Bearer <key>`")
    prefix, secret = _split(token.strip())
    row: Any  # an asyncpg Record or a RowMapping: both index by column name
    if reads is not None:
        row = await reads.fetchrow(_KEY_LOOKUP_SQL, [prefix])
    else:
        async with engine.connect() as conn:
            row = (await conn.execute(_KEY_LOOKUP, {"prefix": prefix})).mappings().first()
    now = datetime.now(UTC)
    if (
        row is None
        or not hmac.compare_digest(row["secret_hash"], _digest(secret))
        or row["revoked_at"] is not None
        or (row["expires_at"] is not None and row["expires_at"] <= now)
        or row["deleted"]
    ):
        raise Unauthenticated("the API key is unknown, revoked or expired")
    return USERS.to_record({f: row[f] for f in UserRecord.__slots__})  # type: ignore[arg-type]
