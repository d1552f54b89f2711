"""How fast annotations get in through the API, next to how fast PostgreSQL takes them raw.

    python -m bench.ingest [--annotations N] [--batch 1000 5000] [--writers K]
                           [--api-processes 1 2] [--rounds 3]

For each batch size: N annotations through `createAnnotations` by one writer, then by K
concurrent writers (each its own featurebot), over real HTTP to the API in its own processes
(the K-writer figures once per `--api-processes` count, each row saying which), after one
untimed batch per writer. `COCHLEA_FAST_BATCHES=false` in the environment measures
the API without its batch fast lane (`api.graphql.fastlane`).
Every write of a kind passes the commit slot (`api.services.streams`), so writers serialize
on it; the K-writer figure shows what parallelism that leaves. The "limit" beside each figure
is asyncpg's binary COPY of as many equivalent rows, in chunks of the same size, by as many
connections, into the same `annotations` table in the same run: what PostgreSQL itself can
ingest with no API, no validation and no ordering guarantee. Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from api.db.engine import libpq_url
from api.services import ids
from bench.services import api_process, database

SOUND_SECONDS = 180.0
SOUNDS = 50
CREATE_USER = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id } apiKey userErrors { code message } } }"""
CREATE_SOUNDS = """mutation($input: [SoundInput!]!) {
  createSounds(input: $input) { sounds { id } userErrors { index code message } } }"""
CREATE_ANNOTATIONS = """mutation($input: [AnnotationInput!]!) {
  createAnnotations(input: $input) { annotations { id } userErrors { index code message } } }"""
COLUMNS = (
    "id, created_at, created_by, sound_id, key, start_seconds, duration_seconds, end_seconds, "
    "tags, tags_lc, data_url, metadata"
).split(", ")


def annotation(sounds: list[str], i: int) -> dict[str, Any]:
    """Input `i`: alternately a featurebot's feature array and a human's tagged segment."""
    sound = sounds[i % len(sounds)]
    start = float(i % 170)
    if i % 2 == 0:
        frames = 431
        return {
            "sound": sound,
            "startSeconds": start,
            "durationSeconds": 10.0,
            "dataUrl": f"https://data.example.org/mel/{sound}/{i}.npy",
            "metadata": {
                "dtype": "float32",
                "shape": [frames, 128],
                "axes": ["time", "mel"],
                "frameRate": frames / 10.0,
                "sampleRate": 22050,
                "hopLength": 512,
                "model": "log-mel-128",
            },
        }
    return {
        "sound": sound,
        "startSeconds": start + 0.25,
        "durationSeconds": 2.5,
        "tags": ["Turdus merula", "song", "dawn chorus"][: 1 + i % 3],
    }


def copy_record(item: dict[str, Any], creator: uuid.UUID, id_: uuid.UUID) -> tuple[Any, ...]:
    """The row the API would store for `item`, in `COLUMNS` order."""
    tags = item.get("tags") or []
    start, duration = item["startSeconds"], item["durationSeconds"]
    metadata = item.get("metadata")
    return (
        id_,
        datetime.now(UTC),
        creator,
        uuid.UUID(item["sound"]),
        None,
        start,
        duration,
        start + duration,
        tags,
        [t.lower() for t in tags],
        item.get("dataUrl"),
        None if metadata is None else json.dumps(metadata),
    )


