"""How fast the common reads are served, next to the same SQL straight through asyncpg (the
floor the API adds its overhead to) and PostGraphile v4 (the peer) on the same database.

    python -m bench.reads [--seconds 3] [--concurrency 16]   (on the data in the database)

Every figure comes from `bench.loadgen` in its own process: `concurrency` closed-loop clients,
keep-alive HTTP/1.1 (or asyncpg connections for the floor), the same rotation of variables
(16 sounds, 16 deep cursors) for every target. The floor's SQL is not written by hand: each
Cochlea query is executed once in-process with a statement listener, and the statements it
issued (page, count, exists) are what the floor replays, in the same order, one connection
per client.

Both servers run the same way: in a session of their own (with the kernel's autogroup
scheduling, on by default in most distributions, CPU time is shared fairly between sessions,
so the load generator's session holds only itself), and with 2 processes each deals
connections to its workers in turn (Node's cluster module; `cochlea serve --workers`,
`api.serving`), so each worker holds 8 of the 16 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from sqlalchemy import event

from api.db.engine import create_engine, libpq_url
from api.services import cursors
from bench import peer

ANNOTATION = "id createdAt startSeconds endSeconds tags dataUrl metadata"
SOUND = "id createdAt title audioUrl license durationSeconds tags"
USER = "id name type"
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
RANGE = "{start: 10, end: 20}"
PEER_RANGE = "startSeconds: {lessThan: 20}, endSeconds: {greaterThan: 10}"
PK = "orderBy: PRIMARY_KEY_ASC"


@dataclass(frozen=True)
class Query:
    key: str
    title: str
    cochlea: str
    peer: str
    vary: str  # which variable rotates: sound, tag, deep, annotation or "" (none)


def _edges(fields: str, extra: str = "") -> str:
    return f"{{ edges {{ cursor node {{ {fields} }} }} {extra} }}"


QUERIES = [
    Query(
        "a",
        "a sound's annotations in [10 s, 20 s]",
        f"query($v: ID!) {{ annotations(filter: {{sound: $v, timeRange: {RANGE}}}, first: 50) "
        f"{_edges(ANNOTATION)} }}",
        f"query($v: UUID!) {{ allAnnotations(condition: {{soundId: $v}}, filter: {{{PEER_RANGE}}}, "
        f"{PK}, first: 50) {_edges(ANNOTATION)} }}",
        "sound",
    ),
    Query(
        "a+",
        "the same, with pageInfo and totalCount",
        f"query($v: ID!) {{ annotations(filter: {{sound: $v, timeRange: {RANGE}}}, first: 50) "
        f"{_edges(ANNOTATION, PAGE_INFO + ' totalCount')} }}",
        f"query($v: UUID!) {{ allAnnotations(condition: {{soundId: $v}}, filter: {{{PEER_RANGE}}}, "
        f"{PK}, first: 50) {_edges(ANNOTATION, PAGE_INFO + ' totalCount')} }}",
        "sound",
    ),
    Query(
        "b",
        "annotations by one tag",
        f"query($v: String!) {{ annotations(filter: {{tags: [$v]}}, first: 50) "
        f"{_edges(ANNOTATION)} }}",
        f"query($v: String!) {{ allAnnotations(filter: {{tagsLc: {{contains: [$v]}}}}, {PK}, "
        f"first: 50) {_edges(ANNOTATION)} }}",
        "tag",
    ),
    Query(
        "c",
        "the newest 50 sounds",
        f"{{ sounds(order: DESC, first: 50) {_edges(SOUND)} }}",
        f"{{ allSounds(orderBy: PRIMARY_KEY_DESC, first: 50) {_edges(SOUND)} }}",
        "",
    ),
    Query(
        "d0",
        "the first page of annotations (no cursor)",
        f"{{ annotations(first: 50) {_edges(ANNOTATION)} }}",
        f"{{ allAnnotations({PK}, first: 50) {_edges(ANNOTATION)} }}",
        "",
    ),
    Query(
        "d",
        "a deep keyset page (after: 90 % in)",
        f"query($v: String!) {{ annotations(first: 50, after: $v) {_edges(ANNOTATION)} }}",
        f"query($v: Cursor!) {{ allAnnotations({PK}, first: 50, after: $v) {_edges(ANNOTATION)} }}",
        "deep",
    ),
    Query(
        "d+",
        "the same, with pageInfo",
        f"query($v: String!) {{ annotations(first: 50, after: $v) "
        f"{_edges(ANNOTATION, PAGE_INFO)} }}",
        f"query($v: Cursor!) {{ allAnnotations({PK}, first: 50, after: $v) "
        f"{_edges(ANNOTATION, PAGE_INFO)} }}",
        "deep",
    ),
    Query(
        "e",
        "50 sounds, each with its first 10 annotations",
        f"{{ sounds(first: 50) {{ edges {{ cursor node {{ {SOUND} "
        f"annotations(first: 10) {_edges(ANNOTATION)} }} }} }} }}",
        f"{{ allSounds({PK}, first: 50) {{ edges {{ cursor node {{ {SOUND} "
        f"annotationsBySoundId({PK}, first: 10) {_edges(ANNOTATION)} }} }} }} }}",
        "",
    ),
    Query(
        "f",
        "node(id:) of an annotation, with its sound and creator",
        f"query($v: ID!) {{ node(id: $v) {{ ... on Annotation {{ {ANNOTATION} "
        f"sound {{ {SOUND} }} createdBy {{ {USER} }} }} }} }}",
        f"query($v: UUID!) {{ annotationById(id: $v) {{ {ANNOTATION} "
        f"soundBySoundId {{ {SOUND} }} userByCreatedBy {{ {USER} }} }} }}",
        "annotation",
    ),
]


@dataclass(frozen=True)
class Targets:
    """What the queries ask about, picked from the data: 16 sounds spread over the sounds
    table, the most used human tag, 16 annotation ids from 90 % of the way into id order."""

    sounds: list[str]
    tag: str
    tag_count: int
    deep: list[str]
    annotations: int
    deep_alike: bool = True
    """Whether the deep pages hold rows of the first page's shape (see `deep_cursors`)."""

    def variables(self, vary: str, *, for_peer: bool = False) -> list[dict[str, Any]]:
        """The rotation of `$v` values for a query (the peer's cursors are its own)."""
        if not vary:
            return [{}]
        deep = [peer.cursor(d) if for_peer else cursors.encode("annotation", uuid.UUID(d))
                for d in self.deep]  # fmt: skip
        values = {"sound": self.sounds, "tag": [self.tag], "deep": deep, "annotation": self.deep}
        return [{"v": v} for v in values[vary]]


