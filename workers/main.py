"""`cochlea worker`: run featurebots until SIGINT/SIGTERM; list and re-queue their failures.

One worker process runs, for each chosen bot, a listener (stream -> queue) and an arq worker
(queue -> job), plus one process pool for the CPU-heavy work. Start as many processes, on as
many machines, as the load needs: they share the queues through Redis, and deterministic job
ids keep each job single. Stopping cancels running jobs; arq runs them again later.

    python -m workers.main [--bot NAME ...] [--namespace NS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from arq.connections import ArqRedis, RedisSettings, create_pool

from api.settings import Settings, get_settings
from workers import failures
from workers.arq_settings import WorkerOptions, make_worker
from workers.bots import BOTS, Namespace
from workers.bots.compute import AXES, warm_up
from workers.jobs import FUNCTION_NAME, Runtime
from workers.listener import listen, supervise
from workers.sdk.arrays import ArrayStore, bucket_name
from workers.sdk.client import ApiClient, ApiUnavailable
from workers.sdk.local_arrays import LocalArrayStore
from workers.sdk.registry import BotIdentity, ensure_bot
from workers.sdk.s3_arrays import S3ArrayStore
from workers.ssrf import parse_allow_networks

__all__ = ["list_failures", "make_store", "pool_factory", "retry_failure", "run_worker", "serve"]

log = logging.getLogger(__name__)


def run_worker(
    *, settings: Settings, bots: list[str] | None = None, options: WorkerOptions | None = None
) -> None:
    """Run the bots `bots` (all of them when None) until SIGINT or SIGTERM; then stop cleanly."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings=settings, bots=bots, options=options, stop=stop)

    asyncio.run(main())


def list_failures(*, settings: Settings, namespace: str = "cochlea") -> list[failures.Failure]:
    """Jobs recorded as failed (`cochlea worker failures`), oldest first."""

    async def main() -> list[failures.Failure]:
        redis = await _redis(settings)
        try:
            return await failures.list_failures(redis=redis, namespace=_names(namespace))
        finally:
            await redis.aclose()

    return asyncio.run(main())


def retry_failure(
    *, settings: Settings, failure_id: str, namespace: str = "cochlea"
) -> failures.Failure:
    """Queue a failed job again (`cochlea worker retry ID`); KeyError for an unknown id."""

    async def main() -> failures.Failure:
        redis = await _redis(settings)
        try:
            return await failures.requeue(
                redis=redis,
                namespace=_names(namespace),
                failure_id=failure_id,
                function=FUNCTION_NAME,
            )
        finally:
            await redis.aclose()

    return asyncio.run(main())


def make_store(*, settings: Settings) -> ArrayStore:
    """S3 when `s3_endpoint` is set, else files under `<data_dir>/files/arrays` (the API
    serves `<data_dir>/files` at `<public_url>/files`). Published S3 URLs start with
    `s3_public_url` when set (compose sets COCHLEA_S3_PUBLIC_URL: clients cannot reach
    `minio:9000`), else with the endpoint."""
    if settings.s3_endpoint:
        return S3ArrayStore(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key or "",
            secret_key=settings.s3_secret_key or "",
            secure=settings.s3_secure,
            public_base_url=settings.s3_public_url,
        )
    return LocalArrayStore(
        root=settings.data_dir / "files" / "arrays",
        public_base_url=settings.public_url.rstrip("/") + "/files/arrays",
    )


def _names(namespace: str) -> Namespace:
    return WorkerOptions(namespace=namespace).names


async def _redis(settings: Settings) -> ArqRedis:
    if not settings.redis_url:
        raise RuntimeError("COCHLEA_REDIS_URL is not set: the workers keep their state in Redis")
    return await create_pool(RedisSettings.from_dsn(settings.redis_url))


def _chosen(bots: Sequence[str] | None) -> list[str]:
    names = list(dict.fromkeys(bots)) if bots else list(BOTS)
    unknown = [name for name in names if name not in BOTS]
    if unknown:
        choices = ", ".join(BOTS)
        raise ValueError(f"no featurebot called {', '.join(unknown)}; choose from {choices}")
    return names


async def serve(
    *,
    settings: Settings,
    bots: Sequence[str] | None = None,
    options: WorkerOptions | None = None,
    stop: asyncio.Event,
) -> None:
    """Run until `stop` is set (or a part crashes, which raises). Clean on every exit."""
    main = asyncio.create_task(_serve(settings, _chosen(bots), options or WorkerOptions()))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await main


