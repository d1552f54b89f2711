"""A soak: mixed reads, writes and subscriptions against one API process for a while, with the
process's memory and connections sampled at the start, the middle and the end. Flat figures
mean nothing leaks (pool connections, sockets, subscriptions, caches).

    python -m bench.soak [--seconds 60]

Load: 4 readers paging annotations and sounds, 2 writers sending createAnnotations batches of
20, and 8 subscribers following annotationCreated (each reconnects every 10 s, so
subscriptions come and go). Sampled: the API's resident memory (RSS) and open file
descriptors, summed over `cochlea serve` and any worker processes, and its sessions in
PostgreSQL (`pg_stat_activity`, application_name cochlea-api). The rate limits are switched
off for the run: the soak measures leaks, not the limiter. Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import psutil

from api.db.engine import libpq_url
from bench.data import scratch_database
from bench.services import api_process
from workers.sdk.graphql_ws import subscribe

USER = "mutation($i: CreateUserInput!) { createUser(input: $i) { apiKey } }"
SOUNDS = "mutation($i: [SoundInput!]!) { createSounds(input: $i) { sounds { id } } }"
WRITE = "mutation($i: [AnnotationInput!]!) { createAnnotations(input: $i) { annotations { id } } }"
READS = (
    """query($s: ID!, $after: String) { annotations(filter: {sound: $s}, first: 50, after: $after)
      { edges { node { id startSeconds tags } } pageInfo { endCursor } } }""",
    "query { sounds(order: DESC, first: 20) { edges { node { id title tags } } } }",
)
FOLLOW = (
    """subscription($s: ID!) { annotationCreated(filter: {sound: $s}) { cursor node { id } } }"""
)
NO_LIMITS = {"COCHLEA_RATE_LIMIT_ANON_POINTS": "0", "COCHLEA_RATE_LIMIT_KEY_POINTS": "0"}


@dataclass(frozen=True)
class Sample:
    at: float
    rss_mb: float
    fds: int
    pg_sessions: int


def _api_process(port: str) -> psutil.Process:
    """The `cochlea serve` process of this run serving `port` (its workers are its children)."""
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            line = child.cmdline()
            if "api.cli" in line and "serve" in line and port in line:
                return child
    raise RuntimeError(f"no API process on port {port}")


def _tree(process: psutil.Process) -> list[psutil.Process]:
    """The serving process and its workers as they are now (a dead worker is replaced)."""
    with contextlib.suppress(psutil.Error):
        return [process, *process.children(recursive=True)]
    return [process]


def _total(processes: list[psutil.Process], measure: Callable[[psutil.Process], float]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += measure(process)
    return total


async def sample(process: psutil.Process, database_url: str, started: float) -> Sample:
    tree = _tree(process)
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        sessions = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cochlea-api'"
        )
    finally:
        await connection.close()
    return Sample(
        at=time.perf_counter() - started,
        rss_mb=_total(tree, lambda p: p.memory_info().rss) / 2**20,
        fds=int(_total(tree, lambda p: p.num_fds())),
        pg_sessions=int(sessions),
    )


async def _post(http: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any],
                token: str | None = None) -> Any:  # fmt: skip
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(url, json={"query": query, "variables": variables}, headers=headers)
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"][0].get("extensions", {}).get("code", "?"))
    return body["data"]


async def soak(url: str, database_url: str, seconds: float) -> tuple[list[Sample], Counter[str]]:
    counts: Counter[str] = Counter()
    process = _api_process(url.split(":")[-1].split("/")[0])
    async with httpx.AsyncClient(timeout=60) as http:
        made = await _post(
            http,
            url,
            USER,
            {"i": {"name": f"soak-{os.getpid()}", "type": "DATASET", "aboutMe": "soak bench"}},
        )
        token = made["createUser"]["apiKey"]
        audio = {"title": "soak", "license": "CC_BY", "durationSeconds": 600.0, "tags": ["soak"]}
        inputs = [audio | {"audioUrl": f"http://127.0.0.1:9/soak-{n}.wav"} for n in range(2)]
        created = await _post(http, url, SOUNDS, {"i": inputs}, token)
        sounds = [sound["id"] for sound in created["createSounds"]["sounds"]]
        started = time.perf_counter()
        until = started + seconds
        samples = [await sample(process, database_url, started)]

        async def reader(n: int) -> None:
            after: str | None = None
            while time.perf_counter() < until:
                try:
                    if n % 2:
                        await _post(http, url, READS[1], {})
                    else:
                        data = await _post(http, url, READS[0], {"s": sounds[0], "after": after})
                        after = data["annotations"]["pageInfo"]["endCursor"] or None
                    counts["reads"] += 1
                except (RuntimeError, httpx.HTTPError):
                    counts["errors"] += 1

        async def writer(n: int) -> None:
            while time.perf_counter() < until:
                batch = [
                    {"sound": sounds[i % 2], "startSeconds": float(i), "durationSeconds": 1.0,
                     "tags": [f"w{n}"]}
                    for i in range(20)
                ]  # fmt: skip
                try:
                    await _post(http, url, WRITE, {"i": batch}, token)
                    counts["writes"] += 1
                except (RuntimeError, httpx.HTTPError):
                    counts["errors"] += 1
                await asyncio.sleep(0.05)

        async def subscriber(n: int) -> None:
            while time.perf_counter() < until:
                stream = subscribe(url, FOLLOW, {"s": sounds[n % 2]})
                try:
                    async with asyncio.timeout(min(10.0, max(0.1, until - time.perf_counter()))):
                        async for _ in stream:
                            counts["deliveries"] += 1
                except TimeoutError:
                    counts["resubscriptions"] += 1
                except Exception:
                    counts["errors"] += 1
                finally:
                    await stream.aclose()

        async def sampler() -> None:
            await asyncio.sleep(seconds / 2)
            samples.append(await sample(process, database_url, started))

        await asyncio.gather(
            *(reader(n) for n in range(4)),
            *(writer(n) for n in range(2)),
            *(subscriber(n) for n in range(8)),
            sampler(),
        )
        await asyncio.sleep(1.0)  # let closed sockets and returned connections settle
        samples.append(await sample(process, database_url, started))
    return samples, counts


def measure(database_url: str, seconds: float) -> tuple[list[Sample], Counter[str]]:
    saved = {key: os.environ.get(key) for key in NO_LIMITS}
    os.environ.update(NO_LIMITS)
    try:
        with api_process(database_url) as url:
            return asyncio.run(soak(url, database_url, seconds))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def rows(samples: list[Sample], counts: Counter[str], seconds: float) -> list[tuple[str, str]]:
    def series(pick: str, unit: str = "") -> str:
        values = [getattr(s, pick) for s in samples]
        shown = [f"{v:,.1f}" if isinstance(v, float) else f"{v:,}" for v in values]
        return " | ".join(shown) + unit

    load = ", ".join(f"{counts[k]:,} {k}" for k in ("reads", "writes", "deliveries", "errors"))
    at = " | ".join(f"{s.at:.0f} s" for s in samples)
    return [
        (f"soak {seconds:g} s ({load}): API RSS at {at}", series("rss_mb", " MB")),
        (f"soak {seconds:g} s: API open file descriptors at {at}", series("fds")),
        (f"soak {seconds:g} s: API sessions in pg_stat_activity at {at}", series("pg_sessions")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with scratch_database() as (url, where):
        samples, counts = measure(url, args.seconds)
    for figure, value in rows(samples, counts, args.seconds):
        print(f"{figure}: {value}")
    print(f"({where}; {dict(counts)})")


if __name__ == "__main__":
    main()