class Client:
    """GraphQL over one keep-alive HTTP connection pool; bodies are encoded before timing."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url

    @staticmethod
    def body(query: str, variables: dict[str, Any]) -> bytes:
        return json.dumps({"query": query, "variables": variables}).encode()

    async def post(self, body: bytes, token: str | None = None) -> dict[str, Any]:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        response = await self.http.post(self.url, content=body, headers=headers)
        data = response.json()
        if response.status_code != 200 or data.get("errors"):
            raise RuntimeError(f"the API refused a request: {str(data)[:500]}")
        payload = next(iter(data["data"].values()))
        if payload.get("userErrors"):
            raise RuntimeError(f"the API refused an input: {payload['userErrors'][:3]}")
        return payload

    async def user(self, name: str, type_: str) -> tuple[uuid.UUID, str]:
        new = {"name": name, "type": type_, "aboutMe": f"ingest benchmark {type_.lower()}"}
        payload = await self.post(self.body(CREATE_USER, {"input": new}))
        return uuid.UUID(payload["user"]["id"]), payload["apiKey"]


async def timed(run: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


async def through_api(
    client: Client, tokens: list[str], sounds: list[str], total: int, batch: int
) -> float:
    """Seconds for len(tokens) concurrent writers to create `total` annotations in batches."""
    share = total // len(tokens)
    bodies = [
        [
            Client.body(CREATE_ANNOTATIONS, {"input": [annotation(sounds, i) for i in range(n)]})
            for n in [min(batch, share - s) for s in range(0, share, batch)]
        ]
        for _ in tokens
    ]

    async def writer(token: str, mine: list[bytes]) -> None:
        for body in mine:
            await client.post(body, token)

    async def run() -> None:
        await asyncio.gather(*(writer(t, b) for t, b in zip(tokens, bodies, strict=True)))

    return await timed(run)


async def raw_copy(
    url: str, creators: list[uuid.UUID], sounds: list[str], total: int, batch: int
) -> float:
    """Seconds for len(creators) connections to COPY `total` equivalent rows, one transaction
    per chunk of `batch` rows; the rows are deleted afterwards (they skipped the commit slot)."""
    share = total // len(creators)
    chunks = [
        [
            [copy_record(annotation(sounds, i), creator, next_id) for i, next_id in enumerate(ids_)]
            for ids_ in [ids.mint(count=min(batch, share - s)) for s in range(0, share, batch)]
        ]
        for creator in creators
    ]
    connections = [await asyncpg.connect(url) for _ in creators]

    async def copier(connection: asyncpg.Connection, mine: list[list[tuple[Any, ...]]]) -> None:
        for records in mine:
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "annotations", records=records, columns=COLUMNS
                )

    async def run() -> None:
        await asyncio.gather(*(copier(c, m) for c, m in zip(connections, chunks, strict=True)))

    try:
        return await timed(run)
    finally:
        copied = [r[0] for mine in chunks for records in mine for r in records]
        await connections[0].execute("DELETE FROM annotations WHERE id = ANY($1)", copied)
        for connection in connections:
            await connection.close()


Row = tuple[str, float, float]


async def measure(
    database_url: str, api_urls: str | dict[int, str], args: argparse.Namespace
) -> list[Row]:
    """Create the users and sounds, then every figure: (name, API rate, raw COPY rate).
    `api_urls`: process count -> API URL (a bare URL: 1). One writer uses the fewest
    processes, K writers each count. A figure is the median of `args.rounds` (default 1)
    rounds of the API's run then COPY's, so both see the same moments of a varying load."""
    if isinstance(api_urls, str):
        api_urls = {1: api_urls}
    rounds = getattr(args, "rounds", 1)
    run_id = uuid.uuid4().hex[:8]
    limits = httpx.Limits(
        max_connections=args.writers + 2, max_keepalive_connections=args.writers + 2
    )
    first = min(api_urls)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        client = Client(http, api_urls[first])
        _, dataset_key = await client.user(f"bench-{run_id}-dataset", "DATASET")
        inputs = [
            {
                "title": f"Dawn chorus {i}",
                "audioUrl": f"https://audio.example.org/{run_id}/{i}.flac",
                "license": "CC_BY",
                "durationSeconds": SOUND_SECONDS,
                "tags": ["field recording", "birds"],
            }
            for i in range(SOUNDS)
        ]
        made = await client.post(Client.body(CREATE_SOUNDS, {"input": inputs}), dataset_key)
        sounds = [s["id"] for s in made["sounds"]]
        bots = [
            await client.user(f"bench-{run_id}-bot{k}", "FEATUREBOT") for k in range(args.writers)
        ]
        raw_url = libpq_url(database_url)
        clients = {n: Client(http, url) for n, url in api_urls.items()}
        for api in clients.values():  # untimed: one-time costs (parses, statement
            # preparation, COPY's column look-up, lazy imports) stay off the first figure
            await through_api(api, [t for _, t in bots], sounds, len(bots) * 1000, 1000)
        rows = []
        for batch in args.batch:
            for writers in sorted({1, args.writers}):
                chosen, total = bots[:writers], args.annotations // writers * writers
                for processes in [first] if writers == 1 else sorted(clients):
                    rates = []
                    for _ in range(rounds):
                        tokens, creators = [t for _, t in chosen], [c for c, _ in chosen]
                        took = await through_api(clients[processes], tokens, sounds, total, batch)
                        raw = await raw_copy(raw_url, creators, sounds, total, batch)
                        rates.append((total / took, total / raw))
                    name = f"{writers} writer(s), batch {batch:,}, API on {processes} process"
                    name += "es" if processes > 1 else ""
                    median = statistics.median
                    rows.append((name, median(r[0] for r in rates), median(r[1] for r in rates)))
        return rows


def report(rows: list[Row], args: argparse.Namespace, embedded: bool) -> None:
    table = Table(
        title=f"Annotation ingest, {args.annotations:,} per figure (annotations/s, "
        f"median of {args.rounds} rounds)"
    )
    for name in ("figure", "value (API)", "limit (raw COPY)", "ratio"):
        table.add_column(name, justify="left" if name == "figure" else "right")
    for figure, value, limit in rows:
        table.add_row(figure, f"{value:,.0f}", f"{limit:,.0f}", f"{value / limit:.2f}")
    console = Console(width=max(Console().width, 110))
    console.print(table)
    where = "embedded PostgreSQL" if embedded else "COCHLEA_DATABASE_URL"
    console.print(
        f"API: uvicorn on loopback; database: {where}; {os.cpu_count()} CPUs shared by client, "
        "API and PostgreSQL. The limit of a K-writer figure is K connections' COPY."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--annotations", type=int, default=40_000, help="per figure")
    parser.add_argument("--batch", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--writers", type=int, default=4, help="concurrent writers")
    parser.add_argument("--api-processes", type=int, nargs="+", default=[1, 2],
                        help="worker processes, one API per count (deployed: 2)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (median)")
    args = parser.parse_args()
    if args.writers < 1 or args.annotations < args.writers or min(args.batch) < 1:
        parser.error("need --writers >= 1, --annotations >= --writers and --batch >= 1")
    if max(args.batch) > 5000:
        parser.error("the API takes at most 5,000 annotations per batch")
    if args.rounds < 1 or min(args.api_processes) < 1:
        parser.error("need --rounds >= 1 and --api-processes >= 1")
    with contextlib.ExitStack() as stack:
        url, embedded = stack.enter_context(database())
        api_urls = {
            n: stack.enter_context(api_process(url, pool_size=args.writers + 2, processes=n))
            for n in sorted(set(args.api_processes))
        }
        rows = asyncio.run(measure(url, api_urls, args))
    report(rows, args, embedded)


if __name__ == "__main__":
    main()
