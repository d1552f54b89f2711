"""Limits: what the issue-9 query costs a server now, and what the limits cost every request.

Three figures, each beside its peer from the same run:
- the refusal of the issue's nested query (QUERY_TOO_COMPLEX) beside the smallest read;
- the same query with the cost limit off: answered TIMEOUT after COCHLEA_REQUEST_TIMEOUT_SECONDS,
  with the latency other clients see meanwhile beside their latency on an idle server;
- a typical read (the README tour's first query) with every limit on (the rate limit in Redis)
  beside an API process with every limit off, requests alternating between the two.

    python -m bench.limits    (alone, on a small data set; `make bench` runs it on its own)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench.services import api_process, redis

ISSUE_QUERY = """{ sounds(first:500){ edges{ node{ annotations(first:500){ edges{ node{ sound{
  annotations(first:500){ edges{ node{ sound { annotations(first:500) {
  edges { node { id tags } } } } } } } } } } } } } } }"""
SMALLEST = "{ sounds(first: 1) { edges { node { id } } } }"
TOUR = """{ sounds(first: 10) { edges { node { id title tags
  annotations(first: 5) { totalCount edges { node { startSeconds tags } } } } } } }"""
OFF = {
    "COCHLEA_MAX_QUERY_COST": "0",
    "COCHLEA_MAX_QUERY_DEPTH": "0",
    "COCHLEA_MAX_ALIASES": "0",
    "COCHLEA_MAX_ROOT_FIELDS": "0",
    "COCHLEA_MAX_DOCUMENT_BYTES": "0",
    "COCHLEA_RATE_LIMIT_ANON_POINTS": "0",
    "COCHLEA_RATE_LIMIT_KEY_POINTS": "0",
    "COCHLEA_REQUEST_TIMEOUT_SECONDS": "0",
    "COCHLEA_MAX_CONNECTIONS_PER_REQUEST": "0",
}
TIMEOUT_SECONDS = 5.0


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`COCHLEA_*` settings for the API processes started inside (they read the environment)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def _post(http: httpx.AsyncClient, url: str, query: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = await http.post(url, json={"query": query})
    return time.perf_counter() - started, answer.json()


async def _medians(http: httpx.AsyncClient, urls: list[str], query: str, n: int) -> list[float]:
    """Median latency of `query` on each URL, requests alternating between them."""
    times: list[list[float]] = [[] for _ in urls]
    for _ in range(n):
        for i, url in enumerate(urls):
            seconds, body = await _post(http, url, query)
            assert not body.get("errors"), body
            times[i].append(seconds)
    return [statistics.median(t) for t in times]


async def _refusal(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        refusals = []
        for _ in range(50):
            seconds, body = await _post(http, url, ISSUE_QUERY)
            refusals.append(seconds)
        [smallest] = await _medians(http, [url], SMALLEST, 50)
    return {
        "refusal": statistics.median(refusals),
        "message": body["errors"][0]["message"].split(" (")[0],
        "smallest": smallest,
    }


async def _timeout(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=120) as http, httpx.AsyncClient(timeout=60) as other:
        [idle] = await _medians(other, [url], TOUR, 20)
        heavy = asyncio.ensure_future(_post(http, url, ISSUE_QUERY))
        meanwhile: list[float] = []
        while not heavy.done():
            seconds, _ = await _post(other, url, TOUR)
            meanwhile.append(seconds)
            await asyncio.sleep(0.05)
        took, body = await heavy
    code = body["errors"][0]["extensions"]["code"] if body.get("errors") else "data"
    return {"took": took, "code": code, "meanwhile": meanwhile, "idle": idle}


def measure(database_url: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with redis() as redis_url:
        with api_process(database_url, redis_url=redis_url) as url:
            found |= asyncio.run(_refusal(url))
        uncapped = {"COCHLEA_MAX_QUERY_COST": "0", "COCHLEA_RATE_LIMIT_ANON_POINTS": "0"}
        uncapped["COCHLEA_REQUEST_TIMEOUT_SECONDS"] = str(TIMEOUT_SECONDS)
        with environment(uncapped), api_process(database_url, redis_url=redis_url) as url:
            found["timeout"] = asyncio.run(_timeout(url))
        with api_process(database_url, redis_url=redis_url) as on:
            with environment(OFF), api_process(database_url, redis_url=redis_url) as off:

                async def typical() -> list[float]:
                    async with httpx.AsyncClient(timeout=60) as http:
                        await _medians(http, [on, off], TOUR, 20)  # warm-up
                        return await _medians(http, [on, off], TOUR, 300)

                found["on"], found["off"] = asyncio.run(typical())
    return found


def rows(found: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, limit, ratio) rows for `make bench`'s table."""
    t = found["timeout"]
    meanwhile = statistics.median(t["meanwhile"]) if t["meanwhile"] else 0.0
    ms = 1000
    return [
        (
            f"limits: issue-9 query refused ({found['message']})",
            f"{found['refusal'] * ms:.1f} ms",
            f"{found['smallest'] * ms:.1f} ms smallest read",
            f"{found['refusal'] / found['smallest']:.2f}",
        ),
        (
            f"limits: issue-9 query, cost limit off: {t['code']} after",
            f"{t['took']:.1f} s",
            f"{TIMEOUT_SECONDS:g} s request timeout",
            f"{t['took'] / TIMEOUT_SECONDS:.2f}",
        ),
        (
            f"limits: tour read by another client meanwhile ({len(t['meanwhile'])} reads, p50)",
            f"{meanwhile * ms:.1f} ms",
            f"{t['idle'] * ms:.1f} ms idle server",
            f"{meanwhile / t['idle']:.2f}" if t["idle"] else "—",
        ),
        (
            "limits: tour read, every limit on (rate limit in Redis), p50",
            f"{found['on'] * ms:.1f} ms",
            f"{found['off'] * ms:.1f} ms every limit off",
            f"{found['on'] / found['off']:.2f}",
        ),
    ]


if __name__ == "__main__":
    from bench import data

    with data.scratch_database() as (url, _):
        with api_process(url) as api_url:  # a small data set of its own
            asyncio.run(data.generate(api_url, data.Sizes(200, 10_000)))
        for row in rows(measure(url)):
            print(" | ".join(row))