async def _register(*, redis: ArqRedis, api: ApiClient, name: str) -> BotIdentity:
    """The bot's identity, waiting for the API to come up (it may start after us)."""
    delay = 0.5
    while True:
        try:
            return await ensure_bot(redis=redis, client=api, name=name, about=BOTS[name].about)
        except ApiUnavailable as exc:
            log.warning("%s: the API is not reachable yet (%s); trying again", name, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)


def pool_factory(*, processes: int | None) -> partial[ProcessPoolExecutor]:
    """Makes the process pool: `processes` workers (None: one per CPU), each warmed up."""
    # spawn, not fork: forking a process that runs an event loop and threads is unsafe.
    context = multiprocessing.get_context("spawn")
    workers = processes or os.cpu_count() or 1
    return partial(ProcessPoolExecutor, workers, mp_context=context, initializer=warm_up)


async def _serve(settings: Settings, names: list[str], options: WorkerOptions) -> None:
    redis = await _redis(settings)
    api = ApiClient(url=settings.graphql_url)
    runtime: Runtime | None = None
    tasks: list[asyncio.Task[None]] = []
    workers = []
    try:
        store = make_store(settings=settings)
        if isinstance(store, LocalArrayStore):
            swept = await store.sweep()
            if swept:
                log.info("removed %d temporary array file(s) left by killed workers", swept)
        for name in names:
            if name in AXES:
                await store.ensure_bucket(bucket_name(bot=name))
        identities = {name: await _register(redis=redis, api=api, name=name) for name in names}
        clients = {name: api.with_token(identity.token) for name, identity in identities.items()}
        runtime = Runtime(
            namespace=options.names,
            store=store,
            clients=clients,
            make_pool=pool_factory(processes=options.processes),
            allow_networks=parse_allow_networks(settings.fetch_allow_networks),
            max_bytes=settings.fetch_max_bytes,
            max_seconds=settings.fetch_max_seconds,
            policy=options.policy,
            spool_slots=(options.processes or os.cpu_count() or 1) + 2,
        )
        await _warm(runtime, options.processes or os.cpu_count() or 1)
        ctx = {"runtime": runtime}
        for name in names:
            worker = make_worker(bot=name, options=options, redis_pool=redis, ctx=ctx)
            workers.append(worker)
            tasks.append(asyncio.create_task(worker.async_run(), name=f"arq-{name}"))
            run = partial(
                listen,
                bot=name,
                graphql_url=settings.graphql_url,
                client=clients[name],
                redis=redis,
                queue=redis,
                namespace=options.names,
                backfill=settings.bots_backfill,
            )
            tasks.append(asyncio.create_task(supervise(f"{name} listener", run)))
        log.info("featurebots running: %s (namespace %s)", ", ".join(names), options.namespace)
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # an arq worker crashed (Redis gone, say): raise its error
        raise RuntimeError(f"{', '.join(t.get_name() for t in done)} stopped by itself")
    finally:
        for task in tasks:
            task.cancel()
        for worker in workers:
            worker.handle_sig(signal.SIGTERM)  # cancels its running jobs; arq re-runs them
        await asyncio.gather(*tasks, return_exceptions=True)
        for worker in workers:
            await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        if runtime is not None:
            await runtime.aclose()
            for client in runtime.clients.values():
                await client.aclose()
        await api.aclose()
        await redis.aclose()


async def _warm(runtime: Runtime, processes: int) -> None:
    """Start the pool's processes (each warms librosa up) before taking jobs."""
    await asyncio.gather(*(runtime.compute(time.sleep, 0.2) for _ in range(processes)))


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers.main", description=__doc__)
    parser.add_argument("--bot", action="append", metavar="NAME", help="run only this bot")
    parser.add_argument("--namespace", default="cochlea", help="Redis key prefix of the state")
    parser.add_argument("--processes", type=int, help="process pool size (default: CPUs)")
    parser.add_argument("--job-timeout", type=float, default=600.0, help="seconds per job")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API call is noise
    options = WorkerOptions(
        namespace=args.namespace,
        processes=args.processes,
        policy=failures.RetryPolicy(job_timeout=args.job_timeout),
    )
    run_worker(settings=get_settings(), bots=args.bot, options=options)


if __name__ == "__main__":
    _main()
