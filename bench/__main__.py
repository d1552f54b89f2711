"""`make bench`: every benchmark in one run, printed as one table of figure, limit and ratio.

    python -m bench [--quick | --full] [--markdown FILE]

--quick (default, 1 to 2 minutes): 1,000 sounds and 50,000 annotations, 1 s per read figure.
--full (about 7 minutes on 2 cores): 10,000 sounds and 1,000,000 annotations, 8 s per figure.

The run gets a database of its own: with `COCHLEA_DATABASE_URL` set, a scratch database
created on that server and dropped afterwards (figures depend on table sizes, and a user's
database should not grow by a million rows per run); otherwise an embedded PostgreSQL.
Order: build the data set through the API, reads (API with 2 then 1 process, asyncpg floor,
PostGraphile peer), ingest, streams, featurebots, datasets, similarity, search, limits, commit
slot, soak.
Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench import data, ingest, peer, reads, streams, wsfloor
from bench.services import api_process, redis

Row = tuple[str, str, str, str, str, str]  # figure, Cochlea, limit, ratio, peer, vs peer
COLUMNS = ("figure", "Cochlea", "limit (same work)", "÷ limit", "peer: PostGraphile 4", "÷ peer")


@dataclass(frozen=True)
class Mode:
    name: str
    sizes: data.Sizes
    load: reads.Load
    ingest_annotations: int
    ingest_writers: int
    stream_seconds: float
    replay: int


QUICK = Mode(
    "quick", data.Sizes(1_000, 50_000), reads.Load(seconds=1.0, warmup=0.3), 10_000, 2, 3, 5_000
)
FULL = Mode(
    "full",
    data.Sizes(10_000, 1_000_000),
    reads.Load(seconds=8.0, warmup=1.0),
    40_000,
    4,
    10,
    20_000,
)


def _rate(figure: dict[str, Any]) -> str:
    failed = f", {figure['failures']} failed" if figure.get("failures") else ""
    return f"{figure['rps']:,.0f}/s · {figure['p50_ms']:.1f} | {figure['p99_ms']:.1f} ms{failed}"


def _row(figure: str, value: str, limit: str = "", ratio: str = "") -> Row:
    return (figure, value, limit, ratio, "", "")


def _api(processes: int) -> str:
    return "API on 1 process" if processes == 1 else f"API on {processes} processes"


def _ratio(a: float, b: float) -> str:
    """Two decimals, or two significant digits below 0.1 (so 0.004 does not print as 0.00)."""
    if not b:
        return "—"
    return f"{a / b:.2f}" if a / b >= 0.1 else f"{a / b:.2g}"


def read_rows(found: dict[str, Any], targets: reads.Targets) -> list[Row]:
    """Rows for every read query: API with 1 and 2 processes beside the floor and the peer."""
    rows: list[Row] = []
    peer_found = found.get("peer")
    for q in reads.QUERIES:
        floor = found["floor"][q.key]
        label = f"({q.key}) {q.title}" + (
            f" ['{targets.tag}': {targets.tag_count:,}]" if q.vary == "tag" else ""
        )
        for processes in (1, 2):
            api = found[f"api{processes}"][q.key]
            peer_cells = ("", "")
            if isinstance(peer_found, dict):
                other = peer_found[q.key]
                same = "" if other["edges"] == api["edges"] else f" (≠ rows: {other['edges']})"
                peer_cells = (_rate(other) + same, _ratio(api["rps"], other["rps"]))
            elif processes == 1:
                peer_cells = (f"not run: {peer_found}", "")
            rows.append(
                (
                    f"{label}, {api['edges']} rows, {_api(processes)}",
                    _rate(api),
                    _rate(floor) + " asyncpg",
                    _ratio(api["rps"], floor["rps"]),
                    *peer_cells,
                )
            )
    alike = "rows of the same shape" if targets.deep_alike else "rows of other shapes"
    for where in ("api1", "api2", "floor"):  # the goal: a deep page within 1.2 times
        first, deep = (found[where][k] for k in ("d0", "d"))  # the first's latency
        p50, p99 = (deep[f"{q}_ms"] / first[f"{q}_ms"] for q in ("p50", "p99"))
        side = _api(int(where[-1])) if where != "floor" else "the same SQL through asyncpg"
        label = f"(d) ÷ (d0): deep page latency ÷ first page latency ({alike}), {side}"
        rows.append(_row(label, f"p50 {p50:.2f} · p99 {p99:.2f}"))
    for processes in (1, 2):
        health = found[f"api{processes}"]["health"]
        rows.append(_row(f"GET /healthz (no GraphQL, no SQL), {_api(processes)}", _rate(health)))
    return rows


def render(rows: list[Row], title: str, notes: list[str] | None = None, markdown: str = "") -> None:
    width = None if sys.stdout.isatty() else 220
    console = Console(width=width)
    table = Table(title=title)
    for name in COLUMNS:
        table.add_column(
            name, justify="left" if name in ("figure", "peer: PostGraphile 4") else "right"
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for note in notes or []:
        console.print(note)
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
        ]
        with open(markdown, "w") as out:
            out.write("\n".join(lines + [""] + [f"- {n}" for n in notes or []]) + "\n")


def run_reads(url: str, mode: Mode) -> tuple[list[Row], data.Generated, reads.Targets]:
    found: dict[str, Any] = {}
    with api_process(url, processes=2) as api_url:
        made = asyncio.run(data.generate(api_url, mode.sizes))
        asyncio.run(data.settle(url))
        targets = asyncio.run(reads.find_targets(url))
        plans = asyncio.run(reads.captured_sql(url, targets))
        found["api2"] = reads.measure_http(api_url, targets, mode.load)
    with api_process(url, processes=1) as api_url:
        found["api1"] = reads.measure_http(api_url, targets, mode.load)
    found["floor"] = reads.measure_floor(url, plans, mode.load)
    try:
        with peer.peer_process(url) as peer_url:
            found["peer"] = reads.measure_http(peer_url, targets, mode.load, as_peer=True)
    except (peer.PeerUnavailable, RuntimeError) as error:
        found["peer"] = str(error)[:200]
    return read_rows(found, targets), made, targets


def run_ingest(url: str, mode: Mode, made: data.Generated) -> list[Row]:
    """bench.ingest's figures, then the data set's own build beside the fastest raw COPY."""
    args = argparse.Namespace(
        annotations=mode.ingest_annotations,
        batch=[1000, 5000],
        writers=mode.ingest_writers,
        rounds=3 if mode.name == "full" else 1,
    )
    pool = args.writers + 2
    with (
        api_process(url, pool_size=pool) as one,
        api_process(url, pool_size=pool, processes=2) as two,
    ):
        measured = asyncio.run(ingest.measure(url, {1: one, 2: two}, args))
    rows = [
        _row(f"ingest: createAnnotations, {name} (annotations/s)", f"{api:,.0f}/s",
             f"{raw:,.0f}/s asyncpg COPY", _ratio(api, raw))
        for name, api, raw in measured
    ]  # fmt: skip
    best, rate = max(raw for _, _, raw in measured), made.annotations_per_second
    build = f"{made.sounds:,} sounds, {made.annotations:,} annotations, {mode.sizes.writers} "
    build += f"writers, API on 2 processes ({made.annotation_seconds:.1f} s)"
    limit = f"{best:,.0f}/s asyncpg COPY (best above)"
    return [*rows, _row(f"data set build: {build}", f"{rate:,.0f}/s", limit, _ratio(rate, best))]


STREAM_SUBSCRIBERS = [10, 100, 1000]


async def _streams(
    url: str, urls: list[str], floor_url: str, mode: Mode
) -> tuple[list[tuple[int, list[float], float]], float, float, float, float]:
    async with httpx.AsyncClient(timeout=60) as http:
        token, sound = await streams._setup(http, urls[0])
    live = await streams.live_figures(
        urls, url, token, sound, counts=STREAM_SUBSCRIBERS, seconds=mode.stream_seconds
    )
    rate, batched, raw = await streams.replays(urls[1], url, token, sound, items=mode.replay)
    floor = await wsfloor.best_rate(floor_url, items=mode.replay)
    return live, rate, batched, raw, floor


def run_streams(url: str, mode: Mode) -> list[Row]:
    with redis() as redis_url, wsfloor.floor_server() as floor_url:
        with (
            api_process(url, redis_url=redis_url) as one,
            api_process(url, redis_url=redis_url) as two,
        ):
            live, rate, batched, raw, floor = asyncio.run(
                _streams(url, [one, two], floor_url, mode)
            )
    rows = []
    for count, latencies, _ in live:
        p50, p99 = (streams.percentile(latencies, q) * 1000 for q in (50, 99))
        rows.append(
            _row(
                f"streams: commit-to-receipt, {count:,} subscribers, 50/s "
                f"({len(latencies):,} deliveries)",
                f"p50 {p50:.1f} | p99 {p99:.1f} ms",
            )
        )
    scans = " · ".join(f"{count:,}: {per_commit:.2f}" for count, _, per_commit in live)
    return [
        *rows,
        _row("streams: annotations-table scans per commit, by subscribers", scans),
        _row(f"streams: replay of {mode.replay:,} items (items/s)", f"{rate:,.0f}/s",
             f"{raw:,.0f}/s asyncpg keyset", _ratio(rate, raw)),
        _row(f"streams: replay of {mode.replay:,} items, one message each (items/s)",
             f"{rate:,.0f}/s", f"{floor:,.0f}/s, one Starlette send each", _ratio(rate, floor)),
        _row(f"streams: batched replay of {mode.replay:,} items (items/s)", f"{batched:,.0f}/s",
             f"{raw:,.0f}/s asyncpg keyset", _ratio(batched, raw)),
    ]  # fmt: skip


def run_featurebots(url: str, mode: Mode) -> list[Row]:
    """bench/featurebots.py's figures (real-time factor vs bare librosa) on 10 s and 300 s
    sounds (quick: 10 s only), if it is there, with as many jobs in flight as a worker runs
    (`WorkerOptions.max_jobs`, as `python -m bench.featurebots` does)."""
    try:
        from bench import featurebots
        from workers.arq_settings import WorkerOptions

        lengths = [10.0] if mode.name == "quick" else [10.0, 300.0]
        args = argparse.Namespace(seconds=lengths, processes=1)
        args.in_flight = WorkerOptions().max_jobs
        args.repeats = 1 if mode.name == "quick" else 3
        with tempfile.TemporaryDirectory(prefix="cochlea-bench-bots-") as tmp:
            with featurebots.api(url, Path(tmp)) as base:
                found = asyncio.run(featurebots.measure(base, Path(tmp), args))
    except Exception as error:  # another engineer's module, still moving: report, don't crash
        why = "bench/featurebots.py is not there" if isinstance(error, ImportError) else error
        return [_row("featurebots: real-time factor", f"not run: {why}")]
    rows: list[Row] = []
    for seconds, times in found.items():
        count = featurebots.batch_size(seconds)
        for bot, (e2e, bare) in featurebots.ratios(seconds, times).items():
            rows.append(
                _row(f"featurebots: {bot}, {count} x {seconds:g} s sounds, real-time factor",
                     f"{e2e:,.0f}x", f"{bare:,.0f}x bare librosa", _ratio(e2e, bare))
            )  # fmt: skip
    return rows


def run_datasets(url: str, mode: Mode) -> list[Row]:
    """bench/datasets.py: `cochlea import nsynth` of 10,000 notes beside createAnnotations."""
    from bench import datasets

    found = datasets.measure(url, 10_000)
    rate, ceiling = found["resources_per_second"], found["ceiling_per_second"]
    return [
        _row(f"datasets: import nsynth, {found['notes']:,.0f} notes, 1 sound + 1 annotation "
             f"each ({found['import_seconds']:.1f} s; resources/s)",
             f"{rate:,.0f}/s ({found['notes_per_second']:,.0f} notes/s)",
             f"{ceiling:,.0f}/s bare createAnnotations", _ratio(rate, ceiling)),
    ]  # fmt: skip


def run_similarity(url: str, mode: Mode) -> list[Row]:
    """bench/similarity.py: recall, latency, indexing rate and label precision, side by side."""
    from bench import similarity

    found = similarity.measure(full=mode.name == "full")
    return [_row(*row) for row in similarity.rows(found)]


def run_limits(url: str) -> list[Row]:
    """bench/limits.py: the issue-9 query refused or timed out, and what the limits cost."""
    from bench import limits

    return [_row(*row) for row in limits.rows(limits.measure(url))]


def run_commit_slot(url: str) -> list[Row]:
    """bench/commit_slot.py: single-row commits through the commit slot, 1 and 4 writers."""
    from bench import commit_slot

    return [_row(*row) for row in commit_slot.rows(commit_slot.measure(url))]


def run_soak(url: str, mode: Mode) -> list[Row]:
    """bench/soak.py: memory, descriptors and PostgreSQL sessions of one API under mixed load."""
    from bench import soak

    seconds = 60.0 if mode.name == "quick" else 180.0
    return [_row(*row) for row in soak.rows(*soak.measure(url, seconds), seconds)]


def run_search(mode: Mode) -> list[Row]:
    """bench/search.py: the search aggregator's indexing rate and query latency, with floors."""
    from bench import search

    return [_row(*row) for row in search.rows(search.measure(full=mode.name == "full"))]


