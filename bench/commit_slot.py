"""What the commit slot costs: single-row commits per second through it, by 1 and by 4
writers, beside 4 writers committing the same rows without it (what PostgreSQL's group commit
allows when nothing serializes the writers).

    python -m bench.commit_slot [--seconds S]

Each transaction does what `api.services.streams` does for a write of one kind, on a table of
its own: take the kind's advisory lock, read the newest id through the primary key, insert one
row above it, commit. Small commits show the slot's fixed cost; batches amortize it (see
bench/ingest.py). Nothing is asserted; it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

from api.db.engine import libpq_url
from api.services import ids
from bench.data import scratch_database

LOCK = 7316999  # not one of the API's own slots
SETUP = "CREATE TABLE IF NOT EXISTS bench_commit_slot (id uuid PRIMARY KEY, body text NOT NULL)"


async def _writer(url: str, *, slot: bool, until: float) -> int:
    connection = await asyncpg.connect(libpq_url(url))
    commits = 0
    try:
        while time.perf_counter() < until:
            async with connection.transaction():
                newest = None
                if slot:
                    await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
                    newest = await connection.fetchval(
                        "SELECT id FROM bench_commit_slot ORDER BY id DESC LIMIT 1"
                    )
                [new] = ids.mint(count=1, after=newest)
                await connection.execute("INSERT INTO bench_commit_slot VALUES ($1, 'x')", new)
            commits += 1
    finally:
        await connection.close()
    return commits


async def commits_per_second(url: str, *, writers: int, slot: bool, seconds: float) -> float:
    setup = await asyncpg.connect(libpq_url(url))
    try:
        await setup.execute(SETUP)
    finally:
        await setup.close()
    until = time.perf_counter() + seconds
    counts = await asyncio.gather(*(_writer(url, slot=slot, until=until) for _ in range(writers)))
    return sum(counts) / seconds


def measure(url: str, seconds: float = 3.0) -> dict[str, float]:
    return {
        "slot, 1 writer": asyncio.run(
            commits_per_second(url, writers=1, slot=True, seconds=seconds)
        ),
        "slot, 4 writers": asyncio.run(
            commits_per_second(url, writers=4, slot=True, seconds=seconds)
        ),
        "no slot, 4 writers": asyncio.run(
            commits_per_second(url, writers=4, slot=False, seconds=seconds)
        ),
    }


def rows(found: dict[str, float]) -> list[tuple[str, str, str, str]]:
    limit = found["no slot, 4 writers"]
    return [
        (
            f"commit slot: single-row commits, {name} (commits/s)",
            f"{rate:,.0f}/s",
            f"{limit:,.0f}/s 4 writers, no slot",
            f"{rate / limit:.2f}" if limit else "—",
        )
        for name, rate in found.items()
        if name != "no slot, 4 writers"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with scratch_database() as (url, where):
        found = measure(url, args.seconds)
    for name, rate in found.items():
        print(f"{name}: {rate:,.0f} commits/s")
    print(f"({where}; {args.seconds:g} s each)")


if __name__ == "__main__":
    main()
