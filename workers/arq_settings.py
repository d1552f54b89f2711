"""arq configuration: one arq `Worker` per bot, each on its own queue, sharing one Redis pool.

A queue per bot lets `cochlea worker --bot mel` on one machine and `--bot stft` on another
share a Redis without taking each other's jobs (arq fails a job whose function a worker lacks).
All of a process's workers share the event loop, the Redis connections, the API clients and
the process pool (`ctx["runtime"]`).

arq's in-progress lease is the job timeout plus 10 s: a job whose worker died is picked up by
another worker once its lease expires, which is why the timeout must not be much longer than
the longest job (an hour of audio takes well under a minute on one core).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arq.connections import ArqRedis
from arq.worker import Worker, create_worker, func

from workers.bots import Namespace
from workers.failures import RetryPolicy
from workers.jobs import FUNCTION_NAME, featurebot

__all__ = ["ARQ_MAX_TRIES", "WorkerOptions", "functions", "make_worker", "worker_settings"]

ARQ_MAX_TRIES = 1_000_000
"""arq's own limit, out of reach: past it arq drops a job silently; `failures` records it."""
TIMEOUT_MARGIN = 5.0
"""arq's hard timeout exceeds the job's own, so the job records its timeout itself."""


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker process runs its bots. Defaults suit production."""

    namespace: str = "cochlea"
    """Prefix of the Redis keys of this deployment's queues, checkpoints and failures."""
    processes: int | None = None
    """Size of the process pool computing features (None: one per CPU)."""
    max_jobs: int = 8
    """Jobs of one bot running at once in this process (they mostly wait for the pool, the
    fetch or the API; `Runtime.spool_slots` bounds the sounds held meanwhile)."""
    poll_delay: float = 0.1
    """Seconds between two looks at the queue. arq starts new jobs only when it looks (up to
    `max_jobs` minus those running), even with a backlog: 0.5 s and 4 jobs capped a bot at
    8 jobs/s, about 80 s of 10 s sounds per second; 0.1 s and 8 allow 80 jobs/s."""
    keep_result: float = 86_400.0
    """Seconds a finished job's id keeps blocking the same job from being enqueued again."""
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def names(self) -> Namespace:
        return Namespace(self.namespace)


def functions(options: WorkerOptions) -> list[Any]:
    """The arq function list: the one job every bot runs."""
    timeout = options.policy.job_timeout + TIMEOUT_MARGIN
    return [func(featurebot, name=FUNCTION_NAME, timeout=timeout, max_tries=ARQ_MAX_TRIES)]


def worker_settings(
    *, bot: str, options: WorkerOptions, redis_pool: ArqRedis, ctx: dict[str, Any]
) -> dict[str, Any]:
    """arq WorkerSettings (as a mapping) for `bot`'s queue."""
    return {
        "functions": functions(options),
        "queue_name": options.names.queue(bot),
        "redis_pool": redis_pool,
        "ctx": ctx,
        "handle_signals": False,  # `workers.main` stops everything in order
        "max_jobs": options.max_jobs,
        "poll_delay": options.poll_delay,
        "keep_result": options.keep_result,
        "max_tries": ARQ_MAX_TRIES,
        "health_check_interval": 60,
        "log_results": False,
    }


def make_worker(
    *, bot: str, options: WorkerOptions, redis_pool: ArqRedis, ctx: dict[str, Any]
) -> Worker:
    return create_worker(worker_settings(bot=bot, options=options, redis_pool=redis_pool, ctx=ctx))