PAGE = 50
SHAPE = "(data_url IS NULL, metadata IS NULL, 'onset' = ANY(tags_lc))"
"""What sets a row's size in an answer: a feature array's row carries a data URL and about
150 bytes of metadata, a human tag's neither."""


def deep_cursors(shapes: list[tuple[str, Any]], first: Any, count: int = 16) -> list[str] | None:
    """`count` cursors, a page apart, whose next pages hold only rows of shape `first`, from
    the first such run in `shapes` ((id, shape) in id order, from 90 % in); None if none.

    The data comes in batches of one kind each (a featurebot's windows, a person's tags), so
    a page 90 % in may be all feature arrays while the first page is all tags: comparing the
    two would measure the answers' sizes, not what depth costs.
    """
    need, run = (count + 1) * PAGE, 0
    for i, (_, shape) in enumerate(shapes):
        run = run + 1 if shape == first else 0
        if run == need:
            start = i - need + 1
            return [shapes[start + k * PAGE][0] for k in range(count)]
    return None


async def find_targets(database_url: str) -> Targets:
    """Read the targets off the data (the most used tag costs one scan of the tags)."""
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        sounds = [str(r[0]) for r in await connection.fetch("SELECT id FROM sounds ORDER BY id")]
        total = int(await connection.fetchval("SELECT count(*) FROM annotations"))
        tag, count = await connection.fetchrow(
            "SELECT t, count(*) FROM annotations, unnest(tags_lc) AS t WHERE t <> 'onset' "
            "GROUP BY t ORDER BY count(*) DESC LIMIT 1"
        )
        first = await connection.fetchval(f"SELECT {SHAPE} FROM annotations ORDER BY id LIMIT 1")
        rows = await connection.fetch(
            f"SELECT id, {SHAPE} FROM annotations ORDER BY id OFFSET $1 LIMIT $2",
            total * 9 // 10,
            50_000,
        )
    finally:
        await connection.close()
    shapes = [(str(r[0]), tuple(r[1])) for r in rows]
    alike = deep_cursors(shapes, None if first is None else tuple(first))
    step = max(1, len(sounds) // 16)
    return Targets(
        sounds=sounds[step // 2 :: step][:16],
        tag=tag,
        tag_count=count,
        deep=alike or [s[0] for s in shapes[: 16 * 100 : 100]],
        annotations=total,
        deep_alike=alike is not None,
    )


def bodies(query: str, variables: list[dict[str, Any]]) -> list[str]:
    return [json.dumps({"query": query, "variables": v}) for v in variables]


async def captured_sql(database_url: str, targets: Targets) -> dict[str, list[Any]]:
    """For each query and variant, the statements Cochlea issues: [[sql, params], ...]."""
    from api.graphql.context import make_context
    from api.graphql.schema import schema
    from api.settings import Settings

    engine = create_engine(database_url, pool_size=1)
    seen: list[tuple[str, Any]] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _k, sql, params, *_: seen.append((sql, params)),
    )
    settings = Settings(database_url=database_url)
    # Reads never publish; pass no event hub if this version of the context wants one.
    extra: dict[str, Any] = {}
    if "events" in inspect.signature(make_context).parameters:
        extra["events"] = None
    plans: dict[str, list[Any]] = {}
    try:
        for q in QUERIES:
            plans[q.key] = []
            for variables in targets.variables(q.vary):
                seen.clear()
                context = make_context(
                    engine=engine, settings=settings, authorization=None, **extra
                )
                done = await schema.execute(q.cochlea, variables, context_value=context)
                if done.errors:
                    raise RuntimeError(f"query {q.key} failed in-process: {done.errors}")
                plans[q.key].append([[sql, list(params)] for sql, params in seen])
    finally:
        await engine.dispose()
    return json.loads(json.dumps(plans, default=str))  # UUIDs as text: asyncpg takes either


@dataclass(frozen=True)
class Load:
    concurrency: int = 16
    seconds: float = 3.0
    warmup: float = 0.5
    max_requests: int = 500_000


def run_load(spec: dict[str, Any], load: Load) -> dict[str, Any]:
    """One bounded run of `bench.loadgen` in a child process."""
    spec = {
        **spec,
        "concurrency": load.concurrency,
        "duration": load.seconds,
        "warmup": load.warmup,
        "max_requests": load.max_requests,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=load.seconds + load.warmup + 120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def http_spec(url: str, bodies_: list[str], method: str = "POST") -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "mode": "http",
        "host": parts.hostname,
        "port": parts.port,
        "path": parts.path,
        "method": method,
        "bodies": bodies_,
    }


def check(url: str, text: str, variables: dict[str, Any]) -> int:
    """Run a query once; the number of edges it returned (so peers can be compared), or 1 for
    a single node."""
    answer = httpx.post(url, json={"query": text, "variables": variables}, timeout=60).json()
    if answer.get("errors"):
        raise RuntimeError(f"{url} refused a benchmark query: {answer['errors']}")
    found = next(iter(answer["data"].values()))
    if "edges" not in found:
        return 1
    return len(found["edges"])


def measure_http(
    url: str, targets: Targets, load: Load, *, as_peer: bool = False
) -> dict[str, Any]:
    """Every query against one GraphQL endpoint (Cochlea, or the peer's equivalents)."""
    results: dict[str, Any] = {}
    for q in QUERIES:
        text, variables = (
            (q.peer, targets.variables(q.vary, for_peer=True))
            if as_peer
            else (q.cochlea, targets.variables(q.vary))
        )
        edges = check(url, text, variables[0])
        results[q.key] = {**run_load(http_spec(url, bodies(text, variables)), load), "edges": edges}
    if not as_peer:
        health = url.rsplit("/", 1)[0] + "/healthz"
        results["health"] = run_load(http_spec(health, [""], method="GET"), load)
    return results


def measure_floor(database_url: str, plans: dict[str, list[Any]], load: Load) -> dict[str, Any]:
    dsn = libpq_url(database_url)
    return {
        key: run_load({"mode": "sql", "dsn": dsn, "statements": statements}, load)
        for key, statements in plans.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    from bench.__main__ import read_rows, render
    from bench.services import api_process, database

    load = Load(concurrency=args.concurrency, seconds=args.seconds)
    with database() as (url, _):
        targets = asyncio.run(find_targets(url))
        plans = asyncio.run(captured_sql(url, targets))
        found: dict[str, Any] = {"floor": measure_floor(url, plans, load)}
        for processes in (1, 2):
            with api_process(url, processes=processes) as api_url:
                found[f"api{processes}"] = measure_http(api_url, targets, load)
        try:
            with peer.peer_process(url) as peer_url:
                found["peer"] = measure_http(peer_url, targets, load, as_peer=True)
        except peer.PeerUnavailable as error:
            found["peer"] = str(error)
    render(read_rows(found, targets), f"Reads, {load.concurrency} clients")


if __name__ == "__main__":
    main()
