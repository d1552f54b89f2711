"""How fast streams deliver: live latency to many subscribers, and replay (catch-up) rate.

    python -m bench.streams [--subscribers 100] [--seconds 10] [--rate 50] [--replay 20000]
                            [--many 1000]

Live: two API processes share PostgreSQL and Redis; subscribers (half on each process) follow
`annotationCreated` for one sound while a writer on process 1 commits `--rate` annotations per
second in small batches; with a tenth of `--subscribers`, `--subscribers` and each `--many`
count (those runs last a third of `--seconds`, at least 3 s). Latency is receipt time minus
the annotation's `createdAt` (set in the commit slot just before the insert commits), so it
covers insert, commit, the Redis wake-up, the shared reader's database read, rendering, the
websocket send and this client's receipt, measured on one clock.

Database reads per commit: index and sequential scans of the annotations table during the
live run, once every subscriber is live (PostgreSQL's own counters, `pg_stat_user_tables`),
divided by the writer's commits, for each subscriber count: with one shared reader per API
process they do not grow with the subscriber count.

Replay: one subscriber resumes from a cursor `--replay` items back, per item
(`annotationCreated`) and batched (`annotationsCreated(maxBatch: 500)`). Its limit is the same
keyset read done directly with asyncpg (pages of 500, `id > cursor`, no GraphQL, no socket):
what the database alone can hand out. The per-item replay is also set against one websocket
message per item sent the plain ASGI way (`bench.wsfloor`: finished messages from a bare
Starlette endpoint on the same uvicorn, one send each, to the same client). Each replay
figure is the best of five passes, taken in turn with asyncpg's (`REPEATS`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from api.db.engine import libpq_url
from api.services import cursors
from bench import wsfloor
from bench.services import api_process, database, redis
from workers.sdk.graphql_ws import subscribe

SUBSCRIPTION = """subscription($after: String, $s: ID!) {
  annotationCreated(after: $after, filter: {sound: $s}) { cursor node { id createdAt } } }"""
BATCHED = """subscription($after: String, $s: ID!) {
  annotationsCreated(after: $after, filter: {sound: $s}, maxBatch: 500) {
    cursor node { id createdAt } } }"""


async def _gql(
    http: httpx.AsyncClient,
    url: str,
    query: str,
    variables: dict[str, Any],
    token: str | None = None,
) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = (
        await http.post(url, json={"query": query, "variables": variables}, headers=headers)
    ).json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


async def _setup(http: httpx.AsyncClient, url: str) -> tuple[str, str]:
    name = f"bench-streams-{int(time.time() * 1000)}"
    made = await _gql(
        http,
        url,
        "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } apiKey } }",
        {"i": {"name": name, "type": "DATASET", "aboutMe": "stream benchmark"}},
    )
    token = made["createUser"]["apiKey"]
    sound = await _gql(
        http,
        url,
        "mutation($i: [SoundInput!]!) { createSounds(input: $i) { sounds { id } } }",
        {
            "i": [
                {
                    "title": "bench",
                    "audioUrl": f"http://127.0.0.1:9/{name}.wav",
                    "license": "CC0",
                    "durationSeconds": 3600,
                }
            ]
        },
        token,
    )
    return token, sound["createSounds"]["sounds"][0]["id"]


async def _write(
    http: httpx.AsyncClient, url: str, token: str, sound: str, count: int, batch: int
) -> None:
    query = (
        "mutation($i: [AnnotationInput!]!) { createAnnotations(input: $i) { userErrors { code } } }"
    )
    item = {"sound": sound, "startSeconds": 1.0, "durationSeconds": 1.0, "tags": ["bench"]}
    for start in range(0, count, batch):
        await _gql(http, url, query, {"i": [item] * min(batch, count - start)}, token)


async def _seed_cursor(http: httpx.AsyncClient, url: str, token: str, sound: str) -> str:
    """One annotation to start after, so every subscriber sees exactly what follows it."""
    query = (
        "mutation($i: [AnnotationInput!]!) { createAnnotations(input: $i) { annotations { id } } }"
    )
    item = {"sound": sound, "startSeconds": 0.0, "durationSeconds": 1.0, "tags": ["seed"]}
    made = await _gql(http, url, query, {"i": [item]}, token)
    return cursors.encode(
        "annotation", uuid.UUID(made["createAnnotations"]["annotations"][0]["id"])
    )


async def live_latency(
    urls: list[str],
    token: str,
    sound: str,
    *,
    subscribers: int,
    seconds: float,
    rate: int,
    database_url: str | None = None,
) -> tuple[list[float], float | None]:
    """Receipt latencies of every delivery, and (given `database_url`) the annotations-table
    scans per writer commit while the writer runs: counted once every subscriber is live, so
    their one-off catch-up reads at the start do not enter it."""
    total = int(seconds * rate)
    # Receipt times and `createdAt` strings, parsed after the run, kept in two flat lists
    # (floats and strings are not tracked by the garbage collector; 500,000 tuples would be,
    # and its full collections would stall this client in the middle of the run).
    received: list[float] = []
    created: list[str] = []
    ready = asyncio.Event()
    opened = 0

    async with httpx.AsyncClient(timeout=60) as http:
        after = await _seed_cursor(http, urls[0], token, sound)
        await _seed_cursor(http, urls[0], token, sound)  # what each subscriber catches up on

    async def listen(url: str) -> None:
        nonlocal opened
        stream = subscribe(url, SUBSCRIPTION, {"s": sound, "after": after})
        await anext(stream)  # the second seed: caught up, and live from here on
        opened += 1
        if opened == subscribers:
            ready.set()
        got = 0
        data = await anext(stream)
        while True:
            received.append(time.time())
            created.append(data["annotationCreated"]["node"]["createdAt"])
            got += 1
            if got == total:
                await stream.aclose()
                return
            data = await anext(stream)

    listeners = [asyncio.ensure_future(listen(urls[i % len(urls)])) for i in range(subscribers)]
    await asyncio.wait_for(ready.wait(), 120)
    # This one process holds every subscription, which in use are as many separate clients
    # with small heaps: its garbage collector's full passes over 1,000 connections' objects
    # would stall all of them at once (p99 about twice as high). The objects that exist now
    # are set aside from collection for the run; what the run allocates is collected as usual.
    gc.collect()
    gc.freeze()
    # Joining the shared reader follows the catch-up read at once; _scans waits until the
    # statistics are flushed, so those reads are counted before this point.
    before = await _scans(database_url) if database_url else 0
    batch = max(1, rate // 10)
    commits = 0
    async with httpx.AsyncClient(timeout=60) as http:
        started = time.monotonic()
        for sent in range(0, total, batch):
            await _write(http, urls[0], token, sound, min(batch, total - sent), batch)
            commits += 1
            await asyncio.sleep(max(0.0, started + (sent + batch) / rate - time.monotonic()))
    await asyncio.wait_for(asyncio.gather(*listeners), 300)
    gc.unfreeze()
    latencies = [
        now - datetime.fromisoformat(at).timestamp()
        for now, at in zip(received, created, strict=True)
    ]
    if database_url is None:
        return latencies, None
    return latencies, (await _scans(database_url) - before) / commits


REPEATS = 5
"""Passes of each replay figure and of its asyncpg floor, interleaved (floor, per item,
batched, floor, …): each figure is its best pass, so all three are taken from the moments
this shared machine ran fastest, not one from a fast minute and another from a slow one."""


async def replays(
    url: str, database_url: str, token: str, sound: str, *, items: int
) -> tuple[float, float, float]:
    """Items/s of the per-item and of the batched subscription over the last `items`
    annotations of `sound`, and of the same keyset pages through asyncpg."""
    async with httpx.AsyncClient(timeout=120) as http:
        await _write(http, url, token, sound, items, 5000)
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        start_id = await connection.fetchval(
            "SELECT id FROM annotations WHERE sound_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
            uuid.UUID(sound),
            items,
        )
        await connection.execute("ANALYZE annotations")  # as autovacuum would, soon after
        cursor = cursors.encode("annotation", start_id)
        raw, per_item, batched = [], [], []
        for _ in range(REPEATS):
            raw.append(await _raw_pass(connection, sound, start_id, items))
            per_item.append(await _replay_pass(url, SUBSCRIPTION, cursor, sound, items))
            batched.append(await _replay_pass(url, BATCHED, cursor, sound, items))
    finally:
        await connection.close()
    return max(per_item), max(batched), max(raw)


async def _replay_pass(url: str, document: str, cursor: str, sound: str, items: int) -> float:
    """Items/s of one subscription from `cursor` until `items` items arrived (connecting,
    subscribing and catching up included)."""
    t = time.perf_counter()
    got = 0
    stream = subscribe(url, document, {"after": cursor, "s": sound})
    async for data in stream:
        value = data["annotationsCreated" if document is BATCHED else "annotationCreated"]
        got += len(value) if document is BATCHED else 1
        if got >= items:
            break
    await stream.aclose()
    return items / (time.perf_counter() - t)


async def _raw_pass(
    connection: asyncpg.Connection, sound: str, start_id: uuid.UUID, items: int
) -> float:
    """The floor: the same keyset pages straight from PostgreSQL."""
    t = time.perf_counter()
    after, seen = start_id, 0
    while seen < items:
        rows = await connection.fetch(
            "SELECT id, created_at, tags, start_seconds FROM annotations "
            "WHERE sound_id = $1 AND id > $2 ORDER BY id LIMIT 500",
            uuid.UUID(sound),
            after,
        )
        seen += len(rows)
        after = rows[-1]["id"]
    return items / (time.perf_counter() - t)


async def _scans(database_url: str) -> int:
    """Index plus sequential scans of the annotations table so far (all backends, flushed).
    A busy backend flushes its counters at most once a second, an idle one up to 10 s later
    (PostgreSQL's PGSTAT_IDLE_INTERVAL): without the wait, a subscriber's catch-up read just
    before the window would be counted in it."""
    await asyncio.sleep(11.0)
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        value = await connection.fetchval(
            "SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_user_tables "
            "WHERE relname = 'annotations'"
        )
    finally:
        await connection.close()
    return int(value)


async def reads_per_commit(
    urls: list[str],
    database_url: str,
    token: str,
    sound: str,
    *,
    subscribers: int,
    seconds: float,
    rate: int,
) -> tuple[list[float], float]:
    """A live run (as `live_latency`) and the annotations-table scans per writer commit."""
    latencies, per_commit = await live_latency(
        urls,
        token,
        sound,
        subscribers=subscribers,
        seconds=seconds,
        rate=rate,
        database_url=database_url,
    )
    assert per_commit is not None
    return latencies, per_commit


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if len(values) > 1
        else values[0]
    )


async def live_figures(
    urls: list[str],
    database_url: str,
    token: str,
    sound: str,
    *,
    counts: list[int],
    seconds: float,
    rate: int = 50,
) -> list[tuple[int, list[float], float]]:
    """`(subscribers, latencies, scans per commit)` of a live run at `rate` for each count;
    runs of more than 100 subscribers are shortened to a third (each item is one message to
    every subscriber, all received by this one client process)."""
    figures = []
    for count in counts:
        length = seconds if count <= 100 else max(3.0, seconds / 3)
        latencies, per_commit = await reads_per_commit(
            urls, database_url, token, sound, subscribers=count, seconds=length, rate=rate
        )
        figures.append((count, latencies, per_commit))
    return figures


async def _run(args: argparse.Namespace, db_url: str, urls: list[str]) -> Table:
    async with httpx.AsyncClient(timeout=60) as http:
        token, sound = await _setup(http, urls[0])
    counts = sorted({max(1, args.subscribers // 10), args.subscribers, *args.many})
    live = await live_figures(
        urls,
        db_url,
        token,
        sound,
        counts=[c for c in counts if c > 0],
        seconds=args.seconds,
        rate=args.rate,
    )
    replay_rate, batched_rate, raw_rate = await replays(
        urls[1], db_url, token, sound, items=args.replay
    )
    with wsfloor.floor_server() as floor_url:
        floor_rate = await wsfloor.best_rate(floor_url, items=args.replay)
    table = Table(title="Streams")
    for column in ("figure", "value", "limit", "ratio"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    fewest = live[0][2]
    for count, latencies, per_commit in live:
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        table.add_row(
            f"live latency, {count} subscribers ({len(latencies):,} deliveries)",
            f"p50 {p50:.1f} | p99 {p99:.1f} ms",
            "",
            "",
        )
        table.add_row(
            f"database reads per commit, {count} subscribers",
            f"{per_commit:.2f}",
            f"{fewest:.2f} ({live[0][0]} subscribers)",
            f"{per_commit / fewest:.2f}" if fewest else "",
        )
    table.add_row(
        f"replay of {args.replay:,} items (items/s)",
        f"{replay_rate:,.0f}",
        f"{raw_rate:,.0f} (asyncpg keyset)",
        f"{replay_rate / raw_rate:.2f}",
    )
    table.add_row(
        f"replay of {args.replay:,} items, one message each (items/s)",
        f"{replay_rate:,.0f}",
        f"{floor_rate:,.0f} (one Starlette send each)",
        f"{replay_rate / floor_rate:.2f}",
    )
    table.add_row(
        f"replay of {args.replay:,} items, batched (items/s)",
        f"{batched_rate:,.0f}",
        f"{raw_rate:,.0f} (asyncpg keyset)",
        f"{batched_rate / raw_rate:.2f}",
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=50, help="annotations committed per second")
    parser.add_argument("--replay", type=int, default=20_000)
    parser.add_argument(
        "--many", type=int, nargs="*", default=[1000], help="more subscriber counts to run"
    )
    args = parser.parse_args()
    console = Console()
    with database() as (db_url, _), redis() as redis_url:
        with (
            api_process(db_url, redis_url=redis_url) as one,
            api_process(db_url, redis_url=redis_url) as two,
        ):
            table = asyncio.run(_run(args, db_url, [one, two]))
    console.print(table)
    console.print(
        "Two API processes, one PostgreSQL, one Redis; subscribers and writer share one client "
        f"process; {os.cpu_count()} CPUs shared by all."
    )


if __name__ == "__main__":
    main()
