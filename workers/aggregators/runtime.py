"""The shared aggregator runtime: sign up, follow streams into an index, serve its GraphQL.

An aggregator is a read-only `AGGREGATOR` user whose `infoUrl` is its own GraphQL endpoint, so
clients find every aggregator with `users(filter: {type: AGGREGATOR})`. It reads only through
the public API (and the object store's public URLs) and keeps its state in
`settings.data_dir / "aggregators" / <name>`.

Writing one (see `workers/aggregators/search/` for a complete example)
--------------------------------------------------------------------
1. Implement the `Aggregator` protocol (in `contract.py`, re-exported here):

   - `name`, `about`: its user name (also its state directory) and what it offers (aboutMe);
   - `feeds`: the `Feed`s it follows (stream field, node selection, filter);
   - `schema()`: a `CodedSchema` whose `Query` subclasses `graphql_base.RuntimeQuery` (which
     adds `status` and `skipped`); resolvers get `info.context["runtime"]` (this `Runtime`)
     and `info.context["aggregator"]` (the aggregator object);
   - `open(ctx)`: open the index in `ctx.state_dir` (called once, before anything is served);
     keep `ctx`: `ctx.skips` records skipped inputs, and once signed up `ctx.client` is an
     `ApiClient` acting as the aggregator and `ctx.identity` its `BotIdentity`;
   - `progress()`: the `Progress` last committed WITH the index (cursor and count per feed);
   - `apply(feed, edges, progress)`: add `edges` of `feed` to the index and durably commit it
     together with `progress` (which already counts these edges) in ONE atomic write. Inputs it
     cannot use go to `ctx.skips.record(...)`; they count as read. Raise only for faults
     worth retrying (disk, network): the runtime then restarts that feed from `progress()`;
   - `indexed()`: how many entries the index holds; `close()`: release it.

   Calls to `apply` are serialized (one at a time over all feeds) and shielded from
   cancellation, so a SIGTERM lets the commit in progress finish. Because the cursor is only
   ever stored inside the commit, a crash at any point repeats nothing and loses nothing.

2. In `workers/aggregators/<name>/service.py` define

       def run(settings: Settings, *, host: str, port: int) -> int:
           return serve(MyAggregator(settings), settings, host=host, port=port)

   which `cochlea aggregator <name> [--host H] [--port P]` and `cochlea up` call. `serve`
   serves `/graphql` (GraphiQL in a browser) and `/healthz` with CORS open to any origin, opens
   the index, signs up (or reuses its key, kept in Redis like the featurebots'), follows every
   feed in the background, and returns 0 after SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, cast

import redis.asyncio as aioredis
import uvicorn
from strawberry.scalars import JSON

from api.settings import Settings
from workers.aggregators.contract import (
    Aggregator,
    Context,
    Feed,
    FeedProgress,
    Progress,
    endpoint_url,
    progress_from_json,
    progress_to_json,
    state_dir,
)
from workers.aggregators.graphql_base import Status, StreamStatus
from workers.aggregators.skipped import SkipLog
from workers.sdk.batches import LISTS, Edge, follow_batches
from workers.sdk.checkpoints import CommittedCheckpoint
from workers.sdk.client import ApiClient, ApiError
from workers.sdk.registry import BotIdentity, IdentityLost, ensure_bot
from workers.sdk.stream import FILTER_TYPES

__all__ = [
    "Aggregator",
    "Context",
    "Feed",
    "FeedProgress",
    "Progress",
    "Runtime",
    "endpoint_url",
    "progress_from_json",
    "progress_to_json",
    "serve",
    "state_dir",
]

log = logging.getLogger("cochlea.aggregators")


class Runtime:
    """Runs one aggregator: identity, followers, status. Its GraphQL app is `workers.
    aggregators.app.build_app(runtime)`."""

    def __init__(self, aggregator: Aggregator, settings: Settings, *, url: str) -> None:
        self.aggregator = aggregator
        self.settings = settings
        self.url = url
        self.state_dir = state_dir(settings, aggregator.name)
        self.skips = SkipLog(self.state_dir / "skipped.sqlite")
        self.ctx = Context(
            name=aggregator.name,
            settings=settings,
            state_dir=self.state_dir,
            skips=self.skips,
            url=url,
        )
        self.ready = asyncio.Event()
        self.filters: dict[str, Mapping[str, Any] | None] = {}
        self.selections: dict[str, str] = {}
        self._write = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: ApiClient | None = None

    def open(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.aggregator.open(self.ctx)

    async def start(self) -> None:
        """Sign up and follow every feed, in the background."""
        self._tasks.append(asyncio.create_task(self._boot(), name="boot"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
        self.aggregator.close()
        self.skips.close()

    async def _boot(self) -> None:
        identity = await self._sign_up()
        client = ApiClient(url=self.settings.graphql_url, token=identity.token)
        self._client, self.ctx.client, self.ctx.identity = client, client, identity
        for feed in self.aggregator.feeds:
            resolved = await feed.resolve_filter(client) if feed.resolve_filter else feed.filter
            self.filters[feed.field] = resolved
            self.selections[feed.field] = (
                await feed.resolve_selection(client) if feed.resolve_selection else feed.selection
            )
        for feed in self.aggregator.feeds:
            self._tasks.append(asyncio.create_task(self._follow(feed), name=feed.field))
        self.ready.set()
        log.info("%s follows %s", self.aggregator.name, [f.field for f in self.aggregator.feeds])

    async def _sign_up(self) -> BotIdentity:
        if not self.settings.redis_url:
            raise RuntimeError("COCHLEA_REDIS_URL is not set: the aggregator keeps its key there")
        delay = 0.5
        while True:
            redis = aioredis.Redis.from_url(self.settings.redis_url)
            try:
                async with ApiClient(url=self.settings.graphql_url) as client:
                    return await ensure_bot(
                        redis=redis,
                        client=client,
                        name=self.aggregator.name,
                        about=self.aggregator.about,
                        user_type="AGGREGATOR",
                        info_url=self.url,
                    )
            except IdentityLost:
                raise
            except (ApiError, OSError) as error:
                log.warning("%s cannot sign up yet: %s", self.aggregator.name, error)
            finally:
                await redis.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _follow(self, feed: Feed) -> None:
        """Follow one feed for ever; after a fault, start again from the committed cursor."""
        failures = 0
        while True:
            checkpoint = CommittedCheckpoint(self._committed_cursor(feed.field))
            assert self._client is not None
            batches = follow_batches(
                url=self.settings.graphql_url,
                field=feed.field,
                selection=self.selections.get(feed.field, feed.selection),
                checkpoint=checkpoint,
                token=self._client.token,
                filter=self.filters.get(feed.field),
                start="beginning",
                max_items=feed.batch_size,
            )
            try:
                async with contextlib.aclosing(batches):
                    async for edges in batches:
                        await self._apply(feed, edges)
                        failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("%s: following %s failed; resuming", self.aggregator.name, feed.field)
            await asyncio.sleep(min(30.0, 0.5 * 2**failures) * (0.5 + random.random() / 2))

    def _committed_cursor(self, stream: str) -> Callable[[], Awaitable[str | None]]:
        async def load() -> str | None:
            return self.aggregator.progress().get(stream, FeedProgress()).cursor

        return load

    async def _apply(self, feed: Feed, edges: list[Edge]) -> None:
        async with self._write:
            progress = dict(self.aggregator.progress())
            before = progress.get(feed.field, FeedProgress())
            progress[feed.field] = replace(
                before, cursor=edges[-1].cursor, seen=before.seen + len(edges)
            )
            work = asyncio.ensure_future(self.aggregator.apply(feed, edges, progress))
            try:
                await asyncio.shield(work)
            except asyncio.CancelledError:
                await work  # let the commit in progress finish, then stop
                raise

    async def lag(self, feed: Feed, seen: int) -> int | None:
        """Items of `feed` not read yet: the list's total count minus what was read."""
        if self._client is None:
            return None
        name = LISTS[feed.field]
        try:
            if feed.field in FILTER_TYPES:
                query = f"query($f: {FILTER_TYPES[feed.field]}) {{ {name}(first: 0, filter: $f) "
                data = await self._client.execute(
                    query + "{ totalCount } }", {"f": self.filters.get(feed.field)}
                )
            else:
                data = await self._client.execute(f"{{ {name}(first: 0) {{ totalCount }} }}")
        except ApiError:
            return None
        return max(0, int(data[name]["totalCount"]) - seen)

    async def status(self) -> Status:
        progress = self.aggregator.progress()
        streams = []
        for feed in self.aggregator.feeds:
            done = progress.get(feed.field, FeedProgress())
            lag = await self.lag(feed, done.seen)
            streams.append(
                StreamStatus(stream=feed.field, cursor=done.cursor, seen=done.seen, lag=lag)
            )
        lags = [s.lag for s in streams]
        return Status(
            name=self.aggregator.name,
            ready=self.ready.is_set(),
            cursor=cast(JSON, {s.stream: s.cursor for s in streams}),
            lag=None if None in lags else sum(lag or 0 for lag in lags),
            indexed=self.aggregator.indexed(),
            skipped=self.skips.count(),
            streams=streams,
        )


