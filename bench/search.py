"""The search aggregator's speed: indexing rate and query latency, each beside its floor.

    python -m bench.search [--full]

- Indexing: synthetic sounds (three-word titles and two tags from a 3,000-word vocabulary,
  creator, metadata) through the aggregator's own path, `sound_doc` then `SearchIndex.commit`
  in batches of 500 with the stream cursor in each commit (as a restart-safe follower does),
  beside the floor: the same documents through tantivy in one commit, with no cursor, tag
  counts or searcher reload. 50,000 sounds (--full: 200,000).
- Queries: p50 / p99 of `SearchAggregator.search` (the resolver's call, highlights included,
  no HTTP) for an exact word, a word with two typos, a prefix, and two words, beside the floor
  of a bare tantivy term query for the same exact word that fetches the same 20 documents.

Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from api.settings import Settings
from workers.aggregators.contract import Context
from workers.aggregators.search.follower import sound_doc
from workers.aggregators.search.index import SearchIndex
from workers.aggregators.search.service import SearchAggregator
from workers.aggregators.skipped import SkipLog

__all__ = ["Figures", "measure", "rows"]

BATCH = 500
QUERIES = {"exact": "violin", "two typos": "vilon", "prefix": "viol", "two words": "violin hall"}


@dataclass(frozen=True)
class Figures:
    sounds: int
    rate: float  # sounds/s, the aggregator's path
    floor_rate: float  # sounds/s, one bare tantivy commit
    p50_ms: dict[str, float]
    p99_ms: dict[str, float]
    floor_p50_ms: float
    floor_p99_ms: float


def _nodes(count: int, rng: random.Random) -> list[dict[str, Any]]:
    syllables = ["ba", "ko", "ri", "tu", "me", "sa", "lo", "ne", "vi", "da", "pe", "gu"]
    vocabulary = {"".join(rng.choices(syllables, k=4)) for _ in range(3_500)}
    words = [*sorted(vocabulary)[:3_000], "violin", "hall", "piano", "rain"]
    creator = {"id": "01a2339c-0d2f-734c-b1e6-56f2fca3484c", "name": "bench", "type": "DATASET"}
    return [
        {
            "id": f"01a2339c-0000-7000-8000-{i:012d}",
            "title": " ".join(rng.choices(words, k=3)),
            "tags": rng.choices(words, k=2),
            "durationSeconds": 10.0,
            "createdBy": creator,
            "metadata": {"take": i % 7, "room": rng.choice(words)},
        }
        for i in range(count)
    ]


def _timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def measure(*, full: bool = False) -> Figures:
    count = 200_000 if full else 50_000
    nodes = _nodes(count, random.Random(3))
    with tempfile.TemporaryDirectory(prefix="cochlea-bench-search-") as tmp:
        started = time.perf_counter()
        floor = SearchIndex(Path(tmp) / "floor")
        writer = floor.writer
        for seq, node in enumerate(nodes):
            writer.add_document(floor._document(sound_doc(node), seq))
        writer.commit()
        floor_rate = count / (time.perf_counter() - started)
        floor.close()

        settings = Settings(data_dir=Path(tmp) / "data")
        aggregator = SearchAggregator()
        state = Path(tmp) / "aggregator"
        aggregator.open(
            Context(name="search", settings=settings, state_dir=state, skips=SkipLog(state / "s"))
        )
        started = time.perf_counter()
        for first in range(0, count, BATCH):
            batch = nodes[first : first + BATCH]
            progress = {"soundCreated": {"cursor": f"c{first}", "seen": first + len(batch)}}
            aggregator.index.commit([sound_doc(n) for n in batch], {"streams": progress})
        rate = count / (time.perf_counter() - started)

        p50: dict[str, float] = {}
        p99: dict[str, float] = {}
        for name, text in QUERIES.items():
            query = functools.partial(
                aggregator.search, text.split(), ["sound", "annotation"], {}, 20, 0
            )
            p50[name], p99[name] = _timed(query, 200)
        index = aggregator.index
        exact = tantivy.Query.term_query(index.schema, "title", "violin")

        def bare() -> object:  # the same 20 stored documents, no fuzziness, no highlights
            searcher = index.searcher
            return [searcher.doc(a) for _, a in searcher.search(exact, limit=20).hits]

        floor_p50, floor_p99 = _timed(bare, 200)
        aggregator.close()
    return Figures(count, rate, floor_rate, p50, p99, floor_p50, floor_p99)


def rows(f: Figures) -> list[tuple[str, str, str, str]]:
    """(figure, value, limit, ratio) rows for `make bench`'s table."""
    n = f"{f.sounds:,} sounds"
    found = [
        (f"search: indexing, {n}, {BATCH} per commit with the cursor",
         f"{f.rate:,.0f} sounds/s", f"{f.floor_rate:,.0f}/s, one bare tantivy commit",
         f"{f.rate / f.floor_rate:.2f}"),
    ]  # fmt: skip
    for name, text in QUERIES.items():
        found.append(
            (f"search: query p50 | p99, {name} ({text!r}), {n}",
             f"{f.p50_ms[name]:.2f} | {f.p99_ms[name]:.2f} ms",
             f"{f.floor_p50_ms:.2f} | {f.floor_p99_ms:.2f} ms bare term query + fetch",
             f"{f.p50_ms[name] / f.floor_p50_ms:.1f}x")
        )  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="200,000 sounds")
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()[0]
    for figure, value, limit, ratio in rows(measure(full=args.full)):
        print(f"{figure}: {value}  [{limit}]  {ratio}")
    took, end = time.perf_counter() - started, os.getloadavg()[0]
    print(f"took {took:.0f} s; {os.cpu_count()} CPUs, 1-min load average {load:.1f} -> {end:.1f}")


if __name__ == "__main__":
    main()
