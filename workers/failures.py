"""Failures that are visible, bounded and never silent.

`guarded` wraps a job's work. A retryable error (the audio host is down, the API or the store
is unreachable, a timeout) asks arq to run the job again later (`Retry`, exponential backoff),
up to `RetryPolicy.max_tries`; any other error, or the last try, records the job as failed in
Redis (`<namespace>:failures`, job id -> JSON) with its code and reason, and the job ends
normally so the worker goes on. `list_failures` shows the records; `requeue` runs one again.

A job interrupted mid-run (worker killed or stopped) is re-run by arq and counts as a try too;
after `max_interrupted` tries it is recorded instead, so even a job that kills its worker every
time ends up in the list. arq's own try limit is set out of reach: it would drop jobs silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import redis.asyncio as aioredis
from arq import Retry
from arq.connections import ArqRedis
from arq.constants import result_key_prefix, retry_key_prefix
from minio.error import S3Error
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error

from workers.bots import Namespace
from workers.errors import FetchError
from workers.sdk.arrays import ArrayNotFound
from workers.sdk.client import ApiError

__all__ = ["Failure", "RetryPolicy", "classify", "guarded", "list_failures", "requeue"]

log = logging.getLogger(__name__)
T = TypeVar("T")
# (`type: ignore[misc]` below: redis-py types hash commands as sync-or-async, mypy cannot tell.)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a job is retried."""

    max_tries: int = 4
    backoff_seconds: float = 5.0
    max_backoff_seconds: float = 300.0
    max_interrupted: int = 8
    job_timeout: float = 600.0

    def delay(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: backoff, doubling each time, capped."""
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(attempt - 1, 0))


@dataclass(frozen=True)
class Failure:
    """A job that will not be retried by itself. `id` is its job id (`<bot>:<source>:v<n>`)."""

    id: str
    bot: str
    source: str
    code: str
    reason: str
    tries: int
    failed_at: str
    node: dict[str, Any]

    @property
    def url(self) -> str | None:
        """The audio URL of the sound, for audio bots."""
        value = self.node.get("audioUrl")
        return str(value) if value is not None else None


def classify(exc: BaseException) -> tuple[str, str, bool]:
    """(code, reason, retryable) of a job's exception."""
    if isinstance(exc, FetchError):
        return exc.code, exc.reason, exc.retryable
    if isinstance(exc, ApiError):
        return exc.code, str(exc), exc.retryable
    if isinstance(exc, ArrayNotFound):
        return "array_not_found", str(exc), False
    if isinstance(exc, TimeoutError):
        return "timeout", "the job took longer than its time limit", True
    if isinstance(exc, BrokenProcessPool):
        return "pool_crashed", "a computing process died (out of memory?)", True
    if isinstance(exc, S3Error):
        return "storage_error", f"{exc.code}: {exc.message}", True
    transient = (RedisConnectionError, RedisTimeoutError, Urllib3Error, httpx.HTTPError, OSError)
    if isinstance(exc, transient):
        return "unavailable", f"{type(exc).__name__}: {exc}", True
    return "internal_error", f"{type(exc).__name__}: {exc}", False


async def guarded(
    *,
    redis: aioredis.Redis,
    namespace: Namespace,
    job_id: str,
    bot: str,
    node: dict[str, Any],
    attempt: int,
    policy: RetryPolicy,
    work: Callable[[], Awaitable[T]],
) -> T | Failure:
    """Run `work()` under the policy: its result, a `Retry` for arq, or the recorded Failure."""

    async def fail(code: str, reason: str) -> Failure:
        failure = Failure(
            id=job_id,
            bot=bot,
            source=str(node.get("id")),
            code=code,
            reason=reason,
            tries=attempt,
            failed_at=datetime.now(UTC).isoformat(),
            node=node,
        )
        await redis.hset(namespace.failures, job_id, json.dumps(asdict(failure)))  # type: ignore[misc]
        log.warning("%s failed after %d tries: %s: %s", job_id, attempt, code, reason)
        return failure

    if attempt > policy.max_interrupted:
        return await fail("interrupted", f"the job was interrupted {attempt - 1} times")
    try:
        async with asyncio.timeout(policy.job_timeout):
            result = await work()
    except Exception as exc:
        code, reason, retryable = classify(exc)
        if code == "internal_error":
            log.exception("%s: unexpected error", job_id)
        if retryable and attempt < policy.max_tries:
            delay = policy.delay(attempt)
            log.info("%s: %s (%s); try %d in %.1f s", job_id, code, reason, attempt + 1, delay)
            raise Retry(defer=delay) from exc
        return await fail(code, reason)
    # A re-queued failure that now succeeded is no failure any more.
    await redis.hdel(namespace.failures, job_id)  # type: ignore[misc]
    return result


async def list_failures(*, redis: aioredis.Redis, namespace: Namespace) -> list[Failure]:
    """Every recorded failure, oldest first."""
    records = await redis.hgetall(namespace.failures)  # type: ignore[misc]
    failures = [Failure(**json.loads(raw)) for raw in records.values()]
    return sorted(failures, key=lambda f: (f.failed_at, f.id))


async def requeue(
    *, redis: ArqRedis, namespace: Namespace, failure_id: str, function: str
) -> Failure:
    """Enqueue a failed job again with a fresh try count and forget its failure record.

    Raises KeyError when there is no such failure. If it fails again, it is recorded again.
    """
    raw = await redis.hget(namespace.failures, failure_id)  # type: ignore[misc]
    if raw is None:
        raise KeyError(failure_id)
    failure = Failure(**json.loads(raw))
    # The finished job's result would make arq refuse the id; its try count would carry over.
    await redis.delete(result_key_prefix + failure_id, retry_key_prefix + failure_id)
    await redis.enqueue_job(
        function,
        failure.bot,
        failure.node,
        _job_id=failure_id,
        _queue_name=namespace.queue(failure.bot),
    )
    await redis.hdel(namespace.failures, failure_id)  # type: ignore[misc]
    return failure