def guarded(name: str, run: Callable[[], list[Row]]) -> list[Row]:
    """A section's rows, or one row saying why it could not run (the table still prints)."""
    try:
        return run()
    except Exception as error:
        return [_row(f"{name}: not run", f"{type(error).__name__}: {error}"[:160])]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="1 to 2 minutes (default)")
    group.add_argument("--full", action="store_true", help="about 7 minutes, 1M annotations")
    parser.add_argument("--markdown", default="", help="also write the table here as Markdown")
    args = parser.parse_args()
    mode = FULL if args.full else QUICK
    took: list[str] = []
    loads = [os.getloadavg()[0]]

    def section(name: str, started: float) -> None:
        took.append(f"{name} {time.perf_counter() - started:.0f} s")
        loads.append(os.getloadavg()[0])

    with data.scratch_database() as (url, where):
        started = time.perf_counter()
        rows, made, targets = run_reads(url, mode)
        section("data + reads", started)
        later: list[tuple[str, Callable[[], list[Row]]]] = [
            ("ingest", lambda: run_ingest(url, mode, made)),
            ("streams", lambda: run_streams(url, mode)),
            ("featurebots", lambda: run_featurebots(url, mode)),
            ("datasets", lambda: run_datasets(url, mode)),
            ("similarity", lambda: run_similarity(url, mode)),
            ("search", lambda: run_search(mode)),
            ("limits", lambda: run_limits(url)),
            ("commit slot", lambda: run_commit_slot(url)),
            ("soak", lambda: run_soak(url, mode)),
        ]
        for name, run in later:
            started = time.perf_counter()
            rows += guarded(name, run)
            section(name, started)
    notes = [
        f"{mode.name} run; database: {where}; {targets.annotations:,} annotations at read time.",
        f"Reads: {mode.load.concurrency} closed-loop keep-alive clients from a separate process "
        f"(bench.loadgen), {mode.load.seconds:g} s per figure after {mode.load.warmup:g} s of "
        "warm-up; value = requests/s · p50 | p99 latency. Floor = the SQL Cochlea issued, "
        "through asyncpg, same client count. Peer: 2 cluster workers.",
        f"{os.cpu_count()} CPUs shared by load generator, API, PostgreSQL and the peer; "
        f"1-min load average at start and after each section: "
        f"{', '.join(f'{x:.1f}' for x in loads)}. Took: {', '.join(took)}.",
    ]
    render(rows, f"Cochlea benchmark ({mode.name})", notes, args.markdown)


if __name__ == "__main__":
    main()
