"""How fast streams deliver: live latency to many subscribers, and replay (catch-up) rate.

    python -m bench.streams [--subscribers 100] [--seconds 10] [--rate 50] [--replay 20000]

Live: two API processes share PostgreSQL and Redis; subscribers (half on each process) follow
`annotationCreated` for one sound while a writer on process 1 commits `--rate` annotations per
second in small batches. Latency is receipt time minus the annotation's `createdAt` (set in
the commit slot just before the insert commits), so it covers insert, commit, the Redis
wake-up, the subscriber's database read and the websocket send, measured on one clock.

Database reads per commit: index and sequential scans of the annotations table during the
live run (PostgreSQL's own counters, `pg_stat_user_tables`), divided by the writer's commits,
once with `--subscribers` and once with a tenth of them: with one shared reader per API
process they do not grow with the subscriber count.

Replay: one subscriber resumes from a cursor `--replay` items back, per item
(`annotationCreated`) and batched (`annotationsCreated(maxBatch: 500)`). Its limit is the same
keyset read done directly with asyncpg (pages of 500, `id > cursor`, no GraphQL, no socket):
what the database alone can hand out.
"""

from __future__ import annotations

import argparse
import asyncio
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
    urls: list[str], token: str, sound: str, *, subscribers: int, seconds: float, rate: int
) -> list[float]:
    total = int(seconds * rate)
    latencies: list[float] = []
    ready = asyncio.Event()
    opened = 0

    async with httpx.AsyncClient(timeout=60) as http:
        after = await _seed_cursor(http, urls[0], token, sound)

    async def listen(url: str) -> None:
        nonlocal opened
        stream = subscribe(url, SUBSCRIPTION, {"s": sound, "after": after})
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.5)  # connected and waiting (it resumes from `after` regardless)
        opened += 1
        if opened == subscribers:
            ready.set()
        got = 0
        data = await first
        while True:
            now = time.time()
            created = datetime.fromisoformat(
                data["annotationCreated"]["node"]["createdAt"]
            ).timestamp()
            latencies.append(now - created)
            got += 1
            if got == total:
                await stream.aclose()
                return
            data = await anext(stream)

    listeners = [asyncio.ensure_future(listen(urls[i % len(urls)])) for i in range(subscribers)]
    await asyncio.wait_for(ready.wait(), 60)
    batch = max(1, rate // 10)
    async with httpx.AsyncClient(timeout=60) as http:
        started = time.monotonic()
        for sent in range(0, total, batch):
            await _write(http, urls[0], token, sound, min(batch, total - sent), batch)
            await asyncio.sleep(max(0.0, started + (sent + batch) / rate - time.monotonic()))
    await asyncio.wait_for(asyncio.gather(*listeners), 120)
    return latencies


async def replay(
    url: str, database_url: str, token: str, sound: str, *, items: int
) -> tuple[float, float]:
    async with httpx.AsyncClient(timeout=120) as http:
        await _write(http, url, token, sound, items, 5000)
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        ids = await connection.fetch(
            "SELECT id FROM annotations WHERE sound_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
            uuid.UUID(sound),
            items,
        )
        start_id = ids[0]["id"]
        # The floor: the same keyset pages straight from PostgreSQL.
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
        raw_rate = items / (time.perf_counter() - t)
    finally:
        await connection.close()
    cursor = cursors.encode("annotation", start_id)
    t = time.perf_counter()
    got = 0
    stream = subscribe(url, SUBSCRIPTION, {"after": cursor, "s": sound})
    async for _ in stream:
        got += 1
        if got == items:
            break
    await stream.aclose()
    return items / (time.perf_counter() - t), raw_rate


async def replay_batched(url: str, database_url: str, sound: str, *, items: int) -> float:
    """Items/s of the batched subscription over the last `items` annotations of `sound`."""
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        start_id = await connection.fetchval(
            "SELECT id FROM annotations WHERE sound_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
            uuid.UUID(sound),
            items,
        )
    finally:
        await connection.close()
    t = time.perf_counter()
    got = 0
    stream = subscribe(url, BATCHED, {"after": cursors.encode("annotation", start_id), "s": sound})
    async for data in stream:
        got += len(data["annotationsCreated"])
        if got >= items:
            break
    await stream.aclose()
    return items / (time.perf_counter() - t)


async def _scans(database_url: str) -> int:
    """Index plus sequential scans of the annotations table so far (all backends, flushed)."""
    await asyncio.sleep(1.5)  # backends flush their statistics at most once a second
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
    before = await _scans(database_url)
    latencies = await live_latency(
        urls, token, sound, subscribers=subscribers, seconds=seconds, rate=rate
    )
    scans = await _scans(database_url) - before
    commits = -(-int(seconds * rate) // max(1, rate // 10)) + 1  # batches, plus the seed
    return latencies, scans / commits


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if len(values) > 1
        else values[0]
    )


async def _run(args: argparse.Namespace, db_url: str, urls: list[str]) -> Table:
    async with httpx.AsyncClient(timeout=60) as http:
        token, sound = await _setup(http, urls[0])
    latencies, per_commit = await reads_per_commit(
        urls,
        db_url,
        token,
        sound,
        subscribers=args.subscribers,
        seconds=args.seconds,
        rate=args.rate,
    )
    few = max(1, args.subscribers // 10)
    _, few_per_commit = await reads_per_commit(
        urls, db_url, token, sound, subscribers=few, seconds=args.seconds / 2, rate=args.rate
    )
    replay_rate, raw_rate = await replay(urls[1], db_url, token, sound, items=args.replay)
    batched_rate = await replay_batched(urls[1], db_url, sound, items=args.replay)
    table = Table(title="Streams")
    for column in ("figure", "value", "limit", "ratio"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    table.add_row(f"live latency p50, {args.subscribers} subscribers", f"{p50:.1f} ms", "", "")
    table.add_row(f"live latency p99 ({len(latencies):,} deliveries)", f"{p99:.1f} ms", "", "")
    table.add_row(
        f"database reads per commit, {args.subscribers} subscribers",
        f"{per_commit:.1f}",
        f"{few_per_commit:.1f} ({few} subscribers)",
        f"{per_commit / few_per_commit:.2f}",
    )
    table.add_row(
        f"replay of {args.replay:,} items (items/s)",
        f"{replay_rate:,.0f}",
        f"{raw_rate:,.0f} (asyncpg keyset)",
        f"{replay_rate / raw_rate:.2f}",
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