def serve(
    aggregator: Aggregator,
    settings: Settings,
    *,
    host: str,
    port: int,
    public_url: str | None = None,
    log_level: str = "warning",
) -> int:
    """Run `aggregator` until SIGTERM or Ctrl-C: 0 when stopped cleanly."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if public_url is None and settings.aggregators_public_host:
        public_url = endpoint_url(settings.aggregators_public_host, port)
    url = public_url or endpoint_url(host, port)
    # uvicorn re-raises the signal that stopped it: ignore that re-raise, we are done anyway.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    return asyncio.run(_serve(aggregator, settings, host=host, port=port, url=url, level=log_level))


async def _serve(
    aggregator: Aggregator, settings: Settings, *, host: str, port: int, url: str, level: str
) -> int:
    from workers.aggregators.app import build_app

    runtime = Runtime(aggregator, settings, url=url)
    try:
        runtime.open()
    except (OSError, ValueError) as exc:  # e.g. another process holds the index's lock
        log.error("%s cannot open its state in %s: %s", aggregator.name, runtime.state_dir, exc)
        return 1
    config = uvicorn.Config(
        build_app(runtime), host=host, port=port, log_level=level, lifespan="off"
    )
    server = uvicorn.Server(config)
    await runtime.start()
    boot = runtime._tasks[0]
    serving = asyncio.create_task(server.serve())
    try:
        done, _ = await asyncio.wait({serving, boot}, return_when=asyncio.FIRST_COMPLETED)
        if boot in done and boot.exception() is not None:
            log.error("%s could not start: %s", aggregator.name, boot.exception())
            server.should_exit = True
            await serving
            return 1
        await serving
    finally:
        await runtime.stop()
    return 0 if server.started else 1
