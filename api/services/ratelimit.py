"""Rate limits and subscription caps, kept in Redis so that every API process shares them.

Budgets follow GitHub's GraphQL API: each client has a number of points per hour; a request
costs points in proportion to the work its document may cause (see `points`), and is refused,
unexecuted, when it would overdraw the budget. The window is fixed: it opens with the first
request and resets an hour later. Charging is one Lua script, so concurrent requests to any
number of API processes never overdraw.

Live subscriptions per user are leases in a sorted set (member: a lease id, score: when it
lapses): a process renews its own leases while they live, so leases of a crashed process
lapse on their own instead of counting against the user forever.

Redis is a guard here, not a dependency: when it cannot be reached, requests go through
unmetered (and a warning is logged at most once a minute).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

WINDOW_SECONDS = 3600
LEASE_SECONDS = 60.0
RETRY_SECONDS = 5.0  # after Redis failed, how long requests skip it before trying again
_PREFIX = "cochlea:limits:"

# KEYS[1]: the budget; ARGV: points, limit, window (ms). Returns {allowed, used, ttl ms}.
_CHARGE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then used = 0; ttl = tonumber(ARGV[3]) end
local points = tonumber(ARGV[1])
if used + points > tonumber(ARGV[2]) then return {0, used, ttl} end
used = used + points
redis.call('SET', KEYS[1], used, 'PX', ttl)
return {1, used, ttl}
"""

# KEYS[1]: the user's leases; ARGV: cap, lease (ms), lease id. Returns the live count after
# the call, negated when the cap refused the lease.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
if live >= tonumber(ARGV[1]) then return -live end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return live + 1
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


def points(requests: int) -> int:
    """A request's points, as GitHub counts them: the connection pages its document may read,
    divided by 100, rounded, and at least 1 (so every mutation costs something too)."""
    return max(1, round(requests / 100))


@dataclass(frozen=True, slots=True)
class Budget:
    """Where a client stands after (or instead of) paying for one request."""

    allowed: bool
    limit: int
    cost: int
    used: int
    reset_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def retry_after(self) -> int:
        """Whole seconds until the window resets (at least 1)."""
        return max(1, int((self.reset_at - datetime.now(UTC)).total_seconds() + 0.999))


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    member: str


class Limiter:
    """One per API process: budgets and subscription leases over one Redis connection pool."""

    def __init__(self, redis_url: str | None, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self.lease_seconds = lease_seconds
        self._redis: aioredis.Redis | None = None
        if redis_url:
            # Short timeouts: an unreachable Redis must cost a request little before it is
            # let through unmetered.
            self._redis = aioredis.Redis.from_url(
                redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
        self._last_warning = 0.0
        self._down_until = 0.0

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def _warn(self, what: str) -> None:
        now = time.monotonic()
        if now >= self._down_until:  # a real failure, not a skip while Redis is known down
            self._down_until = now + RETRY_SECONDS
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("Redis unreachable: %s without limits", what, exc_info=True)

    async def _eval(self, script: str, key: str, *args: Any) -> Any:
        """Run a script; while Redis is known to be down, fail at once instead of waiting."""
        assert self._redis is not None
        if time.monotonic() < self._down_until:
            raise aioredis.ConnectionError("Redis was unreachable moments ago")
        return await self._redis.eval(script, 1, key, *args)  # type: ignore[misc]

    async def charge(self, *, client: str, cost: int, limit: int) -> Budget | None:
        """Pay `cost` points from `client`'s hourly budget of `limit`; None when unmetered
        (no limit, no Redis, or Redis unreachable)."""
        if self._redis is None or limit <= 0:
            return None
        try:
            allowed, used, ttl = await self._eval(
                _CHARGE, _PREFIX + "rate:" + client, cost, limit, WINDOW_SECONDS * 1000
            )
        except (aioredis.RedisError, OSError):
            self._warn("serving requests")
            return None
        reset_at = datetime.now(UTC) + timedelta(milliseconds=int(ttl))
        return Budget(
            allowed=bool(allowed), limit=limit, cost=cost, used=int(used), reset_at=reset_at
        )

    async def acquire(self, *, user: str, cap: int) -> Lease | int | None:
        """A lease on one of `user`'s `cap` live subscriptions. An int is a refusal (how many
        are live); None means unmetered (no cap, no Redis, or Redis unreachable)."""
        if self._redis is None or cap <= 0:
            return None
        lease = Lease(key=_PREFIX + "subscriptions:" + user, member=uuid.uuid4().hex)
        try:
            live = int(
                await self._eval(
                    _ACQUIRE, lease.key, cap, int(self.lease_seconds * 1000), lease.member
                )
            )
        except (aioredis.RedisError, OSError):
            self._warn("opening subscriptions")
            return None
        return lease if live > 0 else -live

    async def renew(self, lease: Lease) -> None:
        """Keep a live subscription's lease from lapsing (call every lease_seconds / 3)."""
        if self._redis is None:
            return
        try:
            await self._eval(_RENEW, lease.key, int(self.lease_seconds * 1000), lease.member)
        except (aioredis.RedisError, OSError):
            self._warn("renewing subscription leases")

    async def release(self, lease: Lease) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.zrem(lease.key, lease.member)
        except (aioredis.RedisError, OSError):
            self._warn("releasing subscription leases")  # the lease lapses on its own
